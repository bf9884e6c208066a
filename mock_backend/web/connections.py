"""Connections that cannot be held open, or answered outside the envelope, by a hostile client.

uvicorn waits for a request's head without a deadline: a connection that sends nothing, or a
header a byte at a time, stays open for ever. It answers a malformed head with a plain-text 400,
and its httptools protocol has no bound on a head's size at all. The guarded protocols give the
head ``request_seconds`` (wall time, the network's) from the connection's start or the previous
response, then answer 408 and close (a connection that sent nothing of a next request is just
closed); malformed heads answer 400 and heads over ``header_bytes`` 431, both as the envelope.

Two of them, one per parser uvicorn has: `GuardedHttpToolsProtocol` (httptools_protocol.py,
llhttp in C: the default, about twice h11's throughput) and `GuardedH11Protocol` (pure Python),
used only where httptools cannot be imported. `guarded_protocol` picks one; both are tested
alike (tests/mock_backend/web/test_hostile_input.py runs its socket tests on each).

`RequestLimits` does the same for a body that stops arriving: each chunk must come within
``request_seconds`` of the last, else the app is cancelled and the client gets 408 (once the body
is complete, waiting on the connection, as a stream does to notice a client leaving, is free),
and answers 431 for a head over the limit that arrived whole (the protocols bound only one that
is still arriving), in-process transports included.

Both limits come from the contract (``info.x-limits``) through `Limits`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
import sys
from collections.abc import Awaitable
from typing import Any, Literal

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..errors import ApiError
from ..openapi.envelope import default_profile, error_body, error_response
from ..openapi.limits import Limits

__all__ = [
    "PARSER",
    "GuardedH11Protocol",
    "HeadDeadline",
    "Parser",
    "RequestLimits",
    "guarded_protocol",
]

Parser = Literal["httptools", "h11"]
# httptools where it can be imported (a dependency, but a C extension: a platform without a
# wheel falls back to h11, slower and equally guarded)
PARSER: Parser = "httptools" if importlib.util.find_spec("httptools") else "h11"

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def raw_answer(status: int, message: str) -> bytes:
    """A whole HTTP/1.1 response carrying the envelope, for moments the app cannot send one."""
    body = json.dumps(error_body(ApiError(status, message))).encode()
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"connection: close\r\n\r\n" % (status, _REASONS[status], len(body))
    )
    return head + body


def late_head(seconds: float) -> bytes:
    """The 408 for a head that did not arrive in time."""
    return raw_answer(
        408,
        f"the request's head did not arrive within {seconds:g} s; "
        "send the whole request at once, on a new connection",
    )


def head_too_large(header_bytes: int) -> str:
    return (
        f"the request line and headers are larger than {header_bytes} bytes; "
        "send fewer or shorter headers"
    )


class HeadDeadline:
    """What both guarded protocols do alike (a mixin before uvicorn's protocol class): each
    request head gets ``limits.request_seconds`` from the connection's start or the previous
    response, then 408 and a close; `_refuse` answers the envelope and closes. A protocol says
    where its timer lives (`_head_timer`) and whether a next head has begun (`_head_begun`)."""

    limits: Limits  # set by `guarded_protocol`
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any
    logger: Any
    _head_timer: asyncio.TimerHandle | None

    def _head_begun(self) -> bool:
        """A byte of the next request's head has arrived."""
        raise NotImplementedError

    # One timer per connection, moved lazily: each response sets the next head's deadline, and
    # the timer, when it fires, sees whether that deadline has passed or re-arms for it. A new
    # timer on every response and its cancel when the head came were 3-4% of a keep-alive
    # GET's time (bench_credits.py, on uvloop), for a deadline that almost never passes. The
    # httptools protocol hands it uvicorn's keep-alive wait too (``idle``), for the same reason.
    _head_deadline: float | None  # when the head being waited for is due; None: none is
    _head_idle: float | None = None  # when the next head's first byte is due (keep-alive)

    def _arm_head_timer(self, idle: float | None = None) -> None:
        """The next request's head is due ``limits.request_seconds`` from now; with ``idle``,
        its first byte within ``idle`` seconds, or the connection is closed without a word (as
        uvicorn's keep-alive timeout closes it)."""
        now = self.loop.time()
        self._head_deadline = deadline = now + self.limits.request_seconds
        self._head_idle = due = None if idle is None else now + idle
        due = deadline if due is None or due > deadline else due
        timer = self._head_timer
        if timer is not None and timer.when() > due:  # set for later than now needed
            timer.cancel()
            timer = None
        if timer is None:
            self._head_timer = self.loop.call_at(due, self._head_due)

    def _no_head_due(self) -> None:
        """No head is due (it came): the timer, if it fires, finds nothing to do."""
        self._head_deadline = self._head_idle = None

    def _stop_head_timer(self) -> None:
        self._no_head_due()
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_due(self) -> None:
        self._head_timer = None
        deadline, idle = self._head_deadline, self._head_idle
        if deadline is None:
            return  # the head came; the next response arms the timer again
        now = self.loop.time()
        if idle is not None and not self._head_begun():
            if idle <= now:  # kept alive long enough, and nothing came: close, quietly
                self._no_head_due()
                if not self.transport.is_closing():
                    self.transport.close()
                return
            due = min(idle, deadline)
        else:
            due = deadline
        if due > now:  # moved later since the timer was set
            self._head_timer = self.loop.call_at(due, self._head_due)
            return
        self._no_head_due()
        self._head_late()

    def _head_late(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered: the body has its own deadline
        if not self._head_begun():
            # nothing of a next request arrived (a new connection that sends nothing), or the
            # rest of a body the app answered without reading: nothing to answer, just close
            self.transport.close()
            return
        self.transport.write(late_head(self.limits.request_seconds))
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm_head_timer()  # the next request's head gets the same deadline

    def _refuse(self, status: int, message: str) -> None:
        self._stop_head_timer()
        self.logger.info("refused a connection's request: %s", message)
        self.transport.write(raw_answer(status, message))
        self.transport.close()


class GuardedH11Protocol(HeadDeadline, H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request head and enveloped refusals."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer = None
        self._head_deadline = None

    def _head_begun(self) -> bool:
        return self.conn.their_state is h11.IDLE and bool(self.conn.trailing_data[0])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_head_timer()

    def handle_events(self) -> None:
        try:
            super().handle_events()
        except UnicodeDecodeError:  # a request target that is not ASCII
            self._refuse(400, "the request target is not ASCII; percent-encode it")
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._no_head_due()  # the head is in: the app has the request

    def send_400_response(self, msg: str) -> None:
        # called from handle_events while h11's RemoteProtocolError is being handled: its
        # status hint tells an oversized head (431) from a malformed one (400)
        error = sys.exc_info()[1]
        status = getattr(error, "error_status_hint", 400)
        if status == 431:
            self._refuse(431, head_too_large(self.limits.header_bytes))
        else:
            self._refuse(400, f"not a valid HTTP/1.1 request ({error or msg})")


def guarded_protocol(limits: Limits, parser: Parser = PARSER) -> type[asyncio.Protocol]:
    """The protocol class for uvicorn's ``http=`` setting, bound to ``limits``: httptools'
    where it can be imported (`PARSER`), else h11's."""
    base: type[asyncio.Protocol] = GuardedH11Protocol
    if parser == "httptools":
        from .httptools_protocol import GuardedHttpToolsProtocol

        base = GuardedHttpToolsProtocol
    return type(base.__name__, (base,), {"limits": limits})


class RequestLimits:
    """ASGI middleware: a head larger than ``header_bytes`` answers 431 (the protocols only bound
    a head still arriving), and a body whose next chunk takes longer than ``seconds`` ends the
    request with 408 instead of holding it open; both the envelope with ``Connection: close``."""

    def __init__(self, app: ASGIApp, seconds: float, header_bytes: int) -> None:
        self.app = app
        self.seconds = seconds
        self.header_bytes = header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        size = len(scope.get("raw_path", b"")) + len(scope.get("query_string", b""))
        headers = scope["headers"]  # names, values and ": " "\r\n" of each; summed in C
        size += sum(map(len, itertools.chain.from_iterable(headers))) + 4 * len(headers)
        if size > self.header_bytes:
            error = ApiError(431, head_too_large(self.header_bytes))
            refusal = error_response(error, default_profile(), {"Connection": "close"})
            await refusal(scope, receive, send)
            return
        if not _has_body(headers):  # nothing to wait for: the request is whole already
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(receive, send, self.seconds)
        try:
            await self.app(scope, exchange.receive_next, exchange.send_on)
        except asyncio.CancelledError:
            late = exchange.late
            if late is None or late is not asyncio.current_task() or late.uncancel() > 0:
                raise  # not ours, or cancelled from outside too (the server stopping)
        if exchange.late is not None and not exchange.started:
            error = ApiError(
                408,
                f"the request body stopped arriving for {self.seconds:g} s; send it whole, "
                "or retry on a new connection",
                data={"field": "body", "rule": "timeout"},
            )
            refusal = error_response(error, default_profile())  # 408: Connection: close
            await refusal(scope, receive, send)


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a body follows the head (HTTP/1.1: only with a length or a transfer coding)."""
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


class _Exchange:
    """One request's body deadline. An object with slots rather than closures: a held event
    stream keeps it for its whole life, and three closures with their cells cost three times
    as much."""

    __slots__ = ("body_done", "late", "receive", "seconds", "send", "started")

    def __init__(self, receive: Receive, send: Send, seconds: float) -> None:
        self.receive = receive
        self.send = send
        self.seconds = seconds
        self.body_done = self.started = False
        # the app is ended by cancelling the task that waits for the body, not by a cancel
        # scope around the app: an anyio scope per request cost ~5% of a GET's time, and only
        # a late body needs one
        self.late: asyncio.Task[Any] | None = None

    def receive_next(self) -> Awaitable[Message]:
        # once the body is in, the server's own receive: a stream waiting for its client to
        # leave holds no frame of this middleware
        return self.receive() if self.body_done else self._timed_receive()

    async def _timed_receive(self) -> Message:
        try:
            async with asyncio.timeout(self.seconds):
                message = await self.receive()
        except TimeoutError:
            self.late = late = asyncio.current_task()
            if late is None:
                raise
            late.cancel()  # a cancellation, not an error: the app's handlers let it pass
            await asyncio.sleep(0)  # cancelled here: the app ends
            raise AssertionError("unreachable") from None
        if message["type"] != "http.request" or not message.get("more_body"):
            self.body_done = True
        return message

    async def send_on(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)
