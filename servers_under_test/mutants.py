"""Provider mutants: the mock with one documented promise broken, and the check that must say so.

Each `ServerMutant` builds an ASGI app from `create_app`: a handler replaced (``handlers``) or a
thin wrapper that changes what goes in or out (``wrap``). `tests/contract/test_provider_mutants.py`
serves each one and asserts that the provider's behaviour checks fail on exactly ``breaks``,
with ``says`` in the failure, while the unbroken mock passes them all.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_backend.errors import ApiError
from mock_backend.settings import Settings
from mock_backend.web.app import create_app
from mock_backend.web.handlers import Call, Handler, Result, all_handlers

__all__ = ["MUTANTS", "ServerMutant"]

Wrap = Callable[[ASGIApp], ASGIApp]


@dataclass(frozen=True)
class ServerMutant:
    name: str
    about: str  # the promise it breaks
    breaks: str  # the provider check that must fail on it, and only that one
    says: str  # words the failure must contain: it fails for this reason, not another
    handlers: dict[str, Callable[[Handler], Handler]] = field(default_factory=dict)
    wrap: Wrap | None = None

    def app(self, settings: Settings) -> ASGIApp:
        table = all_handlers()
        for operation, change in self.handlers.items():
            table[operation] = change(table[operation])
        app = create_app(settings, handlers=table)
        return _Wrapped(self.wrap(app), app) if self.wrap else app


class _Wrapped:
    """A wrapper that still shows the mock's ``state`` (LiveServer reads its limits there)."""

    def __init__(self, outer: ASGIApp, inner: Any) -> None:
        self.outer = outer
        self.state = inner.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.outer(scope, receive, send)


# -- handlers changed --------------------------------------------------------------------------


def _without_frozen(original: Handler) -> Handler:
    async def fn(call: Call) -> Result:
        user = call.me.user
        return {"available": user.available, "total": user.total}

    return Handler(fn)


def _wrong_session_code(original: Handler) -> Handler:
    async def fn(call: Call) -> Result:
        try:
            return await original.fn(call)
        except ApiError as error:
            if error.code != 1002:
                raise
            return JSONResponse({"code": 1003, "message": error.message, "data": None})

    return Handler(fn, original.reads_body)


def _misshapen_events(original: Handler) -> Handler:
    async def fn(call: Call) -> Result:
        result = await original.fn(call)
        if isinstance(result, Response) and hasattr(result, "body_iterator"):
            result.body_iterator = _first_event_spoiled(result.body_iterator)
        return result

    return Handler(fn, original.reads_body)


async def _first_event_spoiled(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    spoiled = False
    async for chunk in chunks:
        if not spoiled and chunk.startswith(b"data: {"):
            spoiled = True
            chunk = b'data: ["not", "an", "event"]\n\n'
        yield chunk


def _render_view_changed(
    change: Callable[[dict[str, Any], dict[str, Any]], None],
) -> Callable[[Handler], Handler]:
    """A getRender whose JSON views pass through ``change(view, memory)`` (memory per render)."""

    def wrap(original: Handler) -> Handler:
        memories: dict[str, dict[str, Any]] = {}

        async def fn(call: Call) -> Result:
            result = await original.fn(call)
            if isinstance(result, dict):
                change(result, memories.setdefault(call.params.path["render_id"], {}))
            return result

        return Handler(fn, original.reads_body)

    return wrap


def _set_status(view: dict[str, Any], status: str, progress: int) -> None:
    view["status"], view["progress"] = status, progress
    if isinstance(view.get("data"), dict):
        view["data"] = {**view["data"], "status": status, "progress": progress}


def _back_to_pending(view: dict[str, Any], memory: dict[str, Any]) -> None:
    if view.get("status") != "processing":
        return
    memory["processing"] = memory.get("processing", 0) + 1
    if memory["processing"] == 2:  # the second processing poll says pending again
        _set_status(view, "pending", 0)


def _progress_falls(view: dict[str, Any], memory: dict[str, Any]) -> None:
    if view.get("status") != "processing":
        return
    last = memory.get("last")
    if last is not None and last >= 1 and not memory.get("fell"):
        memory["fell"] = True
        _set_status(view, "processing", last - 1)
    memory["last"] = view["progress"]


# -- requests or answers changed on the way ------------------------------------------------------


def _adding_headers(path: str, added: list[tuple[bytes, bytes]]) -> Wrap:
    """Requests to ``path`` get the ``added`` headers they lack, as if the server never
    required them."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"] == path:
                names = {name for name, _ in scope["headers"]}
                extra = [(name, value) for name, value in added if name not in names]
                scope = {**scope, "headers": [*scope["headers"], *extra]}
            await app(scope, receive, send)

        return wrapped

    return wrap


def _crash_on_bad_json(app: ASGIApp) -> ASGIApp:
    """A JSON body that does not parse answers 500 instead of the documented 422."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        if scope["type"] != "http" or b"json" not in headers.get(b"content-type", b""):
            await app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            json.loads(body or b"null")
        except ValueError:
            await Response("Internal Server Error", status_code=500)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await app(scope, replay, send)

    return wrapped


ATTRIBUTION = [
    (b"x-skill-source", b"mutant"),
    (b"x-skill-version", b"1.0.0"),
    (b"x-skill-platform", b"unknown"),
]

_ALL = [
    ServerMutant(
        "frozen_dropped",
        "the balance leaves out `frozen`",
        "credits_consistent",
        "frozen missing",
        handlers={"getCredits": _without_frozen},
    ),
    ServerMutant(
        "wrong_session_code",
        "an unknown session answers code 1003, not 1002",
        "documented_refusals",
        "code 1003",
        handlers={"getSessionState": _wrong_session_code},
    ),
    ServerMutant(
        "misshapen_event",
        "the stream's first event is not an event",
        "stream_events",
        "event 0",
        handlers={"runSse": _misshapen_events},
    ),
    ServerMutant(
        "status_backwards",
        "a processing render says pending again",
        "render_lifecycle",
        "status moved backwards",
        handlers={"getRender": _render_view_changed(_back_to_pending)},
    ),
    ServerMutant(
        "progress_falls",
        "a render's progress falls once",
        "render_lifecycle",
        "progress fell",
        handlers={"getRender": _render_view_changed(_progress_falls)},
    ),
    ServerMutant(
        "client_id_optional",
        "a token is issued without X-Client-Id",
        "documented_refusals",
        "without X-Client-Id",
        wrap=_adding_headers("/api/auth/anonymous-token", [(b"x-client-id", b"anyone")]),
    ),
    ServerMutant(
        "crash_on_bad_json",
        "a body that is not JSON answers 500",
        "documented_refusals",
        "HTTP 500",
        wrap=_crash_on_bad_json,
    ),
    ServerMutant(
        "no_attribution_check",
        "an export without the attribution headers is accepted",
        "documented_refusals",
        "without X-Skill-Source",
        wrap=_adding_headers("/api/render/proxy/lambda", ATTRIBUTION),
    ),
]
MUTANTS = {mutant.name: mutant for mutant in _ALL}
