"""`Crashes`: the outermost layer, where a bug anywhere below still gets the 500 envelope.

Starlette's ServerErrorMiddleware does this by wrapping every request's ``send`` to learn whether
the response has begun, so that a crash after the head went out is not answered twice: two more
calls for every message of every request. Here nothing is wrapped. On a crash the answer is
tried, and if the response had begun the server refuses its second start (every ASGI server
does: uvicorn's protocols, httpx's transport, the mock's own), so the connection ends as it did.
Either way the error goes on up, for the server to log, as with Starlette's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["CrashHandler", "Crashes"]

CrashHandler = Callable[[Request, Exception], Awaitable[Response]]


class Crashes:
    """ASGI middleware: an exception from ``app`` is answered by ``handler``'s response when
    nothing of the response has gone out yet, then raised on."""

    def __init__(self, app: ASGIApp, handler: CrashHandler) -> None:
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            response = await self.handler(Request(scope), exc)
            # refused when the response had begun: then there is nothing more to say
            with contextlib.suppress(Exception):
                await response(scope, receive, send)
            raise
