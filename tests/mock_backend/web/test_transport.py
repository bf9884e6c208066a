"""The streaming transports, against small apps defined here (not mock_backend.web.app)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import anyio
import httpx
import httpx_sse
import pytest
import respx
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from mock_backend.web.transport import (
    ASGIAppError,
    StreamingASGITransport,
    SyncASGITransport,
    lifespan,
)

PROD = "https://mega-api-prod.nemovideo.ai"
UPLOAD = random.Random(7).randbytes(3 * 1024 * 1024 + 17)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Probe:
    """What the app saw; the asyncio events live in the app's event loop."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    finally_ran: threading.Event = field(default_factory=threading.Event)
    started_up: bool = False
    shut_down: bool = False


def make_app(probe: Probe) -> Starlette:
    async def events(request: Request) -> Response:
        endless = "endless" in request.query_params

        async def body() -> AsyncIterator[bytes]:
            try:
                yield b"event: tick\ndata: one\n\n"
                await probe.release.wait()
                yield b"event: tick\ndata: two\n\n"
                while endless:
                    await asyncio.Event().wait()
            finally:
                probe.finally_ran.set()

        return StreamingResponse(body(), media_type="text/event-stream")

    async def release(request: Request) -> Response:
        probe.release.set()
        return Response(status_code=204)

    async def upload(request: Request) -> Response:
        form = await request.form()
        file = form["file"]
        assert isinstance(file, UploadFile)
        data = await file.read()
        await form.close()
        return JSONResponse({"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})

    async def raw(request: Request) -> Response:
        digest, chunks = hashlib.sha256(), 0
        async for chunk in request.stream():
            digest.update(chunk)
            chunks += 1
        return JSONResponse({"sha256": digest.hexdigest(), "chunks": chunks})

    async def echo(request: Request) -> Response:
        client = request.client
        return JSONResponse(
            {"url": str(request.url), "client": [client.host, client.port] if client else None}
        )

    async def boom(request: Request) -> Response:
        raise RuntimeError("boom before the headers")

    async def boom_midway(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            yield b"data: one\n\n"
            raise RuntimeError("boom in the body")

        return StreamingResponse(body(), media_type="text/event-stream")

    @contextlib.asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[None]:
        probe.started_up = True
        yield
        probe.shut_down = True

    routes = [
        Route("/events", events),
        Route("/release", release, methods=["POST"]),
        Route("/upload", upload, methods=["POST"]),
        Route("/raw", raw, methods=["POST"]),
        Route("/echo", echo),
        Route("/boom", boom),
        Route("/boom-midway", boom_midway),
    ]
    return Starlette(routes=routes, lifespan=app_lifespan)


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
async def client(probe: Probe) -> AsyncIterator[httpx.AsyncClient]:
    transport = StreamingASGITransport(make_app(probe))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def sync_client(probe: Probe) -> Iterator[httpx.Client]:
    with (
        SyncASGITransport(make_app(probe)) as transport,
        httpx.Client(transport=transport, base_url="http://testserver") as client,
    ):
        yield client


@pytest.mark.anyio
async def test_chunks_arrive_before_the_app_finishes(
    client: httpx.AsyncClient, probe: Probe
) -> None:
    with anyio.fail_after(5):
        async with client.stream("GET", "/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            chunks = response.aiter_raw()
            assert await anext(chunks) == b"event: tick\ndata: one\n\n"
            assert not probe.finally_ran.is_set()  # the app is waiting for us
            probe.release.set()
            assert await anext(chunks) == b"event: tick\ndata: two\n\n"
            assert [chunk async for chunk in chunks] == []
    assert probe.finally_ran.is_set()


@pytest.mark.anyio
async def test_closing_early_runs_the_app_finally(client: httpx.AsyncClient, probe: Probe) -> None:
    with anyio.fail_after(5):
        async with client.stream("GET", "/events?endless") as response:
            assert await anext(response.aiter_raw()) == b"event: tick\ndata: one\n\n"
    assert probe.finally_ran.is_set()  # closing waits for the app to return


@pytest.mark.anyio
async def test_closing_early_delivers_http_disconnect() -> None:
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "http.request"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        received.append(await receive())  # what a server-side watcher task would wait on
        await send({"type": "http.response.body", "body": b"ignored", "more_body": True})

    async with httpx.AsyncClient(transport=StreamingASGITransport(app)) as client:
        with anyio.fail_after(5):
            async with client.stream("GET", "http://testserver/") as response:
                assert await anext(response.aiter_raw()) == b"first"
                assert received == []
    assert received == [{"type": "http.disconnect"}]


@pytest.mark.anyio
async def test_an_app_that_ignores_the_disconnect_is_cancelled() -> None:
    cancelled = anyio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        try:
            await anyio.Event().wait()
        finally:
            cancelled.set()

    transport = StreamingASGITransport(app, exit_timeout=0.01)
    async with httpx.AsyncClient(transport=transport) as client:
        with anyio.fail_after(5), pytest.raises(ASGIAppError, match="cancelled"):
            async with client.stream("GET", "http://testserver/") as response:
                await anext(response.aiter_raw())
    assert cancelled.is_set()


@pytest.mark.anyio
async def test_an_exception_before_the_headers_is_raised_in_the_client(
    client: httpx.AsyncClient,
) -> None:
    with anyio.fail_after(5), pytest.raises(RuntimeError, match="boom before the headers"):
        await client.get("/boom")


@pytest.mark.anyio
async def test_an_exception_in_the_body_is_raised_in_the_client(client: httpx.AsyncClient) -> None:
    with anyio.fail_after(5), pytest.raises(RuntimeError, match="boom in the body"):
        async with client.stream("GET", "/boom-midway") as response:
            async for _ in response.aiter_raw():
                pass


@pytest.mark.anyio
async def test_without_raise_app_exceptions_the_client_sees_what_uvicorn_sends(
    probe: Probe,
) -> None:
    transport = StreamingASGITransport(make_app(probe), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        with anyio.fail_after(5):
            assert (await client.get("/boom")).status_code == 500
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get("/boom-midway")


@pytest.mark.anyio
async def test_the_read_timeout_applies_to_each_chunk(client: httpx.AsyncClient) -> None:
    with anyio.fail_after(5), pytest.raises(httpx.ReadTimeout):
        async with client.stream("GET", "/events", timeout=httpx.Timeout(5, read=0.01)) as r:
            async for _ in r.aiter_raw():
                pass


@pytest.mark.anyio
async def test_the_read_timeout_applies_to_the_headers() -> None:
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # the empty request body
        received.append(await receive())  # returns once the client gives up

    timeout = httpx.Timeout(5, read=0.01)
    async with httpx.AsyncClient(transport=StreamingASGITransport(app), timeout=timeout) as client:
        with anyio.fail_after(5), pytest.raises(httpx.ReadTimeout):
            await client.get("http://testserver/")
    assert received == [{"type": "http.disconnect"}]


@pytest.mark.anyio
async def test_a_multipart_upload_arrives_intact(client: httpx.AsyncClient) -> None:
    with anyio.fail_after(5):
        response = await client.post("/upload", files={"file": ("clip.mp4", UPLOAD)})
    assert response.json() == {"sha256": hashlib.sha256(UPLOAD).hexdigest(), "size": len(UPLOAD)}


@pytest.mark.anyio
async def test_a_request_body_streams_to_the_app_in_chunks(client: httpx.AsyncClient) -> None:
    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(UPLOAD), 1 << 20):
            yield UPLOAD[start : start + (1 << 20)]

    with anyio.fail_after(5):
        response = await client.post("/raw", content=body())
    assert response.json() == {"sha256": hashlib.sha256(UPLOAD).hexdigest(), "chunks": 5}


@pytest.mark.anyio
async def test_scope_has_the_configured_client_and_the_request_url(probe: Probe) -> None:
    transport = StreamingASGITransport(make_app(probe), client=("10.1.2.3", 4567))
    async with httpx.AsyncClient(transport=transport) as client:
        with anyio.fail_after(5):
            response = await client.get(f"{PROD}/echo?x=1")
    assert response.json() == {"url": f"{PROD}/echo?x=1", "client": ["10.1.2.3", 4567]}


@pytest.mark.anyio
async def test_lifespan_runs_startup_and_shutdown(probe: Probe) -> None:
    with anyio.fail_after(5):
        async with lifespan(make_app(probe)):
            assert (probe.started_up, probe.shut_down) == (True, False)
    assert probe.shut_down


@pytest.mark.anyio
async def test_lifespan_raises_a_failed_startup() -> None:
    @contextlib.asynccontextmanager
    async def failing(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    with anyio.fail_after(5), pytest.raises(ASGIAppError, match="no database"):
        async with lifespan(Starlette(lifespan=failing)):
            pass


@pytest.mark.anyio
async def test_respx_routes_the_production_host_to_the_transport(probe: Probe) -> None:
    transport = StreamingASGITransport(make_app(probe))
    with anyio.fail_after(5):
        async with respx.mock() as router, httpx.AsyncClient() as client:
            router.route(host="mega-api-prod.nemovideo.ai").mock(
                side_effect=transport.handle_async_request
            )
            assert (await client.get(f"{PROD}/echo")).json()["url"] == f"{PROD}/echo"
            async with client.stream("GET", f"{PROD}/events") as response:
                chunks = response.aiter_raw()
                assert await anext(chunks) == b"event: tick\ndata: one\n\n"
                probe.release.set()
                assert await anext(chunks) == b"event: tick\ndata: two\n\n"
            async with client.stream("GET", f"{PROD}/events?endless") as response:
                await anext(response.aiter_raw())
            assert probe.finally_ran.is_set()


def test_sync_transport_streams(sync_client: httpx.Client, probe: Probe) -> None:
    with sync_client.stream("GET", "/events") as response:
        chunks = response.iter_raw()
        assert next(chunks) == b"event: tick\ndata: one\n\n"
        assert not probe.finally_ran.is_set()
        assert sync_client.post("/release").status_code == 204
        assert next(chunks) == b"event: tick\ndata: two\n\n"
        assert list(chunks) == []
    assert probe.finally_ran.is_set()


def test_sync_transport_streams_server_sent_events(sync_client: httpx.Client) -> None:
    with httpx_sse.connect_sse(sync_client, "GET", "/events?endless") as source:
        events = source.iter_sse()
        assert next(events).data == "one"
        sync_client.post("/release")
        assert next(events).data == "two"


def test_sync_transport_closing_early_runs_the_app_finally(
    sync_client: httpx.Client, probe: Probe
) -> None:
    with sync_client.stream("GET", "/events?endless") as response:
        assert next(response.iter_raw()) == b"event: tick\ndata: one\n\n"
    assert probe.finally_ran.is_set()


def test_sync_transport_raises_app_exceptions(sync_client: httpx.Client) -> None:
    with pytest.raises(RuntimeError, match="boom before the headers"):
        sync_client.get("/boom")
    with pytest.raises(RuntimeError, match="boom in the body"):
        sync_client.get("/boom-midway")


def test_sync_transport_applies_the_read_timeout(sync_client: httpx.Client, probe: Probe) -> None:
    with pytest.raises(httpx.ReadTimeout):
        sync_client.get("/events", timeout=httpx.Timeout(5, read=0.01))
    assert probe.finally_ran.is_set()


def test_sync_transport_uploads(sync_client: httpx.Client) -> None:
    response = sync_client.post("/upload", files={"file": ("clip.mp4", UPLOAD)})
    assert response.json()["sha256"] == hashlib.sha256(UPLOAD).hexdigest()

    def body() -> Iterator[bytes]:  # a plain iterator is read in a worker thread
        yield from (UPLOAD[i : i + (1 << 20)] for i in range(0, len(UPLOAD), 1 << 20))

    response = sync_client.post("/raw", content=body())
    assert response.json() == {"sha256": hashlib.sha256(UPLOAD).hexdigest(), "chunks": 5}


def test_sync_transport_serves_clients_in_several_threads(probe: Probe) -> None:
    def work(transport: SyncASGITransport, n: int) -> list[str]:
        # Not closed: closing an httpx.Client closes its transport, which the test owns.
        client = httpx.Client(transport=transport, base_url="http://testserver")
        with client.stream("GET", "/events?endless") as response:
            first = next(response.iter_lines())
        return [first] + [client.get(f"/echo?n={n}&i={i}").json()["url"] for i in range(5)]

    with SyncASGITransport(make_app(probe)) as transport, ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(work, transport, n) for n in range(4)]
        results = [future.result(timeout=10) for future in futures]
    for n, result in enumerate(results):
        assert result[0] == "event: tick"
        assert result[1:] == [f"http://testserver/echo?n={n}&i={i}" for i in range(5)]


def test_sync_transport_close_closes_open_responses_and_stops_the_thread(probe: Probe) -> None:
    transport = SyncASGITransport(make_app(probe))
    client = httpx.Client(transport=transport, base_url="http://testserver")
    response = client.send(client.build_request("GET", "/events?endless"), stream=True)
    assert next(response.iter_raw()) == b"event: tick\ndata: one\n\n"
    client.close()  # closes the transport, which delivers the disconnect
    assert probe.finally_ran.is_set()
    assert not [t for t in threading.enumerate() if t.name == "SyncASGITransport"]
    response.close()
    with pytest.raises(RuntimeError, match="closed"):
        transport.handle_request(httpx.Request("GET", "http://testserver/echo"))


def test_respx_routes_the_production_host_to_the_sync_transport(
    probe: Probe,
) -> None:
    with (
        SyncASGITransport(make_app(probe)) as transport,
        respx.mock() as router,
        httpx.Client() as client,
    ):
        router.route(host="mega-api-prod.nemovideo.ai").mock(side_effect=transport.handle_request)
        with httpx_sse.connect_sse(client, "GET", f"{PROD}/events?endless") as source:
            events = source.iter_sse()
            assert next(events).data == "one"
            assert client.post(f"{PROD}/release").status_code == 204
            assert next(events).data == "two"
        assert probe.finally_ran.is_set()


def test_a_head_response_has_no_body() -> None:
    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("hello"))])
    with SyncASGITransport(app) as transport, httpx.Client(transport=transport) as client:
        assert client.head("http://testserver/").content == b""
        assert client.get("http://testserver/").text == "hello"
