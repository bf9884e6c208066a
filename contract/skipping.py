"""Skipping the virtual time in which only the clock could act, for a client run in-process.

On a clock scaled N times, a 600 s stream still takes 600/N s of wall time, though for nearly all
of it the client waits for a line and the mock waits for its next heartbeat timer: nothing but
the clock can make anything happen. In-process the suite sees both sides, so it can move the
mock's clock straight to the next timer then, as a discrete-event simulation does, and the wait
costs no wall time at all.

A jump is made only when the whole scenario is provably idle, at one instant on the mock's event
loop (nothing else runs on it meanwhile):

- the client is idle: asleep on the clock the suite gave it (until a virtual deadline), or
  blocked on a call of the mock that is already in the loop (a response or its next chunk);
- nothing on the loop is runnable, and every task waits either on a `Clock.sleep` timer or on
  an in-loop primitive (an `asyncio.Event`, `Condition` or `Queue`), which only another task of
  the loop can release: a task waiting on anything else (a thread, an encode, a wall-time timer,
  a task not started yet) is real work, and time must not outrun it;
- the clock is not held (a hold is real work that virtual time waits for).

The clock then moves to the earliest of the timers' deadlines and the client's, never past it.
Between jumps it runs at its scale as before, so whatever is real work (the client's, the
mock's, an encode) costs exactly the virtual time it did, and `contract.timing` measures it the
same way: the verdicts cannot tell a skipped wait from a waited one. If anything is unknown the
jump is not made, and the run is merely as slow as without skipping.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any, Literal

from mock_backend.agent.stream import READER_WAIT
from mock_backend.state.clock import Clock

__all__ = ["Skipper"]

# how often (wall seconds) an idle client's mock is looked at again while something in it works
POLL = 0.002
# coroutine frames that wait on something only another task of the same loop can release
_IN_LOOP_WAITS = frozenset(
    {
        asyncio.Event.wait.__code__,
        asyncio.Condition.wait.__code__,
        asyncio.Queue.get.__code__,
        asyncio.Queue.put.__code__,
        READER_WAIT,  # a stream's reader waiting for its run's next chunk
    }
)
_CLOCK_WAIT = Clock.sleep.__code__
_PORTAL_CALL = "BlockingPortal._call_func"  # a call the client thread made into the loop

State = Literal["working", "sleeping", "waiting"]


class Skipper:
    """Moves ``clock`` to its next deadline whenever the client and the mock both only wait.

    The client thread reports its state (`sleep_until`, `waiting`); `run` is the loop side, a
    coroutine on the mock's event loop started with `start` and ended with `stop`."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.skipped = 0.0  # virtual seconds jumped over in all
        self._state: State = "working"
        self._until = 0.0  # the client's virtual deadline while it sleeps
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poke: asyncio.Event | None = None
        self._stopped = False
        self._thread: threading.Thread | None = None

    # -- the client's side --------------------------------------------------------------------

    def sleep_until(self, deadline: float) -> float:
        """Block the client thread until the clock reads ``deadline``; returns the virtual
        seconds of that wait that were skipped (the rest passed at the clock's rate)."""
        rate = self.clock.rate or 1.0
        with self._cond:
            before = self.skipped
            self._until, self._state = deadline, "sleeping"
        self._nudge()
        with self._cond:
            try:
                while (remaining := deadline - self.clock.now()) > 0:
                    self._cond.wait(remaining / rate)
                return self.skipped - before
            finally:  # under the same hold of the lock: no jump once the client is awake
                self._state = "working"

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """The client thread blocks on the mock (a response, a chunk) inside this block."""
        with self._cond:
            self._state = "waiting"
        self._nudge()
        try:
            yield
        finally:
            with self._cond:
                self._state = "working"

    def _nudge(self) -> None:
        loop, poke = self._loop, self._poke
        if loop is not None and poke is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(poke.set)

    # -- the loop's side ----------------------------------------------------------------------

    def start(self, call: Callable[[Callable[[], Any]], Any]) -> None:
        """Run `run` on the mock's loop through ``call`` (a blocking portal's call), in a thread
        of its own until `stop`."""
        started = threading.Event()

        def host() -> None:
            with contextlib.suppress(Exception):  # no skipping then: the run is only slower
                call(lambda: self.run(started))
            started.set()

        self._thread = threading.Thread(target=host, name="skipper", daemon=True)
        self._thread.start()
        started.wait()

    def stop(self) -> None:
        self._stopped = True
        self._nudge()
        if self._thread is not None:
            self._thread.join()

    async def run(self, started: threading.Event) -> None:
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        self._poke = asyncio.Event()
        self._loop = loop
        started.set()
        while not self._stopped:
            self._poke.clear()
            if self._state == "working":
                await self._poke.wait()
                continue
            target = await self._next_deadline(loop, me)
            with self._cond:
                now = self.clock.now()
                jump = target is not None and target > now and not self.clock.holding
                if jump and target is not None and self._client_idle():
                    self.clock.advance(target - now)
                    self.skipped += target - now
                    self._cond.notify_all()
            if jump:
                await asyncio.sleep(0)  # let the woken run, then look again
                continue
            # something works, nothing is due, or a deadline has just passed and its own timer
            # is about to fire: look again soon, without spinning
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL):
                    await self._poke.wait()

    def _client_idle(self) -> bool:
        return self._state != "working"  # read again: the client thread may have moved on

    async def _next_deadline(
        self, loop: asyncio.AbstractEventLoop, me: asyncio.Task[Any] | None
    ) -> float | None:
        """The virtual time to jump to, if the scenario is idle now; else None."""
        for _ in range(100):  # let whatever is runnable run first
            ready = getattr(loop, "_ready", None)
            if ready is None:
                return None  # not an event loop whose idleness can be seen: never skip
            if not ready:
                break
            await asyncio.sleep(0)
        else:
            return None
        if self.clock.holding:
            return None
        client_call = False
        for task in asyncio.all_tasks(loop):
            if task is me or task.done():
                continue
            frames = _frames(task)
            if not frames or (frames[-1] not in _IN_LOOP_WAITS and frames[-1] is not _CLOCK_WAIT):
                return None  # running, ready, or waiting on real work
            client_call = client_call or any(f.co_qualname == _PORTAL_CALL for f in frames)
        with self._cond:
            state, until = self._state, self._until
        if state == "working" or (state == "waiting" and not client_call):
            return None  # the client's call has not reached the loop yet
        deadlines = [d for d, future in self.clock.waits(loop) if not future.done()]
        if state == "sleeping":
            deadlines.append(until)
        return min(deadlines, default=None)


def _frames(task: asyncio.Task[Any]) -> list[types.CodeType]:
    """The code of each coroutine (and async generator) ``task`` is inside, outermost first,
    down to the innermost one awaiting a future; empty if it is not waiting on one."""
    frames: list[types.CodeType] = []
    awaited: Any = task.get_coro()
    for _ in range(200):
        if isinstance(awaited, types.CoroutineType):
            frames.append(awaited.cr_code)
            awaited = awaited.cr_await
        elif isinstance(awaited, types.AsyncGeneratorType):
            frames.append(awaited.ag_code)
            awaited = awaited.ag_await
        elif isinstance(awaited, types.GeneratorType):
            frames.append(awaited.gi_code)
            awaited = awaited.gi_yieldfrom
        elif type(awaited).__name__ in ("async_generator_asend", "async_generator_athrow"):
            # `async for` over a generator: its frame is reachable only through the referents
            inner = [
                g for g in gc.get_referents(awaited) if isinstance(g, types.AsyncGeneratorType)
            ]
            if not inner:
                return []
            awaited = inner[0]
        elif isinstance(awaited, asyncio.Future) or type(awaited).__name__ == "FutureIter":
            return frames
        else:
            return []
    return []
