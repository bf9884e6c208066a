"""A scripted in-memory stand-in for the API on `httpx.MockTransport`, a fake clock, and
helpers to build answers and SSE streams for the reference client's tests.

`Backend` answers each operation with a sensible default and records every request;
`backend.queue(op, ...)` puts one-shot answers (responses or callables) in front of the default.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

API = "https://api.test"
WEB = "https://web.test"
CDN_URL = "https://cdn.test/renders/out.mp4"
EPOCH = 1_790_000_000.0

DEMO_DRAFT: dict[str, Any] = {
    "d": 10_000,
    "t": [
        {
            "id": "v1",
            "tt": 0,
            "m": {"name": "main", "role": "main"},
            "sg": [
                {"id": "s1", "s": 0, "d": 10_000, "m": {"kind": "video", "name": "city timelapse"}}
            ],
        },
        {
            "id": "a1",
            "tt": 1,
            "m": {"name": "bgm", "role": "bgm"},
            "sg": [
                {"id": "s2", "s": 0, "d": 10_000,
                 "m": {"kind": "audio", "name": "Lo-fi", "volume": 0.35}}
            ],
        },
        {
            "id": "x1",
            "tt": 7,
            "m": {"name": "title", "role": "title"},
            "sg": [{"id": "s3", "s": 0, "d": 3_000, "m": {"kind": "text", "text": "Urban Dreams"}}],
        },
    ],
}  # fmt: skip


class FakeClock:
    """Virtual time: `sleep` only moves it forward and records the wait."""

    def __init__(self, start: float = EPOCH) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds

    def advance(self, seconds: float) -> None:
        self.time += seconds


def envelope(
    data: Any = None, *, code: int = 0, status: int = 200, message: str = "ok"
) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message, "data": data})


# One item of a scripted SSE stream: a JSON-able event, a raw ``data:`` payload (str), a pause
# of virtual seconds (float), or an exception raised mid-stream (a dropped connection).
StreamItem = dict[str, Any] | str | float | Exception


def sse_response(items: list[StreamItem], clock: FakeClock) -> httpx.Response:
    def body() -> Iterator[bytes]:
        for item in items:
            if isinstance(item, Exception):
                raise item
            if isinstance(item, float | int):
                clock.advance(float(item))
                continue
            payload = item if isinstance(item, str) else json.dumps(item)
            yield f"data: {payload}\n\n".encode()

    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())


def adk_text(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "e1",
        "invocationId": "inv1",
        "author": "nemo_agent",
        "timestamp": 1.0,
        "content": {"role": "model", "parts": [{"text": text}]},
        "actions": {},
        **extra,
    }


def adk_call(name: str = "add_title") -> dict[str, Any]:
    return {
        "id": "e2",
        "author": "nemo_agent",
        "content": {
            "role": "model",
            "parts": [
                {"functionCall": {"id": "c1", "name": name, "args": {"secret": "TOOL-ARGS"}}}
            ],
        },
    }


def adk_result(name: str = "add_title") -> dict[str, Any]:
    return {
        "id": "e3",
        "author": "nemo_agent",
        "content": {
            "role": "user",
            "parts": [
                {"functionResponse": {"id": "c1", "name": name, "response": {"raw": "TOOL-RESULT"}}}
            ],
        },
    }


HEARTBEAT: dict[str, Any] = {"type": "heartbeat"}

Responder = httpx.Response | Callable[[httpx.Request], httpx.Response]

_ROUTES = (
    ("POST", r"/api/auth/anonymous-token", "token"),
    ("POST", r"/api/auth/claim-token", "claim"),
    ("POST", r"/api/tasks/me/with-session/nemo_agent", "session"),
    ("GET", r"/api/credits/balance/simple", "credits"),
    ("GET", r"/api/state/nemo_agent/me/(?P<sid>[^/]+)/latest", "state"),
    ("POST", r"/api/upload-video/nemo_agent/me/(?P<sid>[^/]+)", "upload"),
    ("POST", r"/run_sse", "chat"),
    ("POST", r"/api/render/proxy/lambda", "render"),
    ("GET", r"/api/render/proxy/lambda/(?P<rid>[^/]+)", "poll"),
    ("GET", r"/api/render/proxy/(?P<rid>[^/]+)/download", "download"),
)


@dataclass
class Call:
    op: str
    request: httpx.Request
    json: Any
    at: float  # virtual time of the request


@dataclass
class Backend:
    clock: FakeClock
    calls: list[Call] = field(default_factory=list)
    draft: dict[str, Any] = field(default_factory=dict)
    generated_media: list[Any] = field(default_factory=list)
    chat_stream: list[StreamItem] = field(
        default_factory=lambda: [adk_text("Done! Click the Export button to download it.")]
    )
    draft_after_chat: dict[str, Any] | None = field(
        default_factory=lambda: json.loads(json.dumps(DEMO_DRAFT))
    )
    polls: list[dict[str, Any]] = field(default_factory=lambda: [
        {"status": "processing", "progress": 40},
        {"status": "completed", "progress": 100, "output": {"url": CDN_URL}},
    ])  # fmt: skip
    # Poll answers for the next submissions, one list per submission; then `polls` again.
    plans: deque[list[dict[str, Any]]] = field(default_factory=deque)
    file_bytes: bytes = b"RENDERED-FILE" * 100
    queues: dict[str, deque[Responder]] = field(default_factory=lambda: defaultdict(deque))
    tokens_issued: int = 0
    sessions_made: int = 0
    _poll_index: dict[str, int] = field(default_factory=dict)
    _plan: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def queue(self, op: str, *answers: Responder) -> None:
        self.queues[op].extend(answers)

    def ops(self, name: str | None = None) -> list[Call]:
        return [c for c in self.calls if name is None or c.op == name]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        op, params = self._route(request)
        try:
            body = (
                json.loads(request.content)
                if request.headers.get("content-type") == "application/json"
                else None
            )
        except ValueError:
            body = None
        self.calls.append(Call(op, request, body, self.clock.now()))
        if self.queues[op]:
            answer = self.queues[op].popleft()
            return answer if isinstance(answer, httpx.Response) else answer(request)
        default: Callable[..., httpx.Response] = getattr(self, f"_{op}")
        return default(request, body, **params)

    def _route(self, request: httpx.Request) -> tuple[str, dict[str, str]]:
        if request.url.host == "cdn.test":
            return "cdn", {}
        for method, pattern, op in _ROUTES:
            match = re.fullmatch(pattern, request.url.path)
            if match and request.method == method:
                return op, match.groupdict()
        raise AssertionError(f"unexpected request {request.method} {request.url}")

    # -- default answers -------------------------------------------------------------------

    def _token(self, request: httpx.Request, body: Any) -> httpx.Response:
        if not request.headers.get("X-Client-Id"):
            return envelope(code=400, status=400, message="missing X-Client-Id")
        self.tokens_issued += 1
        expires = datetime.fromtimestamp(self.clock.now() + 7 * 86400, UTC).isoformat()
        return envelope(
            {
                "token": f"nmv_usr_secret{self.tokens_issued}",
                "user_id": "anon_42",
                "expires_at": expires,
                "credits": 100,
            }
        )

    def _session(self, request: httpx.Request, body: Any) -> httpx.Response:
        self.sessions_made += 1
        n = self.sessions_made
        return envelope({"task_id": f"task_{n}", "session_id": f"sess_{n}"})

    def _credits(self, request: httpx.Request, body: Any) -> httpx.Response:
        return envelope({"available": 100, "frozen": 0, "total": 100})

    def _state(self, request: httpx.Request, body: Any, sid: str) -> httpx.Response:
        state = {
            "draft": self.draft,
            "video_infos": [],
            "canvas_config": {},
            "generated_media": self.generated_media,
        }
        return envelope(
            {"session_id": sid, "task_id": "task_1", "task_name": "project", "state": state}
        )

    def _upload(self, request: httpx.Request, body: Any, sid: str) -> httpx.Response:
        name = re.search(rb'filename="([^"]+)"', request.content)
        filename = name.group(1).decode() if name else "file"
        return envelope(
            {
                "files": [
                    {
                        "filename": filename,
                        "file_type": "audio",
                        "cdn_url": f"https://cdn.test/u/{filename}",
                        "duration": 180.0,
                        "width": 0,
                        "height": 0,
                        "fps": 0,
                        "hash": "h",
                    }
                ]
            }
        )

    def _chat(self, request: httpx.Request, body: Any) -> httpx.Response:
        if self.draft_after_chat is not None:
            self.draft = self.draft_after_chat
        return sse_response(list(self.chat_stream), self.clock)

    def _render(self, request: httpx.Request, body: Any) -> httpx.Response:
        rid = body["id"]
        self._poll_index[rid] = 0
        self._plan[rid] = self.plans.popleft() if self.plans else self.polls
        return httpx.Response(
            200,
            json={
                "code": 0,
                "message": "ok",
                "id": rid,
                "status": "pending",
                "progress": 0,
                "success": True,
                "data": {"id": rid, "status": "pending", "progress": 0},
            },
        )

    def _poll(self, request: httpx.Request, body: Any, rid: str) -> httpx.Response:
        index = self._poll_index.get(rid, 0)
        self._poll_index[rid] = index + 1
        plan = self._plan.get(rid, self.polls)
        answer = plan[min(index, len(plan) - 1)]
        return httpx.Response(200, json={"code": 0, "message": "ok", "id": rid, **answer})

    def _download(self, request: httpx.Request, body: Any, rid: str) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "video/mp4"}, content=self.file_bytes)

    def _cdn(self, request: httpx.Request, body: Any) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "video/mp4"}, content=self.file_bytes)

    def _claim(self, request: httpx.Request, body: Any) -> httpx.Response:
        return envelope({"claim_token": "clm_claim123", "expires_in": 604800})


def state_response(draft: dict[str, Any], sid: str = "sess_1") -> httpx.Response:
    state = {"draft": draft, "video_infos": [], "canvas_config": {}, "generated_media": []}
    return envelope(
        {"session_id": sid, "task_id": "task_1", "task_name": "project", "state": state}
    )
