"""One virtual time for the processes that share a store (``--workers`` on Redis).

Each process keeps its own `Clock`, anchored alike (web/workers.py), and a `ClockSync` that
keeps what changes a clock besides the passing of time in the store, as one `ClockState`:

- moves: `POST /__mock/clock` through any process adds its seconds to the store's total;
- holds: virtual time stops while real work it depends on runs (an encode a download waits
  for, an upload being probed; see `Clock.held`). A hold in one process stops every process's
  time, where the first hold began, and when the last ends the seconds held are taken off all
  of them: a render encoded by one worker does not let another's time run ahead of it.

Each change bumps the state's version and is announced; every process takes the newest state it
has seen (`Clock.follow`) on the announcement (a thread listening to the store, so a stream
waiting on virtual time in another process wakes at once). A manual clock also takes it before
each request (`before_request`), so a request right after a move, through another process, sees
it: a manual clock moves only when told, and a test that moves it expects the next answer to
know. A running clock spares every request that round trip (GET credits on one worker on
Redis: 1,158 -> 1,303 a second, `benchmarks/bench_workers.py`): its changes arrive with the
announcement, a millisecond or so later. A state older than one taken already is ignored, in
whatever order announcements arrive.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from .clock import Clock
from .store import ClockState, Store

__all__ = ["ClockSync"]


class ClockSync:
    def __init__(self, clock: Clock, store: Store) -> None:
        self.clock = clock
        self.store = store
        self._version = -1  # the newest state taken
        self._lock = threading.Lock()
        clock.sync = self  # the clock's holds are every process's from now on
        self._stop = store.watch_clock(self.take)
        self.catch_up()

    def take(self, state: ClockState) -> None:
        """Set the clock to ``state``, unless a newer one was taken already."""
        with self._lock:
            if state.version <= self._version:
                return
            self._version = state.version
            self.clock.follow(state.moves - state.taken, state.held_at if state.holds else None)

    def catch_up(self) -> None:
        """Take the store's state: what other processes changed, seen at once."""
        self.take(self.store.clock_state())

    def before_request(self) -> None:
        """A manual clock catches up before each request a process answers (see above)."""
        if self.clock.rate is None:
            self.catch_up()

    def move(self, seconds: float) -> None:
        """Move every process's clock by ``seconds``: this one at once, the others on the
        announcement or their next request."""
        self.take(self.store.move_clock(seconds))

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Stop every process's virtual time while the block runs (`Clock.held`)."""
        rate = self.clock.rate
        if rate is None:  # a manual clock moves only when told: nothing to stop
            yield
            return
        self.take(self.store.hold_clock(self.clock.now(), self.clock.wall()))
        try:
            yield
        finally:
            self.take(self.store.release_clock(self.clock.wall(), rate))

    def close(self) -> None:
        self._stop()
        self.clock.sync = None
