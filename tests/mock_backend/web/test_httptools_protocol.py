"""LeanEvent, the asyncio.Event the httptools protocol gives each connection and request
(the protocol itself is tested over sockets in test_hostile_input.py, on both parsers)."""

from __future__ import annotations

import asyncio
import sys
from collections import deque

import pytest

from mock_backend.web.httptools_protocol import LeanEvent

pytestmark = pytest.mark.anyio


async def test_wait_returns_at_once_when_set_and_waits_until_set_otherwise() -> None:
    event = LeanEvent()
    assert not event.is_set()
    waiters = [asyncio.ensure_future(event.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    event.set()
    assert await asyncio.gather(*waiters) == [True, True, True]
    assert event.is_set()
    assert await event.wait() is True
    event.clear()
    assert not event.is_set()
    late = asyncio.ensure_future(event.wait())
    await asyncio.sleep(0)
    assert not late.done()
    event.set()
    assert await late is True


async def test_cancelled_waiters_are_not_woken_and_not_kept() -> None:
    event = LeanEvent()
    for _ in range(20):
        waiter = asyncio.ensure_future(event.wait())
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.sleep(0)
    assert event._waiters is not None
    assert len(event._waiters) <= 6  # forgotten as new ones come
    event.set()  # no InvalidStateError from a cancelled future


def test_it_holds_no_deque() -> None:
    assert not isinstance(LeanEvent()._waiters, deque)
    assert sys.getsizeof(deque()) > 500  # what each asyncio.Event would hold


# -- HeadCork: a response of known length in one write ------------------------------------------


class _Transport(asyncio.Transport):
    """Records what the protocol writes, write by write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name)

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None: ...

    def get_write_buffer_size(self) -> int:
        return 0


def _connect(
    app: object, request: bytes, *, keep_alive: float = 5, head_seconds: float | None = None
) -> tuple[asyncio.Protocol, _Transport]:
    """A connection of the guarded httptools protocol, as `nemo-mock serve` builds it, that
    has received ``request`` (``head_seconds``: the contract's request_seconds, changed)."""
    import dataclasses

    import uvicorn
    from uvicorn.server import ServerState

    from mock_backend.openapi.limits import Limits
    from mock_backend.openapi.spec import load_spec
    from mock_backend.web.connections import guarded_protocol

    limits = Limits.from_spec(load_spec())
    if head_seconds is not None:
        limits = dataclasses.replace(limits, request_seconds=head_seconds)
    protocol_class = guarded_protocol(limits, "httptools")
    config = uvicorn.Config(
        app, http=protocol_class, lifespan="off", log_level="warning", timeout_keep_alive=keep_alive
    )
    config.load()
    protocol = protocol_class(  # type: ignore[call-arg]
        config=config, server_state=ServerState(), app_state={}
    )
    transport = _Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    protocol.data_received(request)
    return protocol, transport


async def _exchange(app: object, request: bytes) -> _Transport:
    """What the connection writes for ``request`` once ``app`` has answered."""
    protocol, transport = _connect(app, request)
    for _ in range(20):
        await asyncio.sleep(0)
    protocol.connection_lost(None)
    return transport


def _app(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> object:
    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
        for n, chunk in enumerate(chunks):
            more = n < len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})  # type: ignore[operator]

    return app


GET = b"GET /x HTTP/1.1\r\nHost: mock\r\n\r\n"


async def test_an_answer_of_known_length_leaves_in_one_write() -> None:
    body = b'{"code":0}'
    app = _app(
        [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")], [body]
    )
    transport = await _exchange(app, GET)
    assert len(transport.writes) == 1, transport.writes
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"\r\n\r\n" + body)


async def test_an_event_streams_head_leaves_before_its_first_event() -> None:
    """A stream's client must see its head at once, not when the first event comes."""
    started = asyncio.Event()
    release = asyncio.Event()

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        head = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": head})  # type: ignore[operator]
        started.set()
        await release.wait()
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": False})  # type: ignore[operator]

    protocol, transport = _connect(app, GET)
    await started.wait()
    assert len(transport.writes) == 1, transport.writes  # the head, alone
    assert transport.writes[0].endswith(b"transfer-encoding: chunked\r\n\r\n")
    release.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert transport.writes[1:] == [b"9\r\ndata: 1\n\n\r\n0\r\n\r\n"]
    protocol.connection_lost(None)


async def test_a_head_request_and_a_closed_connection_still_get_their_head() -> None:
    app = _app([(b"content-length", b"10")], [b""])
    transport = await _exchange(app, b"HEAD /x HTTP/1.1\r\nHost: mock\r\n\r\n")
    assert [w[:15] for w in transport.writes] == [b"HTTP/1.1 200 OK"]

    async def app_that_stops(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        head = [(b"content-length", b"10")]
        await send({"type": "http.response.start", "status": 200, "headers": head})  # type: ignore[operator]

    transport = await _exchange(app_that_stops, GET)
    assert transport.closed  # uvicorn closes an unfinished response's connection
    assert [w[:15] for w in transport.writes] == [b"HTTP/1.1 200 OK"]


# -- the one timer of a connection: the keep-alive wait and the next head's deadline ------------


async def _until(condition: object, seconds: float = 10.0) -> None:
    """Wait until ``condition()`` holds (timers fire late on a loaded machine: no tight bound)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not condition() and loop.time() < end:  # type: ignore[operator]
        await asyncio.sleep(0.01)


async def test_a_kept_alive_connection_that_stays_idle_is_closed_quietly() -> None:
    body = b"{}"
    app = _app([(b"content-length", b"2")], [body])
    protocol, transport = _connect(app, GET, keep_alive=0.05)
    await _until(lambda: transport.closed)
    assert transport.closed
    assert len(transport.writes) == 1  # the answer, and no 408: nothing of a request came
    protocol.connection_lost(None)


async def test_a_head_begun_in_time_is_not_closed_as_idle_but_gets_its_deadline() -> None:
    app = _app([(b"content-length", b"2")], [b"{}"])
    protocol, transport = _connect(app, GET, keep_alive=0.05, head_seconds=2.0)
    await _until(lambda: len(transport.writes) == 1)
    protocol.data_received(b"GET /x HT")  # the next head begins, and stalls
    await asyncio.sleep(0.3)  # the keep-alive wait is over: the head's deadline holds now
    assert not transport.closed
    await _until(lambda: transport.closed)
    assert transport.writes[-1].startswith(b"HTTP/1.1 408 ")
    protocol.connection_lost(None)


async def test_many_answers_on_one_connection_keep_one_timer() -> None:
    """Each answer moves the next head's deadline; none arms a timer of its own."""
    app = _app([(b"content-length", b"2")], [b"{}"])
    loop = asyncio.get_running_loop()
    armed: list[str] = []  # the connection's timers: the head's, uvicorn's keep-alive
    call_at, call_later = loop.call_at, loop.call_later

    def note(callback: object) -> None:
        name = getattr(callback, "__name__", "")
        if name in ("_head_due", "_head_late", "timeout_keep_alive_handler"):
            armed.append(name)

    def counting_at(when: float, *args: object, **kwargs: object) -> asyncio.TimerHandle:
        note(args[0])
        return call_at(when, *args, **kwargs)  # type: ignore[arg-type]

    def counting_later(delay: float, *args: object, **kwargs: object) -> asyncio.TimerHandle:
        note(args[0])
        return call_later(delay, *args, **kwargs)  # type: ignore[arg-type]

    loop.call_at, loop.call_later = counting_at, counting_later  # type: ignore[method-assign,assignment]
    try:
        protocol, transport = _connect(app, GET)
        for answered in range(1, 21):
            await _until(lambda n=answered: len(transport.writes) == n, 5)
            protocol.data_received(GET)
        await _until(lambda: len(transport.writes) == 21, 5)
    finally:
        del loop.call_at, loop.call_later
    assert len(transport.writes) == 21
    assert len(armed) <= 2, armed  # the connection's, and once the first answer's shorter wait
    protocol.connection_lost(None)
