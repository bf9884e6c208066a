"""`ClockNews`: the announcements of every clock of one Redis store and its namespaces, heard
by one listener in this process.

Each namespace of a mock on Redis has its own clock, whose changes are PUBLISHed on its
``clock`` channel (redis_store.py). A listener per namespace meant a pub/sub connection and a
thread each, every thread waking 20 times a second to look for news: a shared mock holding 100
namespaces kept 102 threads and 203 connections to Redis, and burned 9% of a core while idle
(measured 2026-12-03). Here one connection subscribes once to a pattern that covers the store's
channel and its namespaces' (``nemo:*clock`` for the default store), before its thread starts,
so that thread alone reads the connection; each message goes to the handlers of its channel.

The subscription is confirmed before the first handler is added, and a process reads a clock's
state after it starts to watch it (`ClockSync`), so no change is missed in between. When the
connection breaks, what was announced meanwhile is lost: every handler is then called once, so
every clock reads its state again, and redis-py subscribes again as it reconnects.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable

import redis

__all__ = ["ClockNews"]

_log = logging.getLogger("nemo_mock")
# the listener's longest wait on Redis: how soon it notices it should stop (news wakes it at once)
NEWS_WAIT_SECONDS = 0.25
_CONFIRMATIONS = 100  # replies read, at most, for the subscription's confirmation


class ClockNews:
    """One pub/sub listener for the clock channels matching ``pattern`` on ``client``'s Redis,
    started with the first handler (`watch`) and stopped with the last."""

    def __init__(self, client: redis.Redis, pattern: str) -> None:
        self.client = client
        self.pattern = pattern
        self._lock = threading.Lock()
        self._handlers: dict[str, dict[int, Callable[[], None]]] = {}  # channel -> id -> handler
        self._ids = itertools.count()
        self._stopped: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def watch(self, channel: str, handler: Callable[[], None]) -> Callable[[], None]:
        """Call ``handler`` (in the listener's thread) on each message of ``channel``; returns
        the function that stops it."""
        with self._lock:
            if self._thread is None:
                self._start()
            key = next(self._ids)
            self._handlers.setdefault(channel, {})[key] = handler

        def stop() -> None:
            with self._lock:
                handlers = self._handlers.get(channel, {})
                handlers.pop(key, None)
                if not handlers:
                    self._handlers.pop(channel, None)
                if self._handlers:
                    return
                stopped, thread = self._stopped, self._thread
                self._stopped = self._thread = None
            _halt(stopped, thread)

        return stop

    def close(self) -> None:
        """Stop listening, whatever handlers are left."""
        with self._lock:
            self._handlers.clear()
            stopped, thread = self._stopped, self._thread
            self._stopped = self._thread = None
        _halt(stopped, thread)

    def _start(self) -> None:
        pubsub = self.client.pubsub()  # type: ignore[no-untyped-call]
        try:
            pubsub.psubscribe(self.pattern)
            for _ in range(_CONFIRMATIONS):  # a bound on replies, not a timing
                reply = pubsub.get_message(timeout=NEWS_WAIT_SECONDS)
                if reply is not None and reply["type"] == "psubscribe":
                    break
            else:
                raise redis.ConnectionError(f"Redis did not confirm PSUBSCRIBE {self.pattern}")
        except BaseException:
            pubsub.close()
            raise
        stopped = threading.Event()
        thread = threading.Thread(
            target=self._listen, args=(pubsub, stopped), name="clock news", daemon=True
        )
        self._stopped, self._thread = stopped, thread
        thread.start()

    def _listen(self, pubsub: redis.client.PubSub, stopped: threading.Event) -> None:
        try:
            while not stopped.is_set():
                try:
                    message = pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=NEWS_WAIT_SECONDS
                    )
                except (redis.RedisError, OSError) as exc:
                    _log.warning("the clocks' news from Redis broke off (%s): reading them", exc)
                    stopped.wait(NEWS_WAIT_SECONDS)
                    self._tell(None)  # what was announced meanwhile is lost: every clock reads
                    continue
                if message is not None and message["type"] == "pmessage":
                    self._tell(message["channel"])
        finally:
            pubsub.close()

    def _tell(self, channel: str | None) -> None:
        """Call the handlers of ``channel``, or every handler (None)."""
        with self._lock:
            if channel is None:
                handlers = [h for found in self._handlers.values() for h in found.values()]
            else:
                handlers = list(self._handlers.get(channel, {}).values())
        for handler in handlers:
            try:
                handler()
            except Exception:  # one clock's failed read must not deafen the others
                _log.exception("a clock's state could not be read after its news")


def _halt(stopped: threading.Event | None, thread: threading.Thread | None) -> None:
    """End a listener taken off a `ClockNews` (outside its lock): it closes its connection."""
    if stopped is not None:
        stopped.set()
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout=10 * NEWS_WAIT_SECONDS)
