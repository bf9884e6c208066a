"""`IndexedRouter`: Starlette's router, with the route of a request found by index.

Starlette asks every route in turn whether it matches, running each one's regular expression:
GET credits, the contract's ninth operation, cost nine matches on every request (9% of its time
in the app). Here each method has the routes that accept it, in their order, and a path without
parameters is found in a dict. The answer is always the one Starlette's scan gives: the first
route, in the routes' order, that matches the path and the method. A path in the dict is there
only if no route before its own matches it for that method (checked when the index is built),
so the dict never skips a route that the scan would have taken first. Anything that matches no
route fully (a wrong method, a missing path, a trailing slash to redirect) goes to Starlette's
own scan, which answers it as before. A route found runs its app at once: it takes the method (it
is in that method's index), so Route.handle's check for a 405 would only repeat the index's.

`RouteErrors` stands where Starlette's ExceptionMiddleware would: the router's 404 and 405
(raised as HTTPException) become the app's answer. Starlette's layer wraps every request's
``send`` to learn whether the response has begun; a 404 or a 405 is raised before anything is
sent, and the mock's operations answer their own errors, so this one wraps nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["IndexedRouter", "RouteErrors"]

HttpErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


class _Index:
    """The routes of one method, in order, and its parameterless paths by path."""

    __slots__ = ("exact", "routes")

    def __init__(self, method: str, routes: list[BaseRoute]) -> None:
        self.routes = [r for r in routes if _accepts(r, method)]
        self.exact: dict[str, Route] = {}
        for position, route in enumerate(self.routes):
            if not isinstance(route, Route) or route.param_convertors:
                continue
            probe = {"type": "http", "method": method, "path": route.path, "root_path": ""}
            earlier = self.routes[:position]
            if route.path not in self.exact and all(
                r.matches(probe)[0] is Match.NONE for r in earlier
            ):
                self.exact[route.path] = route


def _route_path(scope: Scope) -> str:
    """The path as the routes see it: without the root path (a namespace's /__ns/NAME), as
    Starlette's own routes strip it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root) :] if path[len(root)] == "/" else path


def _accepts(route: BaseRoute, method: str) -> bool:
    methods = getattr(route, "methods", None)
    return methods is None or method in methods


class IndexedRouter(Router):
    """A Router whose requests find their route by method and exact path first (see above)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._indexes: dict[str, _Index] = {}
        self._indexed = 0  # how many routes the indexes were built from

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        index = self._index(scope["method"])
        found: BaseRoute | None = index.exact.get(_route_path(scope))
        child: Scope
        if found is not None:
            params = scope.get("path_params")
            child = {"endpoint": found.endpoint, "path_params": dict(params) if params else {}}  # type: ignore[attr-defined]
        else:
            for route in index.routes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    found = route
                    break
        if found is None:  # a wrong method, no such path: Starlette's answers
            await super().app(scope, receive, send)
            return
        scope.setdefault("router", self)
        scope["route"] = found
        scope.update(child)
        if isinstance(found, Route):  # its method is one it takes (the index): no 405 to check
            await found.app(scope, receive, send)
        else:
            await found.handle(scope, receive, send)

    def _index(self, method: str) -> _Index:
        index = self._indexes.get(method)
        if index is None or self._indexed != len(self.routes):
            if self._indexed != len(self.routes):  # routes added (create_app adds them late)
                self._indexes, self._indexed = {}, len(self.routes)
            index = self._indexes[method] = _Index(method, self.routes)
        return index


class RouteErrors:
    """ASGI middleware, innermost: an HTTPException (the router's 404 or 405) answered by
    ``handler``."""

    def __init__(self, app: ASGIApp, handler: HttpErrorHandler) -> None:
        self.app = app
        self.handler = handler
        # what Starlette's own wrapper of a function endpoint (request_response) looks up
        self.handlers: tuple[dict[Any, HttpErrorHandler], dict[int, HttpErrorHandler]] = (
            {HTTPException: handler},
            {},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["starlette.exception_handlers"] = self.handlers
        try:
            await self.app(scope, receive, send)
        except HTTPException as exc:
            if scope["type"] != "http":
                raise
            response = await self.handler(Request(scope, receive), exc)
            await response(scope, receive, send)
