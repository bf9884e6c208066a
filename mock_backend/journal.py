"""The journal: every request, its response, the rule that fired and the SSE events sent.

Entries are recorded by `JournalMiddleware` around the whole app, so nothing a client does goes
unseen, and are queried through ``GET /__mock/journal`` (by token fingerprint, user, client id,
session, operation and virtual time). Rejected requests carry a near-miss: which field broke
which rule of the contract. Tokens never enter the journal: they are replaced by fingerprints
(`redact`) before an entry is stored.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .clock import Clock
from .redact import fingerprint, redact, redact_text

__all__ = ["Entry", "Journal", "JournalMiddleware", "StreamEvent"]

MAX_BODY = 64 * 1024  # bodies larger than this are summarised, not stored


@dataclass
class StreamEvent:
    virtual: float
    data: Any  # parsed JSON, "" for an empty data line, or the raw text when it is not JSON


@dataclass
class Entry:
    id: int
    method: str
    path: str
    operation: str | None
    token: str | None  # fingerprint
    user_id: str | None
    client_id: str | None
    session_id: str | None
    virtual_start: float
    real_start: float
    virtual_end: float | None = None
    real_end: float | None = None
    status: int | None = None
    code: int | None = None
    message: str | None = None
    rule: str | None = None
    near_miss: dict[str, Any] | None = None
    request: dict[str, Any] = field(default_factory=dict)  # headers of interest, body summary
    response: Any = None
    events: list[StreamEvent] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        out["events"] = [asdict(e) for e in self.events]
        return out


class Journal:
    def __init__(self, clock: Clock, limit: int = 100_000) -> None:
        self.clock = clock
        self.limit = limit
        self._entries: list[Entry] = []
        self._next = 1
        self._lock = threading.Lock()

    def start(self, method: str, path: str) -> Entry:
        with self._lock:
            entry = Entry(
                id=self._next,
                method=method,
                path=redact_text(path),
                operation=None,
                token=None,
                user_id=None,
                client_id=None,
                session_id=None,
                virtual_start=self.clock.now(),
                real_start=time.time(),
            )
            self._next += 1
            self._entries.append(entry)
            if len(self._entries) > self.limit:
                del self._entries[: len(self._entries) - self.limit]
        return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)

    def query(
        self,
        *,
        token: str | None = None,
        user_id: str | None = None,
        client_id: str | None = None,
        session_id: str | None = None,
        operation: str | None = None,
        since: float | None = None,
        until: float | None = None,
        ids: Iterable[int] | None = None,
    ) -> list[Entry]:
        """Entries matching every given filter; ``token`` may be a token or its fingerprint."""
        fp = fingerprint(token) if token and "…" not in token else token
        wanted = set(ids) if ids is not None else None
        checks: list[Callable[[Entry], bool]] = []
        if fp:
            checks.append(lambda e: e.token == fp)
        if user_id:
            checks.append(lambda e: e.user_id == user_id)
        if client_id:
            checks.append(lambda e: e.client_id == client_id)
        if session_id:
            checks.append(lambda e: e.session_id == session_id)
        if operation:
            checks.append(lambda e: e.operation == operation)
        if since is not None:
            checks.append(lambda e: e.virtual_start >= since)
        if until is not None:
            checks.append(lambda e: e.virtual_start <= until)
        if wanted is not None:
            checks.append(lambda e: e.id in wanted)
        return [e for e in self.entries() if all(check(e) for check in checks)]


class _SseParser:
    """Splits a byte stream into SSE ``data`` payloads as they pass."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[str]:
        self._buffer += chunk
        out = []
        while b"\n\n" in self._buffer:
            block, self._buffer = self._buffer.split(b"\n\n", 1)
            lines = [line for line in block.decode("utf-8", "replace").split("\n")]
            data = [line[5:].lstrip(" ") if line.startswith("data:") else None for line in lines]
            payload = [d for d in data if d is not None]
            if payload:
                out.append("\n".join(payload))
        return out

    def rest(self) -> bytes:
        return self._buffer


def _parse(text: str) -> Any:
    if text == "":
        return ""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


class JournalMiddleware:
    """ASGI middleware recording every HTTP exchange in ``journal_of(scope)``."""

    def __init__(self, app: ASGIApp, journal_of: Callable[[Scope], Journal]) -> None:
        self.app = app
        self.journal_of = journal_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__mock/"):
            await self.app(scope, receive, send)
            return
        journal = self.journal_of(scope)
        entry = journal.start(scope["method"], scope["path"])
        scope.setdefault("state", {})["journal_entry"] = entry
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        entry.request["headers"] = {
            k: redact_text(v)
            for k, v in headers.items()
            if k.startswith("x-skill-")
            or k
            in (
                "x-client-id",
                "accept",
                "content-type",
                "range",
                "content-length",
                "x-mock-scenario",
            )
        }
        entry.request["authorization"] = "authorization" in headers
        body = bytearray()
        content_type = headers.get("content-type", "")

        async def receive_wrapper() -> Message:
            message = await receive()
            if (
                message["type"] == "http.request"
                and "json" in content_type
                and len(body) < MAX_BODY
            ):
                body.extend(message.get("body", b"")[: MAX_BODY - len(body)])
            return message

        response_body = bytearray()
        sse: _SseParser | None = None
        is_json = False

        async def send_wrapper(message: Message) -> None:
            nonlocal sse, is_json
            if message["type"] == "http.response.start":
                entry.status = message["status"]
                kind = dict(message.get("headers", [])).get(b"content-type", b"").decode()
                if kind.startswith("text/event-stream"):
                    sse = _SseParser()
                is_json = kind.startswith("application/json")
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                if sse is not None:
                    now = journal.clock.now()
                    for text in sse.feed(chunk):
                        entry.events.append(StreamEvent(now, redact(_parse(text))))
                elif is_json and len(response_body) < MAX_BODY:
                    response_body.extend(chunk[: MAX_BODY - len(response_body)])
            await send(message)

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        finally:
            entry.virtual_end = journal.clock.now()
            entry.real_end = time.time()
            if sse is not None and sse.rest():
                entry.notes.append("stream ended inside an event (cut)")
                entry.events.append(
                    StreamEvent(entry.virtual_end, redact(sse.rest().decode("utf-8", "replace")))
                )
            if body:
                entry.request["body"] = redact(_parse(bytes(body).decode("utf-8", "replace")))
            if response_body:
                parsed = redact(_parse(bytes(response_body).decode("utf-8", "replace")))
                entry.response = parsed
                if isinstance(parsed, dict):
                    code = parsed.get("code")
                    entry.code = code if isinstance(code, int) else None
                    message = parsed.get("message")
                    entry.message = message if isinstance(message, str) else None
                    data = parsed.get("data")
                    if entry.code not in (None, 0) and isinstance(data, dict) and "field" in data:
                        entry.near_miss = {
                            "field": data.get("field"),
                            "rule": data.get("rule"),
                            "explanation": entry.message,
                        }
