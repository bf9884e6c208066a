"""What the mock remembers: users, tokens, sessions, uploads and render jobs.

Handlers and rules talk to the `Store` protocol only, so that a persistent or shared store can
replace `MemoryStore` without touching them. Records are plain dataclasses; the store hands out
the live record and the caller mutates it (a persistent store would save on `put_*`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

__all__ = [
    "MemoryStore",
    "RenderRecord",
    "SessionRecord",
    "Store",
    "TokenRecord",
    "UploadRecord",
    "UserRecord",
]

TokenKind = Literal["anonymous", "registered", "claim"]


@dataclass
class UserRecord:
    user_id: str
    registered: bool
    plan: str | None  # "free" | "pro" | None (anonymous)
    available: int
    frozen: int = 0

    @property
    def total(self) -> int:
        return self.available + self.frozen


@dataclass
class TokenRecord:
    token: str
    kind: TokenKind
    user_id: str
    scopes: tuple[str, ...]
    issued_at: float
    expires_at: float
    client_id: str | None = None
    revoked: bool = False
    task_id: str | None = None  # claim tokens only
    session_id: str | None = None


@dataclass
class UploadRecord:
    file_id: str
    filename: str
    file_type: str
    cdn_url: str
    path: Path | None  # None for URL uploads, which the offline mock never fetches
    duration: float | None
    width: int | None
    height: int | None
    fps: float | None
    hash: str | None
    size: int | None

    def public(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "file_type": self.file_type,
            "cdn_url": self.cdn_url,
            "duration": self.duration,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "hash": self.hash,
            "size": self.size,
            "measured": self.path is not None,
        }


@dataclass
class SessionRecord:
    session_id: str
    task_id: str
    task_name: str
    language: str
    user_id: str
    created_at: float
    draft: dict[str, Any] = field(default_factory=lambda: {"t": [], "d": 0, "m": {}})
    uploads: list[UploadRecord] = field(default_factory=list)
    generated_media: list[dict[str, Any]] = field(default_factory=list)
    active_runs: int = 0
    runs: int = 0
    duplicate_sends: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RenderRecord:
    render_id: str
    user_id: str
    session_id: str
    draft: dict[str, Any]
    output_format: str
    quality: str
    created_at: float
    # the lifecycle, fixed at submit (virtual times): see renders.py
    starts_at: float  # the job leaves `pending`
    due_at: float  # the job completes, whatever its encoder is doing
    fail_at: float | None = None  # it fails instead (seeded, scripted, or a refused draft)
    fail_reason: str | None = None
    cancelled_at: float | None = None
    vanish_at: float | None = None  # an orphaned job: polls answer 404 from then on
    # the file, from the real encode: planned at submit, its outcome noted when it is waited for
    out_path: Path | None = None  # None when the job never encodes (it fails)
    duration: float | None = None  # seconds: the draft's length (render_engine.check)
    size: int | None = None  # bytes, once the encode has finished
    engine_error: str | None = None  # the encode failed after all (an engine bug, I/O)
    output_url_broken: bool = False  # output.url leads nowhere (the download fallback is needed)


class Store(Protocol):
    def get_user(self, user_id: str) -> UserRecord | None: ...
    def put_user(self, user: UserRecord) -> None: ...
    def get_token(self, token: str) -> TokenRecord | None: ...
    def tokens(self) -> list[TokenRecord]: ...
    def put_token(self, record: TokenRecord) -> None: ...
    def tokens_for_client(self, client_id: str) -> list[TokenRecord]: ...
    def issues_from_ip(self, ip: str) -> list[float]: ...
    def record_issue(self, ip: str, at: float) -> None: ...
    def get_session(self, session_id: str) -> SessionRecord | None: ...
    def put_session(self, session: SessionRecord) -> None: ...
    def forget_session(self, session_id: str) -> None: ...
    def get_render(self, render_id: str) -> RenderRecord | None: ...
    def put_render(self, render: RenderRecord) -> None: ...
    def renders(self) -> list[RenderRecord]: ...
    def find_upload(self, file_id: str) -> UploadRecord | None: ...
    def counts(self) -> dict[str, int]: ...
    def clear(self) -> None: ...


class MemoryStore:
    """The in-memory store: dictionaries, touched only from the event loop."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._users: dict[str, UserRecord] = {}
        self._tokens: dict[str, TokenRecord] = {}
        self._by_client: dict[str, list[TokenRecord]] = {}
        self._ip_issues: dict[str, list[float]] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._renders: dict[str, RenderRecord] = {}
        self._uploads: dict[str, UploadRecord] = {}

    def get_user(self, user_id: str) -> UserRecord | None:
        return self._users.get(user_id)

    def put_user(self, user: UserRecord) -> None:
        self._users[user.user_id] = user

    def get_token(self, token: str) -> TokenRecord | None:
        return self._tokens.get(token)

    def tokens(self) -> list[TokenRecord]:
        return list(self._tokens.values())

    def put_token(self, record: TokenRecord) -> None:
        self._tokens[record.token] = record
        if record.client_id is not None:
            bucket = self._by_client.setdefault(record.client_id, [])
            if record not in bucket:
                bucket.append(record)

    def tokens_for_client(self, client_id: str) -> list[TokenRecord]:
        return list(self._by_client.get(client_id, []))

    def issues_from_ip(self, ip: str) -> list[float]:
        return list(self._ip_issues.get(ip, []))

    def record_issue(self, ip: str, at: float) -> None:
        self._ip_issues.setdefault(ip, []).append(at)

    def get_session(self, session_id: str) -> SessionRecord | None:
        return self._sessions.get(session_id)

    def put_session(self, session: SessionRecord) -> None:
        self._sessions[session.session_id] = session
        for upload in session.uploads:
            self._uploads[upload.file_id] = upload

    def forget_session(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def get_render(self, render_id: str) -> RenderRecord | None:
        return self._renders.get(render_id)

    def put_render(self, render: RenderRecord) -> None:
        self._renders[render.render_id] = render

    def renders(self) -> list[RenderRecord]:
        return list(self._renders.values())

    def find_upload(self, file_id: str) -> UploadRecord | None:
        return self._uploads.get(file_id)

    def counts(self) -> dict[str, int]:
        """How many of each record the mock holds (what a soak watches grow)."""
        return {
            "users": len(self._users),
            "tokens": len(self._tokens),
            "client_ids": len(self._by_client),
            "sessions": len(self._sessions),
            "uploads": len(self._uploads),
            "renders": len(self._renders),
        }
