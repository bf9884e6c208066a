"""The journal's live readers: what each is owed, bounded.

A reader is told which entries changed, not what they became: it reads them itself when it
is ready, so an entry that changes a thousand times while it waits is one id (in the place of
its latest change), and a reader that is slow or gone costs at most ``limit`` ids (the oldest
are forgotten and counted, and the reader says so and reloads). Telling never blocks and works
from any thread.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from ..errors import MockBackendError

__all__ = ["MAX_SUBSCRIBERS", "Changes", "Subscriber", "TooManySubscribers"]

MAX_SUBSCRIBERS = 16


class TooManySubscribers(MockBackendError):
    """Every live-feed place is taken."""


@dataclass
class Changes:
    """What a subscriber was owed since it last looked."""

    ids: list[int]  # entries that changed, in the order of their latest change
    dropped: int  # changes forgotten because the reader fell behind
    cleared: bool  # the journal was emptied (a reset) before these ids
    ended: bool = False  # the server is stopping: the reader should end


class Subscriber:
    """The ids of the entries that changed since the reader last looked: at most ``limit``
    (the oldest are forgotten and counted). Told from any thread; read in its own loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self._loop = loop
        self.limit = limit
        self._changed: dict[int, None] = {}  # an ordered set: one id changing often is one
        self._dropped = 0
        self._cleared = False
        self._ended = False
        self._wake = asyncio.Event()
        self._lock = threading.Lock()

    def touch(self, entry_id: int) -> None:
        with self._lock:
            if entry_id in self._changed:
                # already owed (the reader reads the entry as it is then): moved to its latest
                # change, so a journal's finished entries come in the order they finished
                del self._changed[entry_id]
            elif len(self._changed) >= self.limit:
                del self._changed[next(iter(self._changed))]
                self._dropped += 1
            self._changed[entry_id] = None
        self._signal()

    def missed(self, count: int = 1) -> None:
        """Changes were lost on their way here (the reader should reload): counted as dropped."""
        with self._lock:
            self._dropped += count
        self._signal()

    def clear(self) -> None:
        with self._lock:
            self._changed.clear()
            self._cleared = True
        self._signal()

    def end(self) -> None:
        self._ended = True
        self._signal()

    def _signal(self) -> None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wake.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def changes(self) -> Changes:
        """Wait until something changed, then take all that did."""
        await self._wake.wait()
        self._wake.clear()
        with self._lock:
            owed = Changes(list(self._changed), self._dropped, self._cleared, self._ended)
            self._changed.clear()
            self._dropped, self._cleared = 0, False
        return owed
