"""Typed views of the ``data`` the backend answers with; a body off the schema raises
`UnexpectedResponse` naming the operation and the field, never echoing the body itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import UnexpectedResponse

__all__ = [
    "Balance",
    "ProjectState",
    "RenderStatus",
    "SessionInfo",
    "TokenGrant",
    "UploadedFile",
]


def _off_schema(what: str, field: str) -> UnexpectedResponse:
    return UnexpectedResponse(
        f"NemoVideo's answer to {what} is missing or has a malformed `{field}`. "
        "Try again; if it persists the backend may have changed."
    )


def _object(value: Any, what: str, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _off_schema(what, field)
    return value


def _text(data: dict[str, Any], key: str, what: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise _off_schema(what, key)
    return value


def _optional_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _number(data: dict[str, Any], key: str, what: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _off_schema(what, key)
    return float(value)


def _optional_number(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def parse_instant(value: Any) -> float | None:
    """An ISO 8601 string or epoch seconds (or milliseconds) → epoch seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) / 1000 if value > 1e11 else float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class TokenGrant:
    token: str
    user_id: str | None
    expires_at: float | None

    @classmethod
    def parse(cls, data: Any) -> TokenGrant:
        what = "the anonymous-token request"
        body = _object(data, what, "data")
        return cls(
            token=_text(body, "token", what),
            user_id=_optional_text(body, "user_id"),
            expires_at=parse_instant(body.get("expires_at")),
        )


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    task_id: str
    user_id: str | None

    @classmethod
    def parse(cls, data: Any) -> SessionInfo:
        what = "the create-session request"
        body = _object(data, what, "data")
        return cls(
            session_id=_text(body, "session_id", what),
            task_id=_text(body, "task_id", what),
            user_id=_optional_text(body, "user_id"),
        )


@dataclass(frozen=True)
class Balance:
    available: float
    frozen: float
    total: float

    @classmethod
    def parse(cls, data: Any) -> Balance:
        what = "the credits request"
        body = _object(data, what, "data")
        return cls(*(_number(body, key, what) for key in ("available", "frozen", "total")))


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    file_type: str | None
    cdn_url: str | None
    duration: float | None

    @classmethod
    def parse_many(cls, data: Any) -> list[UploadedFile]:
        what = "the upload"
        files = _object(data, what, "data").get("files")
        if not isinstance(files, list) or not files:
            raise _off_schema(what, "files")
        parsed = []
        for item in files:
            entry = _object(item, what, "files[]")
            parsed.append(
                cls(
                    filename=_text(entry, "filename", what),
                    file_type=_optional_text(entry, "file_type"),
                    cdn_url=_optional_text(entry, "cdn_url"),
                    duration=_optional_number(entry, "duration"),
                )
            )
        return parsed


@dataclass(frozen=True)
class ProjectState:
    task_name: str | None
    draft: dict[str, Any]
    video_infos: list[Any]
    generated_media: list[Any]

    @classmethod
    def parse(cls, data: Any) -> ProjectState:
        what = "the state request"
        body = _object(data, what, "data")
        state = body.get("state") or {}
        state = _object(state, what, "state")
        draft = state.get("draft") or {}
        return cls(
            task_name=_optional_text(body, "task_name"),
            draft=_object(draft, what, "state.draft"),
            video_infos=_list(state.get("video_infos"), what, "state.video_infos"),
            generated_media=_list(state.get("generated_media"), what, "state.generated_media"),
        )


def _list(value: Any, what: str, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _off_schema(what, field)
    return value


@dataclass(frozen=True)
class RenderStatus:
    """A render job; the backend sends v1.9's top-level shape, the older ``data`` shape, or both.

    ``status`` is read from the top level first, then from ``data``; the URL from
    ``output.url``, then ``data.outputUrl`` (or ``data.output.url``).
    """

    status: str
    progress: float | None
    url: str | None
    error: str | None

    @classmethod
    def parse(cls, body: dict[str, Any]) -> RenderStatus:
        what = "the render request"
        raw = body.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        status = body.get("status")
        if not isinstance(status, str):
            status = data.get("status")
        if not isinstance(status, str) or not status:
            if body.get("success") is False:
                status = "failed"
            else:
                raise _off_schema(what, "status")
        progress = _optional_number(body, "progress")
        if progress is None:
            progress = _optional_number(data, "progress")
        return cls(
            status=status.lower(),
            progress=progress,
            url=_output_url(body) or _optional_text(data, "outputUrl") or _output_url(data),
            error=_error_text(body.get("error")) or _error_text(data.get("error")),
        )


def _output_url(container: dict[str, Any]) -> str | None:
    output = container.get("output")
    return _optional_text(output, "url") if isinstance(output, dict) else None


def _error_text(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict):
        return _optional_text(value, "message")
    return None
