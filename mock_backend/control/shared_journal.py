"""The journal of processes that share a store (``--workers`` on Redis): one for all of them.

Each process journals the exchanges it answers as before (`Journal`: raw bytes, open streams),
with ids drawn from a sequence in the store so no two processes give one id twice; and every
finished entry goes to the store as the control API shows it (parsed, tokens redacted). A read
through any process (`GET /__mock/journal`, a session's timeline) gets every process's finished
entries from the store, plus its own still open ones; an exchange still going on in another
process shows once it ends.

The live feed follows every process too. The store announces each entry it keeps, in the order
it keeps them, and each emptying of the journal (`Store.watch_journal`); while a process has
live readers it watches those announcements (one listener thread per journal, started by its
first reader and stopped with its last), keeps the JSON of the last entries announced, and
tells its readers. So a reader is told of a finished entry by the announcement only, its own
process's entries included: every reader, on every process, gets the finished entries in the
order the store kept them, each once. What only this process can see, its own entries while
they are open (started, answered, streaming), it tells its readers directly, as `Journal` does.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from ..state.clock import Clock
from ..state.store import JournalNews, Store
from .journal import Entry, Journal, matching
from .subscribers import Subscriber

__all__ = ["SharedJournal"]

# the announced entries kept for this process's readers: as many as a reader may be owed, and
# no more than this much JSON (an owed entry gone for it is counted as dropped to its reader)
ANNOUNCED_BYTES = 16 * 1024 * 1024


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
        self._announced: OrderedDict[int, str] = OrderedDict()  # id -> JSON, oldest first
        self._announced_bytes = 0
        self._watch_lock = threading.Lock()  # starting and stopping the watcher
        self._stop_watching: Callable[[], None] | None = None
        self._watching = 0  # which watcher is current: a stopped one's late news is ignored

    def subscribe(self, limit: int = 1000) -> Subscriber:
        subscriber = super().subscribe(limit)
        try:
            with self._watch_lock:
                if self._stop_watching is None:
                    with self._lock:
                        self._watching += 1
                        watching = self._watching
                    self._stop_watching = self.store.watch_journal(
                        lambda news: self._hear(watching, news)
                    )
        except BaseException:
            super().unsubscribe(subscriber)
            raise
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        super().unsubscribe(subscriber)
        with self._watch_lock:
            with self._lock:
                if self._subscribers:
                    return
                self._announced.clear()
                self._announced_bytes = 0
            self._stop()

    def close(self) -> None:
        with self._watch_lock:
            self._stop()

    def _stop(self) -> None:
        if self._stop_watching is not None:
            self._stop_watching()
            self._stop_watching = None
            with self._lock:
                self._watching += 1

    def _hear(self, watching: int, news: JournalNews) -> None:
        """The store's news (from the watcher's thread), passed on to this process's readers."""
        with self._lock:
            if watching != self._watching or not self._subscribers:
                return
            subscribers = self._subscribers[:]
            if news.kind == "entry":
                self._announced[news.entry_id] = news.text
                self._announced_bytes += len(news.text)
                most = max(s.limit for s in subscribers)
                while len(self._announced) > 1 and (
                    len(self._announced) > most or self._announced_bytes > ANNOUNCED_BYTES
                ):
                    self._announced_bytes -= len(self._announced.popitem(last=False)[1])
            elif news.kind == "cleared":
                self._announced.clear()
                self._announced_bytes = 0
        for subscriber in subscribers:
            if news.kind == "entry":
                subscriber.touch(news.entry_id)
            elif news.kind == "cleared":
                subscriber.clear()
            else:
                subscriber.missed()

    def finished(self, entry: Entry) -> None:
        # the readers are told by the store's announcement, in the order the store keeps entries
        if self._count(entry):  # not let go (a reset while it was open)
            self.store.append_journal(entry.public(), limit=self.limit, max_bytes=self.max_bytes)

    def clear(self) -> None:
        # the store's entries and ids went with the store's clear, which told every reader
        self._forget()
        self._ids = _StoreIds(self.store)

    def shown(self, **filters: Any) -> list[Entry | dict[str, Any]]:
        """Every process's finished entries and this one's open ones, as the control API shows
        them, oldest first, filtered as `Journal.query` filters."""
        return [*matching(self._with_open(self.store.journal()), dict.get, **filters)]

    def recent(self, count: int) -> list[Entry | dict[str, Any]]:
        """The last ``count`` of every process's finished entries and this one's open ones,
        shown, oldest first."""
        if count <= 0:
            return []
        return [*self._with_open(self.store.journal(last=count))[-count:]]

    def _with_open(self, finished: list[dict[str, Any]]) -> list[dict[str, Any]]:
        done = {e["id"] for e in finished}
        shown = (e.public() for e in self.entries() if e.real_end is None and e.id not in done)
        # one that finished while it was written out is left out: it is in the store, or on
        # its way (and announced), as it finished
        open_here = [e for e in shown if e["real_end"] is None]
        return sorted([*finished, *open_here], key=lambda e: int(e["id"]))

    def changes(self, ids: list[int]) -> tuple[list[Entry | dict[str, Any]], int]:
        """In the order owed: an announced entry as the store kept it; one of this process's
        still open as it is now; one that finished here and is not announced yet, not now
        (its announcement follows). An announced entry no longer kept here counts as gone."""
        local = {e.id: e for e in self.query(ids=ids)}
        with self._lock:
            announced = {i: self._announced[i] for i in ids if i in self._announced}
        shown: list[Entry | dict[str, Any]] = []
        gone = 0
        for entry_id in ids:
            if entry_id in announced:
                shown.append(json.loads(announced[entry_id]))
            elif entry_id in local:
                # shown as it is now: one that finishes meanwhile (in another thread) is left
                # out, as its announcement follows
                form = local[entry_id].public()
                if form["real_end"] is None:
                    shown.append(form)
            else:
                gone += 1
        return shown, gone
