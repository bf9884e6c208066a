"""The encodes waiting for a worker: oldest first, except the one somebody is waiting for.

Every submitted render starts its encode in the background, so a client that polls 30 s apart
finds its file written. A fuzzer (or a busy CI mock) submits hundreds: first-come-first-served
would then make a download wait behind every encode queued before it, past any client's read
timeout (schemathesis's 60 s was seen to run out). `hurry` moves an encode that a poll or a
download waits for to the front, so its wait is its own encode and at most the ones running.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

__all__ = ["EncodeQueue"]


class EncodeQueue:
    """A small executor: ``workers`` threads, started on first use, over an ordered queue."""

    def __init__(self, workers: int, name: str = "nemo-render") -> None:
        self._workers = max(1, workers)
        self._name = name
        self._threads: list[threading.Thread] = []
        self._ready = threading.Condition()
        self._waiting: OrderedDict[str, tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]]
        self._waiting = OrderedDict()
        self._closed = False

    def submit(self, key: str, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Queue ``fn(*args)`` under ``key`` (a render id); its future, cancellable until it
        starts."""
        future: Future[Any] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the encode queue is closed")
            self._waiting[key] = (future, fn, args)
            if len(self._threads) < self._workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._ready.notify()
        return future

    def hurry(self, key: str) -> None:
        """Let the encode under ``key`` start next (nothing if it started or was never queued)."""
        with self._ready:
            if key in self._waiting:
                self._waiting.move_to_end(key, last=False)

    @property
    def queued(self) -> list[str]:
        """The keys still waiting for a worker, next first."""
        with self._ready:
            return list(self._waiting)

    def shutdown(self) -> None:
        """Cancel every encode that has not started; running ones are stopped by their owner."""
        with self._ready:
            self._closed = True
            for future, _, _ in self._waiting.values():
                future.cancel()
            self._waiting.clear()
            self._ready.notify_all()

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._waiting and not self._closed:
                    self._ready.wait()
                if not self._waiting:
                    return  # closed, and nothing left
                _, (future, fn, args) = self._waiting.popitem(last=False)
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while it waited
            try:
                result = fn(*args)
            except BaseException as exc:  # the future carries it to whoever waits
                future.set_exception(exc)
            else:
                future.set_result(result)
