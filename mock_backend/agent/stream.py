"""The run engine: plays a `RunPlan` on the virtual clock and feeds the SSE bytes to a listener.

A `Run` is one asyncio task, independent of any listener. It fires the plan's steps at their
virtual times, applies each new draft through ``on_apply`` the moment its function response
fires, and calls ``on_finish`` exactly once at the end with a `RunOutcome` (completed, capped at
15 minutes, failed, or cancelled) so the caller can settle or release frozen credits. A client
disconnecting changes nothing for the run: the backend goes on server-side (v1.9).

While a listener is attached (`Run.listen`), it receives each event as its step fires and,
between steps, a heartbeat every ``heartbeat_every`` virtual seconds of silence (some of them,
chosen by the rng, an empty ``data:`` line instead). The stream ends by closing; there is no done
event. A listener that stops iterating (the client went away) is detached and its queue dropped;
while attached, its queue is bounded by what one 15-minute run can say (about 60 heartbeats plus
the plan's few events). Nothing outlives the run: no task, no timer, no queue.

`StreamFaults` script the failures a client must survive: heartbeats only for a while, a stall,
an event cut in half, a malformed ``data:`` line, a mid-stream error, and proxy-style buffering.

Give each run its own rng (for example ``randomness.draws("run", run_id)``): how many heartbeats
a run sends depends on timing, so sharing the agent's rng would let timing leak into later plans.
"""

from __future__ import annotations

import asyncio
import math
import string
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..state.clock import Clock
from ..state.randomness import Rng
from .events import (
    EMPTY_BYTES,
    HEARTBEAT_BYTES,
    EventBuilder,
    encode_event,
    encode_malformed,
)
from .planning import CallStep, EndStep, ResponseStep, RunPlan, TextStep
from .stream_config import (
    MAX_RUN_SECONDS,
    InvalidStreamConfig,
    StreamError,
    StreamFaults,
    StreamSettings,
)

__all__ = [
    "MAX_RUN_SECONDS",
    "READER_WAIT",
    "InvalidStreamConfig",
    "OutcomeStatus",
    "Run",
    "RunOutcome",
    "StreamError",
    "StreamFaults",
    "StreamSettings",
]

OutcomeStatus = Literal["completed", "capped", "failed", "cancelled"]
Draft = dict[str, Any]


@dataclass(frozen=True)
class RunOutcome:
    status: OutcomeStatus
    started_at: float  # virtual time
    ended_at: float
    applied: int  # drafts applied through on_apply
    error: str | None = None

    @property
    def elapsed(self) -> float:
        return self.ended_at - self.started_at


class _Listener:
    """A run's bytes on their way to one client. Thousands wait at once, so it holds no
    asyncio.Event and no deque (760 bytes each, empty): a list and a future made only while
    the reader waits."""

    __slots__ = ("buffered", "chunks", "closed", "held", "waiter")

    def __init__(self, buffered: bool) -> None:
        self.buffered = buffered
        self.chunks: list[bytes] = []  # a few at most: the reader takes each as it comes
        self.held: list[bytes] | None = None  # buffered fault: kept back until close
        self.closed = False
        self.waiter: asyncio.Future[None] | None = None

    def push(self, chunk: bytes) -> None:
        if self.closed:
            return
        if self.buffered:
            if self.held is None:
                self.held = []
            self.held.append(chunk)
            return
        self.chunks.append(chunk)
        self._wake()

    def close(self) -> None:
        if self.held:
            self.chunks.append(b"".join(self.held))
            self.held = None
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Until a chunk is pushed or the listener closed."""
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None


_ID_ALPHABET = string.ascii_letters + string.digits


# the code a stream's reader waits in: contract/skipping.py tells by it that a task waits for
# its run's next chunk, which only the run's own task (on the same loop) pushes
READER_WAIT = _Listener.wait.__code__


class Run:
    """One agent run. Create it, call `listen` (if a client waits), then `start`."""

    def __init__(
        self,
        plan: RunPlan,
        *,
        clock: Clock,
        rng: Rng,
        on_apply: Callable[[Draft], None] | None = None,
        on_finish: Callable[[RunOutcome], None] | None = None,
        settings: StreamSettings | None = None,
        faults: StreamFaults | None = None,
    ) -> None:
        self.plan = plan
        self.settings = settings or StreamSettings()
        self.faults = faults or StreamFaults()
        self.invocation_id = "e-" + str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self._clock = clock
        self._rng = rng
        self._on_apply = on_apply
        self._on_finish = on_finish
        self._builder = EventBuilder(self.settings.shape, self.invocation_id)
        self._listener: _Listener | None = None
        self._task: asyncio.Task[None] | None = None
        self._done: asyncio.Future[RunOutcome] | None = None
        self._running = False
        self._outcome: RunOutcome | None = None
        self._failure: Exception | None = None
        self._last_sent = 0.0
        self._applied = 0

    # --- public ------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is not None or self._outcome is not None:
            raise StreamError("this run has already been started")
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self._task = loop.create_task(self._main(), name=f"run {self.invocation_id}")
        self._task.add_done_callback(self._task_ended)

    @property
    def done(self) -> Awaitable[RunOutcome]:
        """Wait for the outcome; cancelling the waiter does not cancel the run. If ``on_apply``
        raised, awaiting re-raises that exception (the outcome says ``failed``)."""
        if self._done is None:
            if self._outcome is None:
                raise StreamError("the run has not been started")
            self._done = asyncio.get_running_loop().create_future()
            self._done.set_result(self._outcome)
        return asyncio.shield(self._done)

    @property
    def outcome(self) -> RunOutcome | None:
        return self._outcome

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def cancel(self) -> None:
        """Server shutdown: end now; ``on_finish`` reports ``cancelled``."""
        if self._outcome is not None:
            return
        if self._task is not None:
            self._task.cancel()
            if self._running:
                return  # _main reports the cancellation
        # Never started, or cancelled before its first step (when _main cannot run at all).
        now = self._clock.now()
        self._close_listener()
        self._finish(RunOutcome("cancelled", now, now, 0))

    def listen(self) -> AsyncGenerator[bytes, None]:
        """The stream's bytes from now on. Attaches at once, so call it before `start`."""
        if self._listener is not None:
            raise StreamError("a listener is already attached to this run")
        listener = _Listener(self.faults.buffered)
        if self._outcome is not None:
            listener.close()
        else:
            self._listener = listener
        return self._drain(listener)

    # --- listener side -------------------------------------------------------------------

    async def _drain(self, listener: _Listener) -> AsyncGenerator[bytes, None]:
        try:
            while True:
                if listener.chunks:
                    yield listener.chunks.pop(0)
                elif listener.closed:
                    return
                else:
                    await listener.wait()
        finally:
            # Closed or cancelled by the consumer (client disconnect): drop everything.
            self._detach(listener)
            listener.chunks.clear()
            listener.held = None

    def _detach(self, listener: _Listener) -> None:
        if self._listener is listener:
            self._listener = None

    def _send(self, chunk: bytes) -> None:
        self._last_sent = self._clock.now()
        if self._listener is not None:
            self._listener.push(chunk)

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    # --- the run -----------------------------------------------------------------------

    async def _main(self) -> None:
        self._running = True
        started = self._clock.now()
        self._last_sent = started
        status: OutcomeStatus = "failed"
        error: str | None = None
        try:
            status, error = await self._play(started)
        except asyncio.CancelledError:
            status = "cancelled"  # swallowed on purpose: the run is a top-level task
        except Exception as exc:  # on_apply raised: tell the client; `done` re-raises it
            self._failure = exc
            error = f"{type(exc).__name__}: {exc}"
            self._send(encode_event(self._builder.error("internal error")))
        finally:
            self._close_listener()
            self._finish(RunOutcome(status, started, self._clock.now(), self._applied, error))

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        # `done` resolves only once the task is over, so nothing is left when it returns.
        if self._done is None or self._done.done():
            return
        if self._failure is not None:
            self._done.set_exception(self._failure)
        elif self._outcome is not None:
            self._done.set_result(self._outcome)
        else:  # unreachable unless _main itself broke; never leave a waiter hanging
            self._done.set_exception(StreamError("the run ended without an outcome"))

    def _finish(self, outcome: RunOutcome) -> None:
        self._outcome = outcome
        on_finish, self._on_finish, self._on_apply = self._on_finish, None, None
        if on_finish is not None:  # exactly once; the callbacks are dropped with their closures
            on_finish(outcome)

    async def _play(self, started: float) -> tuple[OutcomeStatus, str | None]:
        faults = self.faults
        cap_at = started + self.settings.max_duration
        origin = started + faults.heartbeats_only_for
        stall_start = math.inf if faults.stall_after is None else started + faults.stall_after
        stall = (stall_start, stall_start + faults.stall_for)
        events = [s for s in self.plan.steps if not isinstance(s, EndStep)]
        last = len(events) - 1

        def index(value: int | None) -> int | None:
            return None if value is None else min(max(value, 0), last)

        cut_at, bad_at, error_at = (
            index(faults.cut_at_event),
            index(faults.malformed_at_event),
            index(faults.error_at_event),
        )
        # EndStep is always last, so enumerating the steps numbers the events.
        for number, step in enumerate(self.plan.steps):
            due = origin + step.at
            if due >= stall_start:
                due += faults.stall_for
            if due > cap_at:
                await self._wait_until(cap_at, stall)
                return "capped", None
            await self._wait_until(due, stall)
            if isinstance(step, EndStep):
                return "completed", None
            if number == error_at:
                self._send(encode_event(self._builder.error(faults.error_message)))
                return "failed", faults.error_message
            if number == bad_at:
                self._send(encode_malformed())
            chunk = self._fire(step)
            if number == cut_at:
                self._send(chunk[: len(chunk) // 2])
                self._close_listener()
            else:
                self._send(chunk)
        return "completed", None

    def _fire(self, step: TextStep | CallStep | ResponseStep) -> bytes:
        event_id, now, build = self._new_id(), self._clock.now(), self._builder
        if isinstance(step, TextStep):
            return encode_event(build.text(step.text, event_id=event_id, timestamp=now))
        if isinstance(step, CallStep):
            event = build.call(step.call_id, step.name, step.args, event_id=event_id, timestamp=now)
            return encode_event(event)
        if self._on_apply is not None:
            self._on_apply(step.draft)
        self._applied += 1
        event = build.response(
            step.call_id, step.name, step.response, event_id=event_id, timestamp=now
        )
        return encode_event(event)

    def _new_id(self) -> str:
        return "".join(self._rng.choices(_ID_ALPHABET, k=8))

    async def _wait_until(self, deadline: float, stall: tuple[float, float]) -> None:
        """Sleep until ``deadline``, sending heartbeats after each quiet spell (none in a stall)."""
        every = self.settings.heartbeat_every
        stall_start, stall_end = stall
        while True:
            now = self._clock.now()
            if now >= deadline:
                return
            beat = self._last_sent + every
            if stall_start <= now < stall_end or stall_start <= beat < stall_end:
                beat = max(beat, stall_end)
            if beat <= now:
                empty = self._rng.random() < self.settings.empty_line_probability
                self._send(EMPTY_BYTES if empty else HEARTBEAT_BYTES)
                continue
            await self._clock.sleep(min(deadline, beat) - now)
