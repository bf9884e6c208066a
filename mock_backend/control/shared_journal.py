"""The journal of processes that share a store (``--workers`` on Redis): one for all of them.

Each process journals the exchanges it answers as before (`Journal`: raw bytes, open streams,
the live feed's notifications), with ids drawn from a sequence in the store so no two processes
give one id twice; and every finished entry goes to the store as the control API shows it
(parsed, tokens redacted). A read through any process (`GET /__mock/journal`, a session's
timeline) gets every process's finished entries from the store, plus its own still open ones;
an exchange still going on in another process shows once it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..state.clock import Clock
from ..state.store import Store
from .journal import Entry, Journal, matching

__all__ = ["SharedJournal"]


class _StoreIds(Iterator[int]):
    """Entry ids from the store's sequence ``journal-ids``: 1, 2, ... across processes."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __next__(self) -> int:
        return self.store.next_count("journal-ids") + 1


class SharedJournal(Journal):
    def __init__(self, clock: Clock, store: Store, **options: Any) -> None:
        super().__init__(clock, **options)
        self.store = store
        self._ids = _StoreIds(store)

    def finished(self, entry: Entry) -> None:
        super().finished(entry)
        if entry.size >= 0:  # not let go (a reset while it was open)
            self.store.append_journal(entry.public(), limit=self.limit, max_bytes=self.max_bytes)

    def clear(self) -> None:
        super().clear()  # the store's entries and ids went with the store's clear
        self._ids = _StoreIds(self.store)

    def shown(self, **filters: Any) -> list[Entry | dict[str, Any]]:
        """Every process's finished entries and this one's open ones, as the control API shows
        them, oldest first, filtered as `Journal.query` filters."""
        finished = self.store.journal()
        done = {e["id"] for e in finished}
        open_here = [e.public() for e in self.entries() if e.real_end is None and e.id not in done]
        every = sorted([*finished, *open_here], key=lambda e: int(e["id"]))
        return [*matching(every, dict.get, **filters)]
