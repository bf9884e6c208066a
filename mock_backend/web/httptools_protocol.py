"""uvicorn's httptools protocol, guarded as connections.py describes.

httptools (llhttp) keeps a head it has not finished parsing in its own buffers and bounds
neither its size nor the time it takes. So the bytes received while a head is being read are
counted here: past ``header_bytes`` the connection is answered 431, whatever piece the head
is in (a head that arrives whole is measured exactly by `RequestLimits`). The count begins
when the previous message ended, so a chunk that carries one message's end and the next one's
start is counted from the next chunk on: a head may hold at most one read past the limit
before it is refused.

What llhttp refuses (a malformed line, a target that is not ASCII, a bad header) answers 400
as the envelope; uvicorn's own answer is plain text.

A connection holding an event stream is held for minutes, ten thousand at once, so what each
holds counts: uvicorn's two asyncio.Events and its pipeline deque (each with a 760-byte deque,
empty) are swapped for `LeanEvent` and a list, and the guard's state is one attribute (a 29th:
past 30, Python gives up the instance's compact key-sharing dict, 296 bytes, for a 1.6 KB one).

uvicorn writes a response's head and its body with two writes, so two ``send`` calls of the
kernel and two TCP segments for every answer that fits in one. A response of known length
(``Content-Length``: every JSON answer) is written once here: `HeadCork` stands in for the
transport of each new request's cycle, keeps the head until the body's first bytes come (right
after it, from the same send of the app), and writes both together. An event stream's head
(chunked), a HEAD request's and anything unusual go out as before, at once; so does a kept head
if the connection is closed first. Measured (py-spy): the second write was about 4 µs, 5% of a
GET credits.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import Any, Literal

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .connections import HeadDeadline, head_too_large

__all__ = ["GuardedHttpToolsProtocol", "HeadCork", "LeanEvent"]


class LeanEvent(asyncio.Event):
    """An asyncio.Event that holds no deque: its waiters, when any, in a list made for them."""

    def __init__(self) -> None:  # not asyncio.Event's: that makes the deque
        self._value = False
        self._waiters: list[asyncio.Future[Literal[True]]] | None = None  # type: ignore[assignment]

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if self._value:
            return
        self._value = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(True)

    def clear(self) -> None:
        self._value = False

    def wait(self) -> Awaitable[Literal[True]]:  # type: ignore[override]
        # a future, not a coroutine: a connection waiting for its client holds no frame here
        waiter: asyncio.Future[Literal[True]] = asyncio.get_running_loop().create_future()
        if self._value:
            waiter.set_result(True)
            return waiter
        if self._waiters is None:
            self._waiters = []
        elif len(self._waiters) > 4:  # waiters cancelled without a set() since: forget them
            self._waiters = [w for w in self._waiters if not w.done()]
        self._waiters.append(waiter)
        return waiter


class HeadCork:
    """A cycle's transport until its response's head is written: a head of known length is
    kept and written with the body's first bytes (see above). Then the cycle gets its transport
    back, so an answer or a stream costs nothing more after its head."""

    __slots__ = ("cycle", "head", "transport")

    def __init__(self, cycle: Any, transport: asyncio.Transport) -> None:
        self.cycle = cycle
        self.transport = transport
        self.head: bytes | None = None

    def write(self, data: bytes) -> None:
        head, cycle = self.head, self.cycle
        if head is not None:  # the body's first bytes: both in one write
            self._uncork()
            self.transport.write(head + data)
        elif cycle.response_started and cycle.chunked_encoding is False:  # a head, length known
            self.head = data
        elif cycle.response_started:  # an event stream's head: at once, and nothing to keep
            self._uncork()
            self.transport.write(data)
        else:  # "100 Continue", before the response: the head is still to come
            self.transport.write(data)

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def close(self) -> None:  # a head kept still goes first: closed as uvicorn would have
        head = self.head
        self._uncork()
        if head is not None:
            self.transport.write(head)
        self.transport.close()

    def _uncork(self) -> None:
        self.head = None
        self.cycle.transport = self.transport
        self.cycle = None


class _Pipeline(list[Any]):
    """uvicorn's queue of pipelined requests, as a list: empty nearly always."""

    __slots__ = ()

    def appendleft(self, item: Any) -> None:
        self.insert(0, item)


class _HeadGuard:
    """Where the head being read stands (one attribute of the protocol: see above)."""

    __slots__ = ("begun", "bytes", "deadline", "idle", "reading", "timer")

    def __init__(self) -> None:
        self.timer: asyncio.TimerHandle | None = None
        self.deadline: float | None = None  # HeadDeadline's: when the next head is due
        self.idle: float | None = None  # and when its first byte is (keep-alive)
        self.reading = True  # from a message's end (or the start) to the next one's head
        self.begun = False  # a byte of the head being read has arrived
        self.bytes = 0  # received while reading the head: an upper bound of its size


class GuardedHttpToolsProtocol(HeadDeadline, HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit on each request head, and
    enveloped refusals."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pipeline = _Pipeline()  # type: ignore[assignment]
        self._head = _HeadGuard()

    @property
    def _head_timer(self) -> asyncio.TimerHandle | None:  # kept in the one guard attribute
        return self._head.timer

    @_head_timer.setter
    def _head_timer(self, timer: asyncio.TimerHandle | None) -> None:
        self._head.timer = timer

    @property
    def _head_deadline(self) -> float | None:
        return self._head.deadline

    @_head_deadline.setter
    def _head_deadline(self, deadline: float | None) -> None:
        self._head.deadline = deadline

    @property
    def _head_idle(self) -> float | None:
        return self._head.idle

    @_head_idle.setter
    def _head_idle(self, idle: float | None) -> None:
        self._head.idle = idle

    def _head_begun(self) -> bool:
        return self._head.begun

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        writable = LeanEvent()
        writable.set()  # as FlowControl starts
        self.flow._is_writable_event = writable
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        head = self._head
        if head.reading:
            head.bytes += len(data)
        super().data_received(data)  # a parser error: send_400_response, closed
        too_large = head.reading and head.bytes > self.limits.header_bytes
        if too_large and not self.transport.is_closing():
            self._refuse(431, head_too_large(self.limits.header_bytes))

    def on_message_begin(self) -> None:
        self._head.begun = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        head = self._head
        head.reading = head.begun = False
        head.bytes = 0
        self._no_head_due()  # the head is in: the app has the request (or it is queued)
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not previous:  # a new cycle, whose task has not run yet
            cycle.message_event = LeanEvent()
            if cycle.scope["method"] != "HEAD":  # a HEAD answer has no body to wait for
                cycle.transport = HeadCork(cycle, self.transport)

    def on_response_complete(self) -> None:
        # uvicorn's (0.55), but for its keep-alive timer: a new one on every response, cancelled
        # by the next request's first bytes, cost 5% of a keep-alive GET (bench_credits.py).
        # The wait for the next head is one timer already (HeadDeadline): it closes an idle
        # connection too (tests/mock_backend/web/test_httptools_protocol.py holds both).
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        if self.pipeline:  # a pipelined request whose head is in: it is answered next
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            self._arm_head_timer()
        else:
            self._arm_head_timer(idle=self.timeout_keep_alive)

    def on_message_complete(self) -> None:
        self._head.reading = True
        self._head.bytes = 0
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        # called from data_received while httptools' error is being handled
        error = sys.exc_info()[1]
        if isinstance(error, httptools.HttpParserInvalidURLError):
            self._refuse(
                400,
                f"the request target is not a valid URL ({error}); percent-encode anything "
                "but printable ASCII",
            )
        else:
            self._refuse(400, f"not a valid HTTP/1.1 request ({error or msg})")
