"""A real uvicorn server in a background thread, for clients that need a socket.

The in-process transports (transport.py) cover clients that accept an `httpx.Client`; a client
in another process, a CLI or schemathesis's ``st run`` needs a URL. `LiveServer` binds the port
itself (a free one by default), so the port is known and a bind error is raised in the caller's
thread, and runs uvicorn on it in a daemon thread.

Stopping sets ``server.should_exit``; it never sends a signal, and uvicorn's signal handlers are
never installed (a signal meant for one test server reaches the whole process). Nothing is lost
in the thread: an error that ends the server, and, with ``raise_app_exceptions``, the first
exception of the app while serving a request, are raised again by `stop()`.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from ..control.redact import redact_logs
from ..errors import MockBackendError
from ..openapi.limits import Limits
from .connections import PARSER, Parser, guarded_protocol

__all__ = ["DrainingServer", "LiveServer", "ServerError", "serve_config", "server_limits"]


class ServerError(MockBackendError):
    """The server did not start, did not stop in time, or its thread ended abnormally."""


def server_limits(limits: Limits, parser: Parser = PARSER) -> dict[str, Any]:
    """uvicorn settings that enforce the contract's connection limits: the guarded protocol
    (httptools' where it can be imported: deadline on each request head, the head's size,
    enveloped refusals); X-Forwarded-For is not believed (a client on loopback could otherwise
    pose as any address, and so get past the per-IP token limit). No WebSocket protocol is
    loaded (the contract has none), and the loop is uvloop where it can be imported."""
    return {
        "http": guarded_protocol(limits, parser),
        "h11_max_incomplete_event_size": limits.header_bytes,  # read by h11's protocol only
        "proxy_headers": False,
        "ws": "none",
        "loop": "auto",
    }


def serve_config(app: Any, log_level: str) -> uvicorn.Config:
    """How `nemo-mock serve` (and each of its workers) runs ``app``: the limits above, no
    ``server`` header, and uvicorn's access log only at ``info`` or ``debug``, where its lines
    are shown. At a quieter level uvicorn still formats each line's client address and path
    before the logger drops it: 2% of a GET credits (the journal has every request anyway)."""
    return uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="on",
        access_log=log_level in ("info", "debug", "trace"),
        server_header=False,  # "server: uvicorn" would tell a client nothing about NemoVideo
        **server_limits(app.state.backend.limits),
    )


class DrainingServer(uvicorn.Server):
    """A uvicorn server that ends open streams before it waits for connections to finish.

    uvicorn drains in-flight responses before the lifespan shutdown, so an app's endless SSE
    streams would hold a stop for the whole graceful timeout. An app that sets
    ``app.state.before_shutdown`` (the mock does: it ends its runs) is asked first.
    """

    def __init__(self, config: uvicorn.Config, app: object) -> None:
        super().__init__(config)
        self.before_shutdown = getattr(getattr(app, "state", None), "before_shutdown", None)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if callable(self.before_shutdown):
            self.before_shutdown()
        await super().shutdown(sockets)


class _ThreadedServer(DrainingServer):
    """A uvicorn server that leaves signal handling to the process that owns the main thread."""

    install_signal_handlers = False

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class LiveServer:
    """Serve `app` over TCP from a background thread.

    ``port=0`` picks a free port; `url` tells which. ``shutdown_timeout`` bounds how long open
    connections (an endless event stream, say) may hold up `stop()` before they are cancelled.
    ``parser`` picks the guarded protocol of a mock's app (`server_limits`): httptools by
    default where it can be imported, h11 to test the fallback.
    """

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        raise_app_exceptions: bool = True,
        startup_timeout: float = 10.0,
        shutdown_timeout: float = 5.0,
        parser: Parser = PARSER,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.raise_app_exceptions = raise_app_exceptions
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self.parser: Parser = parser
        self.app_errors: list[Exception] = []
        self._server: _ThreadedServer | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._stopped = False

    @property
    def url(self) -> str:
        """The base URL, such as ``http://127.0.0.1:40123``; known once `start()` returned."""
        if self._server is None:
            raise ServerError("the server has not been started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            if scope["type"] != "lifespan":  # uvicorn's lifespan="auto" probes with one
                self.app_errors.append(exc)
            raise

    def start(self) -> LiveServer:
        """Start serving; return once the server accepts connections."""
        if self._server is not None:
            raise ServerError("the server has already been started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP: asyncio sets TCP_NODELAY only then (else ~40 ms per keep-alive reply)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        backend = getattr(getattr(self.app, "state", None), "backend", None)
        config = uvicorn.Config(
            self._app,
            interface="asgi3",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=math.ceil(self.shutdown_timeout),
            **(server_limits(backend.limits, self.parser) if backend is not None else {}),
        )
        redact_logs("uvicorn.error")  # tokens never in its lines; scripted cuts in one line
        server = self._server = _ThreadedServer(config, self.app)
        self._thread = threading.Thread(
            target=self._serve, args=(server, sock), name=f"LiveServer:{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not server.started:
            if not self._thread.is_alive():
                self._thread.join()
                self._stopped = True
                raise ServerError(f"{self.url} did not start") from self._error
            if time.monotonic() > deadline:
                self._stopped = True
                self._halt(server, self._thread)
                raise ServerError(f"{self.url} did not start in {self.startup_timeout} s")
            time.sleep(0.005)
        return self

    def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit included: uvicorn exits when startup fails
            self._error = exc
        finally:
            sock.close()

    def _halt(self, server: uvicorn.Server, thread: threading.Thread) -> None:
        server.should_exit = True
        thread.join(self.shutdown_timeout + 5.0)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5.0)
        if thread.is_alive():
            raise ServerError(f"{self.url} did not stop")

    def stop(self) -> None:
        """Stop serving; raise what went wrong in the server thread, or in the app."""
        if self._server is None or self._thread is None or self._stopped:
            return
        self._stopped = True
        self._halt(self._server, self._thread)
        if isinstance(self._error, Exception):
            raise self._error
        if self._error is not None:  # SystemExit: raised again, it would end the test session
            raise ServerError(f"{self.url} ended with {self._error!r}") from self._error
        if self.app_errors and self.raise_app_exceptions:
            raise self.app_errors[0]

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
