"""In-process httpx transports that stream, so tests can drive a client against the mock app.

`httpx.ASGITransport` runs the app to completion before it returns the response: a Server-Sent
Events stream arrives in one piece, and an endless one never arrives. These transports run the
app in a task of its own and hand each body chunk to the client as the app sends it:

- `StreamingASGITransport` for `httpx.AsyncClient` (asyncio only);
- `SyncASGITransport` for `httpx.Client`: the app runs on an event loop in a background thread.

Where uvicorn and httpx.ASGITransport differ, a client sees what uvicorn would do: closing a
response before its end delivers ``http.disconnect`` to the app and drops its later sends, and
the request's ``read`` timeout bounds the wait for the headers and for each chunk
(`httpx.ReadTimeout`). Like httpx.ASGITransport, an exception of the app is raised in the client
(``raise_app_exceptions=True``), and closing a response waits for the app to return, background
tasks included, so its ``finally`` blocks have run when the test goes on.

The transports do not run the lifespan protocol; wrap the test in ``async with lifespan(app):``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
import httpx
from starlette.types import ASGIApp, Message, Scope

from ..errors import MockBackendError

__all__ = ["ASGIAppError", "StreamingASGITransport", "SyncASGITransport", "lifespan"]

T = TypeVar("T")

# Chunks the app may send ahead of the client before its `send` blocks, like a socket buffer.
_BUFFER = 16


class ASGIAppError(MockBackendError):
    """The app broke the ASGI protocol, ignored a disconnect, or failed its lifespan startup."""


class _Exchange(httpx.AsyncByteStream):
    """One request in flight: the app's task, and the response body it streams to the client."""

    def __init__(
        self, transport: StreamingASGITransport, request: httpx.Request, body: AsyncIterable[bytes]
    ) -> None:
        self.request = request
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = False  # the app sent its last body chunk
        self.closed = False
        self.error: Exception | None = None
        self._transport = transport
        self.read_timeout: float | None = request.extensions.get("timeout", {}).get("read")
        self._body = aiter(body)
        self._request_done = False
        self._gone = False  # the client closed the response before its end
        self._error_raised = False
        self._started = anyio.Event()  # response started, or the app returned without starting
        self._disconnect = anyio.Event()
        self._chunks_in, self._chunks_out = anyio.create_memory_object_stream[bytes](_BUFFER)
        self._task = asyncio.get_running_loop().create_task(self._run(transport.scope(request)))

    async def _run(self, scope: Scope) -> None:
        try:
            await self._transport.app(scope, self._receive, self._send)
        except Exception as exc:
            self.error = exc
        finally:
            self._started.set()
            self._chunks_in.close()

    async def _receive(self) -> Message:
        if not self._request_done and not self._disconnect.is_set():
            async for chunk in self._body:  # resumes where the previous call stopped
                if chunk:
                    return {"type": "http.request", "body": chunk, "more_body": True}
            self._request_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._disconnect.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        if self._gone:
            return  # as uvicorn does: the client has gone, the bytes go nowhere
        kind = message["type"]
        if self.status is None:
            if kind != "http.response.start":
                raise RuntimeError(f"Expected 'http.response.start', but got {kind!r}.")
            self.status = int(message["status"])
            self.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            self._started.set()
        elif not self.complete:
            if kind != "http.response.body":
                raise RuntimeError(f"Expected 'http.response.body', but got {kind!r}.")
            body = bytes(message.get("body", b""))
            if body and self.request.method != "HEAD":
                with contextlib.suppress(anyio.BrokenResourceError):
                    await self._chunks_in.send(body)
            if not message.get("more_body", False):
                self.complete = True
                self._chunks_in.close()
                self._disconnect.set()  # uvicorn's receive() answers disconnect from now on
        else:
            raise RuntimeError(f"Unexpected ASGI message {kind!r} after the response completed.")

    async def wait_started(self) -> None:
        try:
            with anyio.fail_after(self.read_timeout):
                await self._started.wait()
        except TimeoutError:
            raise httpx.ReadTimeout("no response headers in time", request=self.request) from None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.next_chunk()
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    async def next_chunk(self) -> bytes | None:
        """The next body chunk, or None at the end of a complete body."""
        try:
            with anyio.fail_after(self.read_timeout):
                return await self._chunks_out.receive()
        except TimeoutError:
            raise httpx.ReadTimeout("no body chunk in time", request=self.request) from None
        except anyio.EndOfStream:
            pass
        if self.complete:
            return None
        self._raise_app_error()
        if self._transport.raise_app_exceptions:
            raise ASGIAppError("ASGI callable returned without completing the response.")
        # What a client of uvicorn sees when the server drops the connection mid-body.
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body", request=self.request
        )

    def _raise_app_error(self) -> None:
        if self.error and self._transport.raise_app_exceptions and not self._error_raised:
            self._error_raised = True
            raise self.error

    async def aclose(self) -> None:
        """Tell the app the client has gone and wait for it to return; raise what it raised."""
        if self.closed:
            return
        self.closed = True
        self._transport._exchanges.discard(self)
        self._gone = not self.complete
        self._disconnect.set()
        self._chunks_out.close()  # an app blocked on a full buffer wakes up
        exit_timeout = self._transport.exit_timeout
        with anyio.CancelScope(shield=True):
            await asyncio.wait([self._task], timeout=exit_timeout)
            ignored_disconnect = not self._task.done()
            if ignored_disconnect:
                self._task.cancel()
                await asyncio.wait([self._task])
        self._chunks_in.close()  # in case the task was cancelled before it ever ran
        self._raise_app_error()
        if ignored_disconnect:
            raise ASGIAppError(
                f"the app had not returned {exit_timeout} s after its response was closed "
                "(does it ignore http.disconnect?), and was cancelled"
            )


class StreamingASGITransport(httpx.AsyncBaseTransport):
    """Send requests to an ASGI app in this event loop and stream its responses back.

    ``exit_timeout`` is how long the app gets to return once a response is closed; after it the
    app is cancelled and `ASGIAppError` raised.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        raise_app_exceptions: bool = True,
        root_path: str = "",
        client: tuple[str, int] = ("127.0.0.1", 123),
        exit_timeout: float = 5.0,
    ) -> None:
        self.app = app
        self.raise_app_exceptions = raise_app_exceptions
        self.root_path = root_path
        self.client = client
        self.exit_timeout = exit_timeout
        self._exchanges: set[_Exchange] = set()

    def scope(self, request: httpx.Request) -> Scope:
        """The ASGI scope of `request`, as uvicorn would build it."""
        url = request.url
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
            "client": self.client,
            "root_path": self.root_path,
        }

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        return await self._open(request, request.stream)

    async def _open(self, request: httpx.Request, body: AsyncIterable[bytes]) -> httpx.Response:
        exchange = _Exchange(self, request, body)
        self._exchanges.add(exchange)
        try:
            await exchange.wait_started()
        except BaseException:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await exchange.aclose()
            raise
        if exchange.status is None:  # the app returned or failed without starting a response
            await exchange.aclose()  # raises the app's exception when raise_app_exceptions
            if self.raise_app_exceptions:
                raise ASGIAppError("ASGI callable returned without starting a response.")
            headers = {"content-type": "text/plain; charset=utf-8"}
            return httpx.Response(500, headers=headers, content=b"Internal Server Error")
        return httpx.Response(exchange.status, headers=exchange.headers, stream=exchange)

    async def aclose(self) -> None:
        """Close every response still open, as if its client had gone; raise the first error."""
        errors: list[Exception] = []
        for exchange in list(self._exchanges):
            try:
                await exchange.aclose()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


async def _read_in_thread(stream: httpx.SyncByteStream) -> AsyncIterator[bytes]:
    """A synchronous request body, read in a worker thread so the event loop never blocks."""
    chunks = iter(stream)
    while (chunk := await anyio.to_thread.run_sync(next, chunks, None)) is not None:
        yield chunk


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, transport: SyncASGITransport, exchange: _Exchange) -> None:
        self._transport = transport
        self._exchange = exchange

    def __iter__(self) -> Iterator[bytes]:
        while (chunk := self._transport._call(self._exchange.next_chunk)) is not None:
            yield chunk

    def close(self) -> None:
        if not self._exchange.closed:  # SyncASGITransport.close() may have closed it already
            self._transport._call(self._exchange.aclose)


class SyncASGITransport(httpx.BaseTransport):
    """`StreamingASGITransport` for a synchronous `httpx.Client`.

    The app runs on an asyncio event loop in a thread of its own, started at the first request
    and stopped by `close()`. Several clients, in several threads, may share one transport; as
    `httpx.Client.close()` closes its transport, leave that to the transport's owner.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        raise_app_exceptions: bool = True,
        root_path: str = "",
        client: tuple[str, int] = ("127.0.0.1", 123),
        exit_timeout: float = 5.0,
    ) -> None:
        self._inner = StreamingASGITransport(
            app,
            raise_app_exceptions=raise_app_exceptions,
            root_path=root_path,
            client=client,
            exit_timeout=exit_timeout,
        )
        self._lock = threading.Lock()
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._stack = contextlib.ExitStack()
        self._closed = False

    def _call(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        with self._lock:
            if self._closed:
                raise RuntimeError("SyncASGITransport is closed")
            if self._portal is None:
                self._portal = self._stack.enter_context(
                    anyio.from_thread.start_blocking_portal("asyncio", name="SyncASGITransport")
                )
            portal = self._portal
        return portal.call(partial(func, *args))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        stream = request.stream
        # bytes in memory and multipart forms can be read without blocking; anything else may not
        body = stream if isinstance(stream, httpx.AsyncByteStream) else _read_in_thread(stream)
        response = self._call(self._inner._open, request, body)
        if isinstance(response.stream, _Exchange):
            response.stream = _SyncBody(self, response.stream)
        return response

    def close(self) -> None:
        """Close the responses still open and stop the event loop thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            portal = self._portal
        try:
            if portal is not None:
                portal.call(self._inner.aclose)
        finally:
            self._stack.close()


@contextlib.asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """Run the app's ASGI lifespan (startup, then shutdown) around a block."""
    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    to_app, app_inbox = anyio.create_memory_object_stream[Message](1)
    app_outbox, from_app = anyio.create_memory_object_stream[Message](1)

    crashed: list[Exception] = []

    async def run() -> None:
        async with app_inbox, app_outbox:
            try:
                await app(scope, app_inbox.receive, app_outbox.send)
            except Exception as exc:
                crashed.append(exc)

    async def step(phase: str) -> None:
        try:
            await to_app.send({"type": f"lifespan.{phase}"})
            message = await from_app.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            cause = crashed[0] if crashed else None
            raise ASGIAppError(f"the app ended during lifespan {phase}") from cause
        if message["type"] != f"lifespan.{phase}.complete":
            raise ASGIAppError(f"lifespan {phase} failed: {message.get('message', '')}")

    # A task of its own, not a task group: an error of the block must not become an ExceptionGroup.
    task = asyncio.get_running_loop().create_task(run())
    try:
        await step("startup")
        yield
        await step("shutdown")
    finally:
        task.cancel()  # a no-op once the app has returned
        with anyio.CancelScope(shield=True):
            await asyncio.wait([task])
        for stream in (to_app, app_inbox, app_outbox, from_app):
            stream.close()
