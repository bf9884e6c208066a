"""A manual clock that the processes sharing a store move together (``--workers`` on Redis).

`POST /__mock/clock` through any process adds its seconds to a total kept in the store and
announces the new total (`Store.move_clock`); every process applies the moves it has not applied
yet to its own `Clock`, on the announcement (a thread listening to the store, so a stream
waiting on virtual time in another process wakes at once) and before each request it answers
(so a request right after a move, through another process, sees the moved clock). Moves only
add up, so applying the difference between the store's total and what was applied here is
enough, in whatever order announcements arrive.
"""

from __future__ import annotations

import threading

from .clock import Clock
from .store import Store

__all__ = ["ClockSync"]


class ClockSync:
    def __init__(self, clock: Clock, store: Store) -> None:
        self.clock = clock
        self.store = store
        self._applied = 0.0  # the store's total of moves this clock has had
        self._lock = threading.Lock()
        self._stop = store.watch_clock(self.catch_up)
        self.catch_up()

    def catch_up(self, total: float | None = None) -> None:
        """Apply the moves made through other processes (``total``: the store's, if known)."""
        if total is None:
            total = self.store.clock_moves()
        with self._lock:
            if total > self._applied:
                self.clock.advance(total - self._applied)
                self._applied = total

    def move(self, seconds: float) -> None:
        """Move every process's clock by ``seconds``: this one at once, the others on the
        announcement or their next request."""
        self.catch_up(self.store.move_clock(seconds))

    def close(self) -> None:
        self._stop()
