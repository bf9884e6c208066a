"""The indexed router picks, for every request, the route Starlette's own scan picks, and the
router's 404 and 405 leave as the envelope."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from starlette.routing import Route, Router

from mock_backend.settings import Settings
from mock_backend.web.app import create_app
from mock_backend.web.routing import IndexedRouter

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")


def probes(router: Router) -> list[tuple[str, str, str]]:
    """(method, path, root_path) for every route's path, filled in, and some that match none."""
    paths = {"/", "/nope", "/api", "/api/credits/balance/simple/", "/__mock/health/x"}
    for route in router.routes:
        path = getattr(route, "path", None)
        if path:
            filled = re.sub(r"{[^}]+}", "x1", path)
            paths |= {filled, filled + "/", filled + "/extra"}
    found = [(m, p, "") for m in METHODS for p in sorted(paths)]
    # as a namespace's requests arrive: routed without their /__ns/NAME prefix
    found += [(m, "/__ns/a" + p, "/__ns/a") for m in ("GET", "POST") for p in sorted(paths)]
    return found


def chosen(router: Router, method: str, path: str, root: str) -> tuple[Any, ...]:
    """Which route ``router`` hands the request to, with which path parameters, or its answer."""
    seen: list[tuple[Any, ...]] = []
    sent: list[int] = []

    def reached(route: Any) -> Any:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            seen.append((route, scope.get("path_params"), scope.get("endpoint")))

        return app

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.append(message["status"])

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": method, "path": path, "root_path": root, "headers": []}

    apps = {id(route): route.app for route in router.routes}  # what each route would run
    try:
        for route in router.routes:
            route.app = reached(route)
        asyncio.run(router.app(scope, receive, send))
    finally:
        for route in router.routes:
            route.app = apps[id(route)]
    return (*seen[0],) if seen else ("answered", *sent)


def test_the_index_picks_what_starlettes_scan_picks() -> None:
    app = create_app(Settings())
    indexed = app.router
    assert isinstance(indexed, IndexedRouter)
    plain = Router(routes=indexed.routes)
    cases = probes(plain)
    assert len(cases) > 500
    differ = [(m, p, r) for m, p, r in cases if chosen(indexed, m, p, r) != chosen(plain, m, p, r)]
    assert not differ, f"the index routes these unlike Starlette: {differ[:5]}"


def test_an_earlier_route_that_matches_keeps_its_precedence() -> None:
    """A path without parameters that an earlier route also matches is not taken from the dict."""

    async def first(request: Any) -> Any: ...

    async def second(request: Any) -> Any: ...

    routes = [Route("/items/{name}", first), Route("/items/all", second)]
    indexed, plain = IndexedRouter(routes=routes), Router(routes=routes)
    for path in ("/items/all", "/items/one"):
        assert chosen(indexed, "GET", path, "") == chosen(plain, "GET", path, "")
    assert chosen(indexed, "GET", "/items/all", "")[0] is routes[0]


@pytest.mark.parametrize(
    ("method", "path", "status", "says"),
    [
        ("DELETE", "/api/credits/balance/simple", 405, "DELETE is not allowed on"),
        ("GET", "/api/nothing-here", 404, "no operation at /api/nothing-here"),
    ],
)
def test_the_routers_refusals_are_the_envelope(
    method: str, path: str, status: int, says: str
) -> None:
    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(Settings()))
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
            return await client.request(method, path)

    answer = asyncio.run(ask())
    assert answer.status_code == status
    body = answer.json()
    assert body["code"] == status, body
    assert says in body["message"], body
