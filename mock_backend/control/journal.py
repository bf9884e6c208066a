"""The journal: every request, its response, the rule that fired and the SSE events sent.

Entries are recorded by `JournalMiddleware` around the whole app, so nothing a client does goes
unseen, and are queried through ``GET /__mock/journal`` (by token fingerprint, user, client id,
session, operation and virtual time). Rejected requests carry a near-miss: which field broke
which rule of the contract. Tokens are kept out of everything read from it: an entry's raw
bytes are redacted (`redact`) when it is read. Control calls that change something (a POST or
DELETE under ``/__mock/``) are journaled too, with no operation, so every action taken on the
mock shows next to what it changed; reads of the control API are not.

A live reader (the console's feed) subscribes (`Journal.subscribe`): it is told which entries
changed (started, answered, streamed an event, finished) and reads them itself (`recent`,
`changes`); what it is owed is bounded (`subscribers`).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..agent.events import EMPTY_BYTES, HEARTBEAT_BYTES
from ..agent.sse_frames import SseParser
from ..openapi import json_text
from ..openapi.json_text import JsonRejected
from ..state.clock import Clock
from .redact import fingerprint, redact, redact_text
from .subscribers import MAX_SUBSCRIBERS, Subscriber, TooManySubscribers

_T = TypeVar("_T")

__all__ = [
    "Entry",
    "Journal",
    "JournalMiddleware",
    "StreamEvent",
    "counted_as",
    "kept",
    "matching",
    "public",
]

# what an entry costs beyond the bytes it keeps (the object, its strings, its list cells),
# measured roughly with tracemalloc: the byte budget counts it so that many small entries are
# bounded as well as a few large ones
ENTRY_OVERHEAD = 1024
_HEARTBEAT_TEXT = HEARTBEAT_BYTES.decode().removeprefix("data: ").strip()
_BEAT_CHUNKS = frozenset({HEARTBEAT_BYTES, EMPTY_BYTES})


@dataclass
class StreamEvent:
    virtual: float
    data: Any  # parsed JSON, "" for an empty data line, or the raw text when it is not JSON


_KEPT_HEADERS = frozenset(
    {"x-client-id", "accept", "content-type", "range", "content-length", "x-mock-scenario"}
)


@dataclass(slots=True)
class Entry:
    """One exchange. Recording is cheap (raw bytes); parsing and redaction happen on reading."""

    id: int
    method: str
    path: str
    operation: str | None
    token: str | None  # fingerprint, never the token
    user_id: str | None
    client_id: str | None
    session_id: str | None
    virtual_start: float
    real_start: float
    virtual_end: float | None = None
    real_end: float | None = None
    status: int | None = None
    rule: str | None = None
    # lists are created on first use: tens of thousands of entries stay cheap for the GC
    heartbeats: list[float] | None = None  # virtual times of "still working"
    notes: list[str] | None = None
    raw_headers: list[tuple[bytes, bytes]] | None = field(default=None, repr=False)
    raw_query: bytes = field(default=b"", repr=False)
    raw_body: bytes = field(default=b"", repr=False)
    raw_response: bytes = field(default=b"", repr=False)
    raw_events: list[tuple[float, str]] | None = field(default=None, repr=False)
    size: int = field(default=0, repr=False)  # bytes counted against the journal's budget

    def note(self, text: str) -> None:
        if self.notes is None:
            self.notes = []
        self.notes.append(text)

    def beat(self, virtual: float) -> None:
        if self.heartbeats is None:
            self.heartbeats = []
        self.heartbeats.append(virtual)

    def event(self, virtual: float, text: str) -> None:
        if self.raw_events is None:
            self.raw_events = []
        self.raw_events.append((virtual, text))

    @property
    def events(self) -> list[StreamEvent]:
        return [StreamEvent(t, redact(_parse(text))) for t, text in self.raw_events or []]

    def public(self) -> dict[str, Any]:
        """The entry as the control API shows it: parsed, with every token redacted (in every
        field: a hostile client may put one in a path, a client id or a header)."""
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self.raw_headers or []
        }
        request: dict[str, Any] = {
            "headers": {
                k: v for k, v in headers.items() if k.startswith("x-skill-") or k in _KEPT_HEADERS
            },
            "authorization": "authorization" in headers,
        }
        if self.raw_body:
            request["body"] = _parse(self.raw_body.decode("utf-8", "replace"))
        response = (
            _parse(self.raw_response.decode("utf-8", "replace")) if self.raw_response else None
        )
        code = message = near_miss = None
        if isinstance(response, dict):
            code = response.get("code") if isinstance(response.get("code"), int) else None
            message = response.get("message") if isinstance(response.get("message"), str) else None
            data = response.get("data")
            if code not in (None, 0) and isinstance(data, dict) and "field" in data:
                near_miss = {
                    "field": data.get("field"),
                    "rule": data.get("rule"),
                    "explanation": message,
                }
        public: dict[str, Any] = redact(
            {
                "id": self.id,
                "method": self.method,
                # the query string too: a client that puts a token there must be seen doing it
                "path": self.path
                + ("?" + self.raw_query.decode("latin-1") if self.raw_query else ""),
                "operation": self.operation,
                "token": self.token,
                "user_id": self.user_id,
                "client_id": self.client_id,
                "session_id": self.session_id,
                "virtual_start": self.virtual_start,
                "real_start": self.real_start,
                "virtual_end": self.virtual_end,
                "real_end": self.real_end,
                "status": self.status,
                "code": code,
                "message": message,
                "rule": self.rule,
                "near_miss": near_miss,
                "request": request,
                "response": response,
                "events": [asdict(e) for e in self.events],
                "heartbeats": list(self.heartbeats or []),
                "notes": list(self.notes or []),
            }
        )
        return public


class Journal:
    """The last ``limit`` entries, and no more than ``max_bytes`` of them in all: when a
    finished entry takes the total past it, the oldest entries go. Each request and response
    body keeps at most ``body_bytes`` (a longer one is cut, and shown as the text it was)."""

    def __init__(
        self,
        clock: Clock,
        limit: int = 100_000,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        body_bytes: int = 16 * 1024,
    ) -> None:
        self.clock = clock
        self.limit = limit
        self.max_bytes = max_bytes
        self.body_bytes = body_bytes
        self._entries: deque[Entry] = deque(maxlen=limit)
        self._ids: Iterator[int] = itertools.count(1)
        self._lock = threading.Lock()
        self.bytes = 0  # counted when entries finish (an open stream counts once it ends)
        self.dropped = 0  # entries let go to stay within max_bytes
        self._subscribers: list[Subscriber] = []

    def subscribe(self, limit: int = 1000) -> Subscriber:
        """A live reader, told of changes in the running loop (`unsubscribe` it when done)."""
        with self._lock:
            if len(self._subscribers) >= MAX_SUBSCRIBERS:
                raise TooManySubscribers(
                    f"{MAX_SUBSCRIBERS} live readers already follow this journal; close one"
                )
            subscriber = Subscriber(asyncio.get_running_loop(), limit)
            self._subscribers.append(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

    def end_feeds(self) -> None:
        """Tell every live reader to end (the server is stopping)."""
        for subscriber in self._subscribers[:]:
            subscriber.end()

    def changed(self, entry: Entry) -> None:
        """Tell the live readers that ``entry`` changed (cheap when there are none)."""
        if not self._subscribers:  # the common case, on every request: no copy made
            return
        for subscriber in self._subscribers[:]:
            subscriber.touch(entry.id)

    def finished(self, entry: Entry) -> None:
        """Count a finished entry's bytes, drop the oldest entries while over the budget, and
        tell the live readers."""
        if self._count(entry):
            self.changed(entry)

    def _count(self, entry: Entry) -> bool:
        """Count a finished entry against the budget (`finished`); False if it was let go."""
        size = ENTRY_OVERHEAD + len(entry.raw_body) + len(entry.raw_response)
        if entry.raw_headers:  # summed in C: this runs on every request
            size += sum(map(len, itertools.chain.from_iterable(entry.raw_headers)))
        if entry.raw_events:
            size += sum(len(text) + 32 for _, text in entry.raw_events)
        if entry.heartbeats or entry.notes:
            size += 8 * (len(entry.heartbeats or ()) + len(entry.notes or ()))
        with self._lock:
            if entry.size < 0:  # let go while still open: no longer the journal's
                return False
            entry.size = size
            self.bytes += size
            while self.bytes > self.max_bytes and len(self._entries) > 1:
                self._let_go(self._entries.popleft())
                self.dropped += 1
        return True

    def _let_go(self, entry: Entry) -> None:
        self.bytes -= max(entry.size, 0)  # 0 for one still open: it was never counted
        entry.size = -1

    def start(self, method: str, path: str) -> Entry:
        real, virtual = self.clock.stamp()
        entry = Entry(
            id=next(self._ids),
            method=method,
            path=path,
            operation=None,
            token=None,
            user_id=None,
            client_id=None,
            session_id=None,
            virtual_start=virtual,
            real_start=real,
        )
        with self._lock:
            if len(self._entries) == self.limit:  # maxlen drops the oldest: uncount it
                self._let_go(self._entries[0])
            self._entries.append(entry)
        if self._subscribers:  # (`changed`, without its call on every request)
            self.changed(entry)
        return entry

    def clear(self) -> None:
        """Forget every entry, and tell the live readers."""
        for subscriber in self._forget():
            subscriber.clear()

    def _forget(self) -> list[Subscriber]:
        """Forget every entry (`clear`); the live readers, still to be told."""
        with self._lock:
            for entry in self._entries:
                entry.size = -1  # an open stream's entry, finishing later, is not counted
            self._entries.clear()
            self._ids = itertools.count(1)
            self.bytes = self.dropped = 0
            return self._subscribers[:]

    def close(self) -> None:
        """Let go of what the journal holds outside (a shared one's watcher); entries stay."""

    def recent(self, count: int) -> list[Entry | dict[str, Any]]:
        """The last ``count`` entries, oldest first: what a new live reader is sent first."""
        return [*self.entries()[-count:]] if count > 0 else []

    def changes(self, ids: list[int]) -> tuple[list[Entry | dict[str, Any]], int]:
        """What a live reader sends for the ``ids`` it is owed (`Subscriber.changes`): the
        entries as they are now, and how many it can no longer have (count them as dropped).
        Here in the order of their ids; an id let go meanwhile is left out."""
        return [*self.query(ids=ids)], 0

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)

    def size(self) -> dict[str, int]:
        """Entries held, bytes counted against ``max_bytes``, and entries let go for it."""
        with self._lock:
            return {
                "journal_entries": len(self._entries),
                "journal_bytes": self.bytes,
                "journal_dropped": self.dropped,
            }

    def query(self, **filters: Any) -> list[Entry]:
        """Entries matching every given filter (`matching`)."""
        return matching(self.entries(), getattr, **filters)

    def shown(self, **filters: Any) -> list[Entry | dict[str, Any]]:
        """What a reader of the control API gets, filtered as `query` filters: here the
        entries themselves, each shown (`public`) as it is written out, so a whole journal is
        never one list of dicts; a shared journal gives every process's, shown already."""
        return [*self.query(**filters)]


def public(entry: Entry | dict[str, Any]) -> dict[str, Any]:
    """An entry as the control API shows it (a shared journal's are shown already)."""
    return entry if isinstance(entry, dict) else entry.public()


def kept(entry: Entry | dict[str, Any]) -> bool:
    """Whether an entry is shown as a shared journal's store keeps it: finished, never to
    change (an `Entry` object is this process's own, and may still be written to; a shown
    one still open may change)."""
    return isinstance(entry, dict) and entry["real_end"] is not None


def counted_as(entry: Entry | dict[str, Any]) -> str:
    """The key an entry is counted under: its operation, else its path (never a token)."""
    if isinstance(entry, dict):
        return str(entry["operation"] or entry["path"].partition("?")[0])  # redacted already
    return entry.operation or redact_text(entry.path)  # an unmatched path may hold a token


def matching(
    items: Iterable[_T],
    get: Callable[[_T, str], Any],
    *,
    token: str | None = None,
    user_id: str | None = None,
    client_id: str | None = None,
    session_id: str | None = None,
    operation: str | None = None,
    since: float | None = None,
    until: float | None = None,
    ids: Iterable[int] | None = None,
) -> list[_T]:
    """The journal entries of ``items`` that meet every given filter, their fields read with
    ``get`` (`Entry` objects: getattr; shown entries: dict.get); ``token`` may be a token or its
    fingerprint."""
    fp = fingerprint(token) if token and "…" not in token else token
    equal = {
        "token": fp,
        "user_id": user_id,
        "client_id": client_id,
        "session_id": session_id,
        "operation": operation,
    }
    wanted = {name: value for name, value in equal.items() if value}
    kept = set(ids) if ids is not None else None

    def meets(item: _T) -> bool:
        if any(get(item, name) != value for name, value in wanted.items()):
            return False
        start = float(get(item, "virtual_start"))
        if (since is not None and start < since) or (until is not None and start > until):
            return False
        return kept is None or int(get(item, "id")) in kept

    return [item for item in items if meets(item)]


def _parse(text: str) -> Any:
    if text == "":
        return ""
    try:
        return json_text.loads(text)
    except JsonRejected:  # kept as the text it was (NaN or "\\ud800" stay readable, and inert)
        return text


class JournalMiddleware:
    """ASGI middleware recording every HTTP exchange in ``journal_of(scope)``."""

    def __init__(self, app: ASGIApp, journal_of: Callable[[Scope], Journal]) -> None:
        self.app = app
        self.journal_of = journal_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root, path = scope.get("root_path", ""), scope["path"]
        if root and path.startswith(root):
            path = path[len(root) :]  # as routed: without a namespace's /__ns/NAME prefix
        if path.startswith("/__mock/") and scope["method"] in ("GET", "HEAD"):  # reads
            await self.app(scope, receive, send)
            return
        journal = self.journal_of(scope)
        entry = journal.start(scope["method"], path)
        scope.setdefault("state", {})["journal_entry"] = entry
        entry.raw_headers = scope["headers"]
        entry.raw_query = scope.get("query_string", b"")
        recording = _Recording(journal, entry, receive, send)
        try:
            await self.app(scope, recording.receive_next, recording.send_on)
        finally:
            recording.close()


class _Recording:
    """One exchange being journaled. An object with slots rather than closures: a held event
    stream keeps it for its whole life, and closures with their cells cost twice as much."""

    __slots__ = ("body", "body_done", "entry", "journal", "receive", "response", "send", "sse")

    def __init__(self, journal: Journal, entry: Entry, receive: Receive, send: Send) -> None:
        self.journal = journal
        self.entry = entry
        self.receive = receive
        self.send = send
        content_type = b""
        for key, value in entry.raw_headers or ():
            if key == b"content-type":
                content_type = value
        self.body: bytearray | None = bytearray() if b"json" in content_type else None
        self.body_done = self.body is None  # only JSON bodies are kept
        self.response: bytearray | None = None  # a JSON answer's body, as it goes out
        self.sse: SseParser | None = None

    def receive_next(self) -> Awaitable[Message]:
        # past the body, the server's own receive: a held stream keeps no frame of it
        return self.receive() if self.body_done else self._keeping_receive()

    async def _keeping_receive(self) -> Message:
        message = await self.receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            self.body_done = True
        body, limit = self.body, self.journal.body_bytes
        if message["type"] == "http.request" and body is not None and len(body) < limit:
            body.extend(message.get("body", b"")[: limit - len(body)])
        return message

    async def send_on(self, message: Message) -> None:
        entry, journal = self.entry, self.journal
        if message["type"] == "http.response.start":
            entry.status = message["status"]
            journal.changed(entry)
            kind = b""
            for key, value in message.get("headers", []):
                if key == b"content-type":
                    kind = value
            self.sse = SseParser() if kind.startswith(b"text/event-stream") else None
            self.response = bytearray() if kind.startswith(b"application/json") else None
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            sse, response = self.sse, self.response
            if sse is not None:
                now = journal.clock.now()
                if chunk in _BEAT_CHUNKS and not sse.pending:  # the common case, made cheap
                    entry.beat(now)
                    chunk = b""
                for event in sse.feed(chunk):
                    if event.data in ("", _HEARTBEAT_TEXT):  # kept compact: thousands
                        entry.beat(now)
                    else:
                        entry.event(now, event.data)
                journal.changed(entry)
            elif response is not None and len(response) < journal.body_bytes:
                response.extend(chunk[: journal.body_bytes - len(response)])
        await self.send(message)

    def close(self) -> None:
        entry, sse = self.entry, self.sse
        entry.real_end, entry.virtual_end = self.journal.clock.stamp()
        if sse is not None and sse.pending:
            entry.note("stream ended inside an event (cut)")
            entry.event(entry.virtual_end, sse.rest())
        entry.raw_body = bytes(self.body or b"")
        entry.raw_response = bytes(self.response or b"")
        self.journal.finished(entry)
