"""`nemo-mock serve --replay DIR`: a recording served back, as the upstream answered it.

A request is matched by what it means, not by its bytes: its operation (from the contract; a
call outside the contract, such as a CDN file, by method and path) and its order within its
session. The n-th ``getRender`` of session ``ses_1`` gets the n-th recorded one; past the
recorded count the last answer repeats (a client that polls more often than the recorded one
still reaches the end). Values that change from run to run are carried over: the upstream's
address becomes the replay server's, and a render id the client chose anew replaces the
recorded one in the answers about it.

An event stream is sent again event by event, each after its recorded gap, slept on the
server's `Clock` (``--clock scaled:100`` replays a 5-minute run in 3 s). A request that matches
nothing gets the error envelope, naming the nearest recorded exchange.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..errors import ApiError
from ..openapi.envelope import default_profile, error_response
from ..openapi.spec import Spec, load_spec
from ..state.clock import Clock
from .bodies import TEXT_LIMIT, is_textual
from .cassette import OUTSIDE, Recording, SessionKeys
from .proxy import METHODS

__all__ = ["create_replayer", "nearest"]

_NOT_REPLAYED = frozenset({"date", "server", "content-length", "content-type"})


def _key(exchange: dict[str, Any]) -> str:
    """What identifies a call's kind: its operation, or method and path outside the contract."""
    if exchange.get("operation"):
        return str(exchange["operation"])
    return f"{exchange['request']['method']} {exchange['request']['path']}"


def _where(session: str, exchange: dict[str, Any]) -> str:
    request = exchange["request"]
    what = exchange.get("operation") or "outside the contract"
    return (
        f"#{exchange['seq']} {request['method']} {request['path']} ({what}) "
        f"in sessions/{session}.yaml"
    )


def nearest(recording: Recording, session: str, key: str, method: str, path: str) -> str:
    """The recorded exchange closest to an unmatched call, in words."""
    same_kind = [(name, e) for name, es in recording.sessions.items() for e in es if _key(e) == key]
    if same_kind:
        name, exchange = same_kind[0]
        return f"the same call in another session: {_where(name, exchange)}"
    in_session = recording.sessions.get(session, [])
    if in_session:
        return f"a call of the same session: {_where(session, in_session[0])}"
    every = [(name, e) for name, es in recording.sessions.items() for e in es]
    if not every:
        return "none: the recording is empty"

    def likeness(item: tuple[str, dict[str, Any]]) -> tuple[int, int]:
        request = item[1]["request"]
        shared = 0
        for a, b in zip(request["path"], path, strict=False):
            if a != b:
                break
            shared += 1
        return (request["method"] == method, shared)

    name, exchange = max(every, key=likeness)
    return _where(name, exchange)


class Replayer:
    def __init__(self, recording: Recording, *, clock: Clock, spec: Spec) -> None:
        self.recording = recording
        self.clock = clock
        self.spec = spec
        self.keys = SessionKeys()
        self.seen: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self.upstream = recording.upstream.rstrip("/")
        self.aliases: dict[str, str] = {}  # an id chosen anew → the recorded one

    async def handle(self, request: Request) -> Response:
        method, path = request.method, request.url.path
        found = self.spec.match(method, path)
        operation = found[0].operation_id if found else None
        params = found[1] if found else {}
        raw = bytearray()
        async for chunk in request.stream():  # an upload is read to its end, and dropped
            if len(raw) <= TEXT_LIMIT:
                raw += chunk
        parsed: Any = None
        if is_textual(request.headers.get("content-type")):
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
        session = self.keys.key(operation, params, parsed)
        if operation is None:  # an address the replay handed out with a new id in it
            path = _swapped(path, [(new, old) for new, old in self.aliases.items()])
        key = operation or f"{method} {path}"
        exchange = self._take(session, key)
        if exchange is None:
            where = f"session {session}" if session != OUTSIDE else "no session"
            error = ApiError(
                404,
                f"replay: nothing recorded matches {method} {path} "
                f"({operation or 'outside the contract'}, {where}); nearest: "
                f"{nearest(self.recording, session, key, method, path)}. Replay the flow that "
                "was recorded, or record this one with `nemo-mock record`",
                data={"field": "replay", "operation": operation, "session": session},
            )
            return error_response(error, default_profile())
        swaps = self._swaps(exchange, params, parsed, str(request.base_url).rstrip("/"))
        return self._answer(exchange, swaps)

    def _take(self, session: str, key: str) -> dict[str, Any] | None:
        candidates = [e for e in self.recording.sessions.get(session, []) if _key(e) == key]
        if not candidates and session == OUTSIDE and " " in key:
            # a file fetched by its address: the address alone says which
            candidates = [
                e for es in self.recording.sessions.values() for e in es if _key(e) == key
            ]
        where = session
        if not candidates and session == OUTSIDE:
            # a call that opens a session (createSession) sits in the file of the session it
            # opened: the n-th such call gets the n-th recorded one, whichever session
            where = "*"
            candidates = [
                e for e in self.recording.exchanges() if _key(e) == key and self._opens(e)
            ]
        if not candidates:
            return None
        with self._lock:
            index = self.seen[(where, key)]
            self.seen[(where, key)] += 1
        return candidates[min(index, len(candidates) - 1)]

    def _opens(self, exchange: dict[str, Any]) -> bool:
        """A recorded call that names no session and no render, yet sits in a session's file:
        the call that created that session."""
        request = exchange["request"]
        found = self.spec.match(request["method"], request["path"])
        body = (request.get("body") or {}).get("json")
        named = SessionKeys().key(exchange.get("operation"), {}, body) != OUTSIDE
        return found is not None and not found[1] and not named

    def _swaps(
        self, exchange: dict[str, Any], params: dict[str, str], parsed: Any, base: str
    ) -> list[tuple[str, str]]:
        """Recorded values to replace in the answer: the upstream's address, and ids the
        client chose anew this time (a render id in the path or as the body's ``id``)."""
        swaps = [(self.upstream, base)] if self.upstream else []
        recorded = exchange["request"]
        then = self.spec.match(recorded["method"], recorded["path"])
        for name, value in params.items():
            old = then[1].get(name) if then else None
            if old and old != value and name != "session_id":
                swaps.append((old, value))
        body = (recorded.get("body") or {}).get("json")
        if isinstance(parsed, dict) and isinstance(body, dict):
            old, new = body.get("id"), parsed.get("id")
            if isinstance(old, str) and isinstance(new, str) and old != new:
                swaps.append((old, new))
        with self._lock:
            self.aliases.update((new, old) for old, new in swaps[1:] if old != self.upstream)
        return swaps

    def _answer(self, exchange: dict[str, Any], swaps: list[tuple[str, str]]) -> Response:
        response = exchange["response"]
        status = int(response["status"])
        headers = {
            k: _swapped(v, swaps)
            for k, v in response.get("headers", {}).items()
            if k not in _NOT_REPLAYED and k != "set-cookie"
        }
        kind = response.get("headers", {}).get("content-type")
        body = response.get("body") or {}
        if "events" in response:
            return StreamingResponse(
                self._stream(response),
                status_code=status,
                headers=headers,
                media_type=kind or "text/event-stream",
            )
        if "json" in body:
            text = _swapped(json.dumps(body["json"], ensure_ascii=False), swaps)
            return Response(text, status_code=status, headers=headers, media_type=kind)
        if "text" in body:
            return Response(_swapped(body["text"], swaps), status, headers, media_type=kind)
        if "media" in body:
            file = self.recording.media_file(body)
            if file is None:
                media = body["media"]
                error = ApiError(
                    404,
                    f"replay: this answer was recorded as its sha256 {media.get('sha256')} and "
                    f"size {media.get('size')} only; record again with --keep-media to replay "
                    "its bytes",
                    data={"field": "replay", "seq": exchange["seq"]},
                )
                return error_response(error, default_profile())
            return FileResponse(file, status_code=status, headers=headers, media_type=kind)
        return Response(b"", status_code=status, headers=headers, media_type=kind)

    async def _stream(self, response: dict[str, Any]) -> AsyncIterator[bytes]:
        """The recorded events, each after its recorded gap on the clock, then the close."""
        last = 0.0
        for event in response["events"]:
            at = float(event.get("at", last))
            if at > last:
                await self.clock.sleep(at - last)
                last = at
            yield _frame(event)
        closed = float(response.get("closed_at", last))
        if closed > last:
            await self.clock.sleep(closed - last)


def _swapped(text: str, swaps: list[tuple[str, str]]) -> str:
    for old, new in swaps:
        text = text.replace(old, new)
    return text


def _frame(event: dict[str, Any]) -> bytes:
    """One recorded event, framed as the mock frames its own (sse-starlette's encoding)."""
    return ServerSentEvent(
        data=str(event["data"]),
        event=event.get("event") or None,
        id=None if event.get("id") is None else str(event["id"]),
        sep="\n",
    ).encode()


def create_replayer(recording: Recording, *, clock: Clock | None = None) -> Starlette:
    """The replay server's ASGI app."""
    replayer = Replayer(recording, clock=clock or Clock(1.0), spec=load_spec())

    async def endpoint(request: Request) -> Response:
        return await replayer.handle(request)

    async def health(request: Request) -> Response:
        return JSONResponse({"replaying": str(recording.root), "sessions": len(recording.sessions)})

    app = Starlette(
        routes=[
            Route("/__mock/health", health, methods=["GET"]),
            Route("/{path:path}", endpoint, methods=METHODS),
        ]
    )
    app.state.replayer = replayer
    return app
