"""One clock for everything time-dependent in the mock.

Every expiry, render step, heartbeat and stream timeout reads `Clock.now()` and waits with
`Clock.sleep()`. Three modes share one implementation:

- ``real``: virtual time runs at wall speed;
- ``scaled:N``: virtual time runs N times faster than wall time (a 30 s render poll takes
  30/N s of wall time);
- ``manual``: virtual time moves only when `advance()` is called.

`advance()` works in every mode (it adds an offset), and wakes every sleeper whose virtual
deadline has passed, so a test can jump seven days ahead in one call.

Processes that share a store (``--workers`` on Redis) keep one virtual time: a `ClockSync`
(clock_sync.py) takes over the clock's holds and moves and sets what they add up to with
`follow`. Virtual time never goes back: a reading is never less than one before it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import threading
import time
from collections.abc import Iterator
from typing import Protocol

from ..errors import MockBackendError

__all__ = ["Clock", "ClockError", "check_advance", "parse_clock"]

# Virtual time starts here unless told otherwise: a fixed instant, so that two runs with the same
# seed produce the same timestamps on a manual clock.
DEFAULT_EPOCH = 1_790_000_000.0
# Virtual time never passes 3000-01-01: every timestamp the mock writes (ISO dates, token
# expiries, render ids) stays representable, so no advance can leave it answering 500s
LATEST = 32_503_680_000.0
# Held spans remembered (a few per render poll, download or upload): enough for any scenario
HELD_SPANS_KEPT = 10_000


class ClockError(MockBackendError, ValueError):
    """A clock specification that cannot be understood."""


class _Sleeper:
    __slots__ = ("deadline", "future", "loop")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[None], deadline: float
    ) -> None:
        self.loop = loop
        self.future = future
        self.deadline = deadline  # virtual time


class Holds(Protocol):
    """Holds shared by the processes of one mock (`ClockSync`)."""

    def held(self) -> contextlib.AbstractContextManager[None]: ...


class Clock:
    """Virtual time. ``rate`` is virtual seconds per wall second; ``None`` means manual."""

    def __init__(
        self,
        rate: float | None = 1.0,
        *,
        epoch: float | None = None,
        started_at: float | None = None,
    ) -> None:
        """``started_at``: the wall time (time.time) at which virtual time was ``epoch``, for
        clocks in several processes that must read alike (``--workers``); default: now."""
        if rate is not None and not (math.isfinite(rate) and rate > 0):
            raise ClockError(f"clock rate must be a positive finite number, got {rate}")
        self.rate = rate
        self._lock = threading.Lock()
        self._wall_start = time.monotonic()
        # time.time() - time.monotonic(): wall time from the same reading as virtual time
        self._wall_offset = time.time() - self._wall_start
        # a manual clock starts at a fixed instant (reproducible timestamps); a running one at
        # the wall time, so it agrees with the clocks of clients in other processes
        if epoch is None:
            epoch = DEFAULT_EPOCH if rate is None else time.time()
        self._virtual_start = epoch
        if started_at is not None and rate is not None:  # as if made at started_at
            self._virtual_start += (self._wall_start + self._wall_offset - started_at) * rate
        self._offset = 0.0
        # shared by the processes of one mock (`follow`): seconds moved, less held, in all;
        # where their time stands still while one of them holds it
        self._shared = 0.0
        self._shared_held: float | None = None
        self.sync: Holds | None = None  # a ClockSync, once one takes the holds over
        self._floor = -math.inf  # the latest reading: time never goes back
        self._holds = 0
        self._held_at: float | None = None  # virtual time stopped there while work is held
        self._held_since = 0.0  # wall time (time.time) the outermost hold began
        # wall-time (time.time) spans virtual time stood still, newest last: the suite takes
        # them out of a client's measured work (they show in no virtual gap)
        self.held_spans: collections.deque[tuple[float, float]] = collections.deque(
            maxlen=HELD_SPANS_KEPT
        )
        self._sleepers: set[_Sleeper] = set()
        # the latest any timed sleep woke, in virtual seconds: the machine's scheduling lag times
        # the rate; the compatibility suite counts it as noise in its timing verdicts
        self.lateness = 0.0

    @property
    def mode(self) -> str:
        if self.rate is None:
            return "manual"
        if self.rate == 1.0:
            return "real"
        return f"scaled:{self.rate:g}"

    def now(self) -> float:
        """Virtual seconds since the Unix epoch (lock-free: ``_offset`` is one float, and a
        read races an `advance` only by returning the time just before it)."""
        return self._now_locked()

    def stamp(self) -> tuple[float, float]:
        """(wall, virtual) of one instant, both from one reading of the monotonic clock.

        Reading them one after the other is not one instant: another thread may run in between
        (5 ms on a busy machine), and at 1000x 5 ms is 5 virtual seconds; the suite's timing
        verdicts set the two against each other."""
        reading = time.monotonic()
        return reading + self._wall_offset, self._virtual_at(reading)

    def wall(self) -> float:
        """Wall time (seconds since the Unix epoch) on the same base as `stamp`."""
        return time.monotonic() + self._wall_offset

    def _virtual_at(self, reading: float) -> float:
        held = self._held_at
        if held is None:
            held = self._shared_held
        virtual = self._raw(reading) if held is None else held
        if virtual < self._floor:  # (a hold another process began a moment ago, here later)
            return self._floor
        self._floor = virtual
        return virtual

    def _raw(self, reading: float) -> float:
        elapsed = 0.0 if self.rate is None else (reading - self._wall_start) * self.rate
        return self._virtual_start + elapsed + self._offset + self._shared

    def _now_locked(self) -> float:
        return self._virtual_at(time.monotonic())

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Stop virtual time while real work it depends on runs (an encode a download waits
        for, an upload being probed): at 10,000x, one second of encoding would otherwise be
        three virtual hours. Holds nest and may overlap; time moves on when the last ends, from
        where it stopped. `advance` still moves a held clock. With a `sync`, the hold is every
        process's (the span is remembered here, where the work ran)."""
        if self.sync is not None:
            since = self.wall()
            with self.sync.held():
                yield
            if self.rate is not None:
                with self._lock:
                    self.held_spans.append((since, self.wall()))
            return
        with self._lock:
            if self._holds == 0 and self.rate is not None:
                # the span's edges and the instants time stopped and went on are one reading
                # each: a thread switch between two readings (tens of microseconds on a busy
                # machine, times the rate) would show in the suite's timing as client work
                reading = time.monotonic()
                self._held_at = self._virtual_at(reading)
                self._held_since = reading + self._wall_offset
            self._holds += 1
        try:
            yield
        finally:
            with self._lock:
                self._holds -= 1
                if self._holds == 0 and self._held_at is not None:
                    reading = time.monotonic()
                    # the offset first: a reader (unlocked) never sees time jump ahead between
                    self._offset -= self._raw(reading) - self._held_at
                    self._held_at = None
                    self.held_spans.append((self._held_since, reading + self._wall_offset))

    def held_since(self, wall: float) -> list[tuple[float, float]]:
        """The wall-time spans (``time.time``) virtual time stood still, from ``wall`` on."""
        with self._lock:
            return [(s, e) for s, e in self.held_spans if e >= wall]

    def advance(self, seconds: float) -> float:
        """Move virtual time forward; returns the new virtual time."""
        with self._lock:
            check_advance(self, seconds, now=self._now_locked())
            self._offset += seconds
            if self._held_at is not None:
                self._held_at += seconds
            now = self._now_locked()
            sleepers = list(self._sleepers)
        for sleeper in sleepers:  # each re-checks its own deadline and sleeps on if early
            _wake(sleeper)
        return now

    def follow(self, shared: float, held_at: float | None) -> None:
        """Take what the processes sharing this clock's time agreed (`ClockSync`): ``shared``
        seconds moved less seconds held, in all, and, while one of them holds it, where time
        stands still. Wakes the sleepers, whose deadlines may have come."""
        with self._lock:
            self._shared = shared
            self._shared_held = held_at
            sleepers = list(self._sleepers)
        for sleeper in sleepers:
            _wake(sleeper)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of virtual time (woken early by `advance`).

        One future and one timer per wait: thousands of streams sleep at once, so nothing here
        may cost more than O(1) per sleeper.
        """
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        deadline = self.now() + seconds
        while (remaining := deadline - self.now()) > 0:
            sleeper = _Sleeper(loop, loop.create_future(), deadline)
            with self._lock:
                self._sleepers.add(sleeper)
            timer = None
            if self.rate is not None:
                timer = loop.call_later(remaining / self.rate, _settle, sleeper.future)
            try:
                await sleeper.future
            finally:
                if timer is not None:
                    timer.cancel()
                with self._lock:
                    self._sleepers.discard(sleeper)
        if self.rate is not None:
            self.lateness = max(self.lateness, -remaining)

    def pending_sleepers(self) -> int:
        with self._lock:
            return len(self._sleepers)

    def waits(self, loop: asyncio.AbstractEventLoop) -> list[tuple[float, asyncio.Future[None]]]:
        """(virtual deadline, future) of every `sleep` waiting on ``loop``: what can happen next
        in it by the clock alone."""
        with self._lock:
            return [(s.deadline, s.future) for s in self._sleepers if s.loop is loop]

    @property
    def holding(self) -> bool:
        """Virtual time stands still while real work runs (see `held`), here or, for clocks
        shared by processes, in another of them (`follow`)."""
        return self._holds > 0 or self._shared_held is not None

    def describe(self) -> dict[str, object]:
        return {"mode": self.mode, "now": self.now(), "rate": self.rate}


def check_advance(clock: Clock, seconds: float, *, now: float | None = None) -> None:
    """`ClockError` unless ``clock`` may move forward by ``seconds``."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ClockError(
            f"the clock moves forward by a finite number of seconds; cannot advance by {seconds}"
        )
    if (clock.now() if now is None else now) + seconds > LATEST:
        raise ClockError(
            f"advancing by {seconds:g} s would pass 3000-01-01, beyond which timestamps "
            "cannot be written; advance less, or POST /__mock/reset to start over"
        )


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _wake(sleeper: _Sleeper) -> None:
    if sleeper.loop.is_closed():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is sleeper.loop:
        _settle(sleeper.future)
    else:
        sleeper.loop.call_soon_threadsafe(_settle, sleeper.future)


def parse_clock(spec: str, *, epoch: float | None = None, started_at: float | None = None) -> Clock:
    """``real``, ``manual`` or ``scaled:N`` (N > 0) → a `Clock`."""
    text = spec.strip().lower()
    if text == "real":
        return Clock(1.0, epoch=epoch, started_at=started_at)
    if text == "manual":
        return Clock(None, epoch=epoch)
    if text.startswith("scaled:"):
        try:
            rate = float(text.removeprefix("scaled:"))
        except ValueError:
            raise ClockError(
                f"scaled clock needs a number, as in scaled:100; got {spec!r}"
            ) from None
        return Clock(rate, epoch=epoch, started_at=started_at)
    raise ClockError(
        f"unknown clock {spec!r}: use real, manual or scaled:N (for example scaled:100)"
    )
