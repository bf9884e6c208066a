"""LiveServer: uvicorn in a thread, against small apps defined here (not mock_backend.web.app)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

import httpx
import httpx_sse
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from mock_backend.web.server import LiveServer, ServerError


def make_app(name: str = "one") -> Starlette:
    release = asyncio.Event()  # bound to uvicorn's loop at first use

    async def hello(request: Request) -> Response:
        return PlainTextResponse(f"hello from {name} via {request.url.port}")

    async def events(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            yield b"data: one\n\n"
            await release.wait()
            yield b"data: two\n\n"

        return StreamingResponse(body(), media_type="text/event-stream")

    async def open_gate(request: Request) -> Response:
        release.set()
        return Response(status_code=204)

    async def boom(request: Request) -> Response:
        raise RuntimeError("boom in the server")

    routes = [
        Route("/hello", hello),
        Route("/events", events),
        Route("/release", open_gate, methods=["POST"]),
        Route("/boom", boom),
    ]
    return Starlette(routes=routes)


def test_serves_a_request_over_tcp_and_stops() -> None:
    with LiveServer(make_app()) as server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.port != 0
        response = httpx.get(f"{server.url}/hello", timeout=5)
        assert response.text == f"hello from one via {server.port}"
    assert not [t for t in threading.enumerate() if t.name == f"LiveServer:{server.port}"]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/hello", timeout=5)


def test_two_servers_at_once() -> None:
    with LiveServer(make_app("one")) as one, LiveServer(make_app("two")) as two:
        assert one.port != two.port
        assert httpx.get(f"{one.url}/hello", timeout=5).text.startswith("hello from one")
        assert httpx.get(f"{two.url}/hello", timeout=5).text.startswith("hello from two")


def test_streams_server_sent_events() -> None:
    with (
        LiveServer(make_app()) as server,
        httpx.Client(base_url=server.url, timeout=5) as client,
        httpx_sse.connect_sse(client, "GET", "/events") as source,
    ):
        events = source.iter_sse()
        assert next(events).data == "one"  # before the app may send the second
        assert client.post("/release").status_code == 204
        assert next(events).data == "two"


def test_an_app_exception_is_raised_again_on_stop() -> None:
    server = LiveServer(make_app()).start()
    try:
        assert httpx.get(f"{server.url}/boom", timeout=5).status_code == 500
    finally:
        with pytest.raises(RuntimeError, match="boom in the server"):
            server.stop()


def test_app_exceptions_can_be_expected() -> None:
    with LiveServer(make_app(), raise_app_exceptions=False) as server:
        assert httpx.get(f"{server.url}/boom", timeout=5).status_code == 500
    assert [str(error) for error in server.app_errors] == ["boom in the server"]


def test_a_failed_startup_is_raised_by_start() -> None:
    @contextlib.asynccontextmanager
    async def failing(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    with pytest.raises(ServerError, match="did not start") as info:
        LiveServer(Starlette(lifespan=failing)).start()
    assert isinstance(info.value.__cause__, SystemExit)


def test_a_taken_port_is_an_error_in_the_caller() -> None:
    with LiveServer(make_app()) as server, pytest.raises(OSError, match="in use"):
        LiveServer(make_app(), port=server.port).start()


def test_url_before_start_is_an_error() -> None:
    with pytest.raises(ServerError, match="not been started"):
        _ = LiveServer(make_app()).url
