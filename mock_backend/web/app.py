"""`create_app`: the Starlette application, built from openapi.yaml.

Each operation of the contract becomes a route whose handler is bound by ``operationId``;
start-up fails if the contract and the handlers disagree. Every request is checked against the
contract before its handler runs (auth first, then headers, path, query and body), and every
error leaves as the documented envelope, never a framework's 422 shape, never a bare 500.

Starlette, not FastAPI: the routes are Starlette's and the contract does the validating, so
FastAPI added only its own middleware to every request (a body limit the mock enforces itself,
exception telemetry, an exit stack for dependencies it has none of): measured, about 10% of a
GET credits and 2 KB of every open event stream.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..backend import Backend
from ..control.effects import apply_effects, responds, scripted_response
from ..control.journal import Entry, JournalMiddleware
from ..control.overrides import NO_OVERRIDES
from ..control.redact import fingerprint
from ..control.rules import RequestFacts
from ..errors import ApiError, ContractError, StreamCut
from ..namespace_settings import apply_overrides
from ..namespaces import NamespaceMiddleware, Namespaces, backend_of
from ..openapi import json_text
from ..openapi.envelope import Answer, FlatBody, error_response
from ..openapi.json_text import JsonRejected
from ..openapi.limits import read_body
from ..openapi.spec import Operation, Spec, load_spec
from ..openapi.validation import check_body, check_parameters
from ..settings import Settings
from ..state.clock import Clock
from ..state.store import Store
from .cdn import cdn_routes
from .connections import RequestLimits
from .crashes import Crashes, CrashHandler
from .handlers import Call, Handler, all_handlers
from .routing import HttpErrorHandler, IndexedRouter, RouteErrors

__all__ = ["bind_handlers", "create_app"]

log = logging.getLogger("nemo_mock")


def bind_handlers(spec: Spec, handlers: dict[str, Handler]) -> dict[str, Handler]:
    """Fail loudly unless every operation has exactly one handler and every handler an operation."""
    missing = sorted(set(spec.operations) - set(handlers))
    extra = sorted(set(handlers) - set(spec.operations))
    if missing or extra:
        raise ContractError(
            f"openapi.yaml and the handlers disagree: operations without a handler {missing}, "
            f"handlers without an operation {extra}"
        )
    return handlers


def _facts(backend: Backend, operation: Operation, request: Request, raw: bytes) -> RequestFacts:
    """What rules can match on, read leniently (the request is validated later)."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    token = None
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        token = value.strip()
    record = backend.store.get_token(token) if token else None
    body: Any = None
    if raw and "json" in headers.get("content-type", ""):
        try:
            body = json_text.loads(raw, max_depth=backend.limits.json_depth)
        except JsonRejected:
            body = None
    session_id = request.path_params.get("session_id")
    if session_id is None and isinstance(body, dict):
        found = body.get("session_id", body.get("sessionId"))
        session_id = found if isinstance(found, str) else None
    if session_id is None and "render_id" in request.path_params:
        render = backend.store.get_render(request.path_params["render_id"])
        session_id = render.session_id if render else None
    return RequestFacts(
        operation=operation.operation_id,
        method=request.method,
        path=request.url.path,
        token=token,
        client_id=headers.get("x-client-id") or (record.client_id if record else None),
        session_id=session_id,
        user_id=record.user_id if record else None,
        headers=headers,
        body=body,
    )


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


class _OperationApp:
    """An operation's endpoint as a bare ASGI app. Given a function, Starlette's Route wraps it
    in a second exception-handling layer, which the app's own ExceptionMiddleware repeats: two
    frames more on every request, and on every held event stream."""

    __slots__ = ("endpoint",)

    def __init__(self, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.endpoint(Request(scope, receive, send))
        await response(scope, receive, send)


def _endpoint(operation: Operation, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    reads_json = bool(operation.body_schemas) and not handler.reads_body

    async def endpoint(request: Request) -> Response:
        scope = request.scope
        backend = backend_of(request)
        profile = backend.profile
        entry: Entry | None = scope.get("state", {}).get("journal_entry")
        # ASGI header names are lower-case already
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        token = _bearer(headers)
        if entry is not None:
            entry.operation = operation.operation_id
            entry.token = fingerprint(token) if token else None
            entry.client_id = headers.get("x-client-id")
            entry.session_id = request.path_params.get("session_id")
        overrides = NO_OVERRIDES
        try:
            raw = await read_body(request, backend.limits.json_body_bytes) if reads_json else b""
            oneshot = headers.get("x-mock-scenario")
            if oneshot or backend.scenarios.has_rules:  # rules cost nothing when there are none
                facts = _facts(backend, operation, request, raw)
                extra = backend.scenarios.build({"name": oneshot}) if oneshot else None
                fired = backend.scenarios.resolve(facts, extra)
                for rule in fired:
                    overrides = apply_effects(backend, rule, facts, overrides)
                if overrides.rest_statuses:
                    profile = backend.rest_profile
                if entry is not None and fired:
                    entry.rule = ", ".join(f"{r.name or 'rule'}:{r.id}" for r in fired)
                    entry.session_id = entry.session_id or facts.session_id
                scripted = next((r for r in fired if responds(r)), None)
                if scripted is not None:
                    return await scripted_response(backend, scripted, facts, profile)
            caller = None
            if operation.secured:
                caller = backend.accounts.authenticate(
                    headers.get("authorization"), operation.scope
                )
                if entry is not None:
                    entry.user_id = caller.user_id
                    entry.client_id = entry.client_id or caller.token.client_id
            params = check_parameters(
                backend.spec,
                operation,
                headers,
                request.path_params,
                dict(request.query_params) if scope["query_string"] else {},
            )
            if reads_json:
                params.body = check_body(
                    backend.spec,
                    operation,
                    headers.get("content-type"),
                    raw,
                    max_depth=backend.limits.json_depth,
                )
                if entry is not None and isinstance(params.body, dict):
                    session = params.body.get("session_id", params.body.get("sessionId"))
                    entry.session_id = entry.session_id or session
            call = Call(request, operation, params, caller, backend, overrides)
            result = await handler.fn(call)
        except ApiError as error:
            return error_response(error, profile)
        if isinstance(result, Response):
            return result
        return Answer(result) if isinstance(result, FlatBody) else Answer.ok(result)

    endpoint.__name__ = operation.operation_id
    return endpoint


def create_app(
    settings: Settings | None = None,
    *,
    spec: Spec | None = None,
    clock: Clock | None = None,
    handlers: dict[str, Handler] | None = None,
    store: Store | None = None,
) -> Starlette:
    """A mock NemoVideo backend. State lives on ``app.state.backend`` (the default namespace)
    and ``app.state.namespaces`` (every namespace, namespaces.py); nothing is global.

    The records live in ``store`` if given, else in the one ``settings.state`` names; each
    namespace in a store of the same kind (`Store.namespace`).
    """
    settings = settings or Settings()
    spec = spec or load_spec()
    table = bind_handlers(spec, handlers if handlers is not None else all_handlers())
    backend = Backend(settings, spec=spec, clock=clock, store=store)

    # every namespace's journal gets a share of the default's budget, so that all of them at
    # their limit hold at most four default journals: a caller inventing namespaces and filling
    # their journals cannot take the server's memory
    share = 4 / max(4, settings.max_namespaces)
    journal_share = (("journal_bytes", max(1 << 20, int(backend.limits.journal_bytes * share))),)

    def namespace(name: str) -> Backend:
        own = settings.with_(
            journal_limit=max(500, int(settings.journal_limit * share)),
            limits=(*settings.limits, *journal_share),
        )
        if settings.data_dir is not None:
            own = own.with_(data_dir=settings.data_dir / "namespaces" / name)
        store = backend.store.namespace(name)
        # the settings it chose (PUT /__mock/namespace), whichever process it chose them in
        own = apply_overrides(own, store.settings_overrides())
        return Backend(own, spec=spec, store=store)

    def released(name: str) -> None:  # no process uses it: its files go with its records
        if settings.data_dir is not None:
            shutil.rmtree(settings.data_dir / "namespaces" / name, ignore_errors=True)

    namespaces = Namespaces(
        backend,
        namespace,
        idle_seconds=settings.namespace_idle,
        limit=settings.max_namespaces,
        now=backend.clock.wall,
        released=released,
    )

    async def sweep_namespaces() -> None:  # idle ones go even when no request comes
        while True:
            await asyncio.sleep(namespaces.period)
            try:
                namespaces.sweep()
            except Exception:  # a Redis hiccup: the next sweep tries again
                log.exception("sweeping idle namespaces failed; trying again later")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(sweep_namespaces())
        try:
            yield
        finally:
            sweeper.cancel()
            namespaces.close()

    app = _MockApp()
    app.router = IndexedRouter(lifespan=lifespan)
    app.state.backend = backend
    app.state.namespaces = namespaces
    app.state.before_shutdown = namespaces.end_streams  # called by DrainingServer
    for operation in spec.operations.values():
        app.router.routes.append(
            Route(
                operation.path,
                _OperationApp(_endpoint(operation, table[operation.operation_id])),
                methods=[operation.method],
                name=operation.operation_id,
            )
        )
    app.router.routes.extend(cdn_routes())
    from ..control.admin import admin_routes
    from ..control.console import console_routes

    app.router.routes.extend(admin_routes())
    app.router.routes.extend(console_routes())

    async def contract(_: Request) -> Response:
        assert spec.path is not None
        return Response(spec.path.read_bytes(), media_type="application/yaml")

    app.router.routes.append(Route("/openapi.yaml", contract, methods=["GET"]))
    _install_error_handlers(app, backend)
    app.add_middleware(
        RequestLimits,
        seconds=backend.limits.request_seconds,
        header_bytes=backend.limits.header_bytes,
    )
    app.add_middleware(JournalMiddleware, journal_of=lambda scope: backend_of_scope(scope).journal)
    app.add_middleware(NamespaceMiddleware, namespaces=namespaces)  # outermost
    return app


def backend_of_scope(scope: Any) -> Backend:
    found: Backend = scope["state"]["backend"]
    return found


class _MockApp(Starlette):
    """Starlette, with leaner layers where Starlette puts its own: `Crashes` outermost instead
    of its ServerErrorMiddleware (crashes.py says why), then the middlewares, then `RouteErrors`
    instead of its ExceptionMiddleware (routing.py), then the router."""

    http_error: HttpErrorHandler
    crash: CrashHandler

    def build_middleware_stack(self) -> ASGIApp:
        app: ASGIApp = RouteErrors(self.router, self.http_error)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return Crashes(app, self.crash)


def _install_error_handlers(app: _MockApp, backend: Backend) -> None:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 405:
            error = ApiError(405, f"{request.method} is not allowed on {request.url.path}")
        elif exc.status_code == 404:
            error = ApiError(404, f"no operation at {request.url.path}; see /openapi.yaml")
        else:
            error = ApiError(exc.status_code, str(exc.detail))
        return error_response(error, backend.profile, dict(exc.headers or {}))

    async def crash(request: Request, exc: Exception) -> Response:
        if isinstance(exc, StreamCut):  # scripted: the response has started, nothing to send
            log.info("scripted stream cut on %s", request.url.path)
            return Response(status_code=500)
        log.exception("bug in the mock while answering %s %s", request.method, request.url.path)
        body: dict[str, Any] = {
            "code": 500,
            "message": f"the mock failed on this request ({type(exc).__name__}); this is a bug "
            "in nemo-mock, please report it with the request",
            "data": None,
        }
        return JSONResponse(body, status_code=500)

    app.http_error = http_error
    app.crash = crash
