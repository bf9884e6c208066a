"""The ``/run_sse`` wire format: each ``data:`` line of the stream → typed stream events.

Shapes understood (API-NOTES "The SSE stream"):

- ADK events: ``{"id", "invocationId", "author", "timestamp", "content": {"role", "parts": [...]},
  "actions", "partial"?, "errorCode"?, "errorMessage"?}``; a part holds ``text``,
  ``functionCall`` or ``functionResponse``. ``thought`` parts and ``user`` content are not replies.
- Legacy events: ``{"type": "text", "content"}``, ``{"type": "tool_call"}``,
  ``{"type": "tool_result"}``, ``{"type": "error", "message"}``.
- ``{"type": "heartbeat"}`` and empty ``data:`` lines: still working.
- ``{"error": "..."}``: the run failed after the stream started.

A ``data:`` line that is not JSON is skipped (`Skipped`), and reading goes on. This module only
parses; `chat.ChatRun` decides what the user sees.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import EventSource

__all__ = [
    "Heartbeat",
    "RunFailed",
    "Skipped",
    "StreamEvent",
    "Text",
    "ToolActivity",
    "is_event_stream",
    "iter_events",
    "parse_data",
]


@dataclass(frozen=True)
class Text:
    text: str
    partial: bool = False


@dataclass(frozen=True)
class ToolActivity:
    name: str


@dataclass(frozen=True)
class Heartbeat:
    pass


@dataclass(frozen=True)
class RunFailed:
    message: str
    code: int | None = None


@dataclass(frozen=True)
class Skipped:
    reason: str


StreamEvent = Text | ToolActivity | Heartbeat | RunFailed | Skipped


def is_event_stream(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    return response.is_success and content_type == "text/event-stream"


def iter_events(response: httpx.Response) -> Iterator[StreamEvent]:
    """Events in arrival order; transport errors (a dropped stream) propagate to the caller."""
    for sse in EventSource(response).iter_sse():
        yield from parse_data(sse.data)


def parse_data(data: str) -> list[StreamEvent]:
    if not data.strip():
        return [Heartbeat()]
    try:
        event = json.loads(data)
    except ValueError:
        return [Skipped("malformed JSON")]
    if not isinstance(event, dict):
        return [Skipped("not a JSON object")]
    if event.get("error"):
        return [_run_failed(event["error"], event.get("code"))]
    if event.get("errorCode") or event.get("errorMessage"):
        message = event.get("errorMessage") or event.get("errorCode")
        return [_run_failed(message, None)]
    kind = event.get("type")
    if isinstance(kind, str):
        return [_legacy(kind, event)]
    content = event.get("content")
    if isinstance(content, dict):
        return _adk_parts(content, partial=event.get("partial") is True)
    return [Skipped("no content")]


def _legacy(kind: str, event: dict[str, Any]) -> StreamEvent:
    if kind == "heartbeat":
        return Heartbeat()
    if kind == "text":
        content = event.get("content")
        text = content if isinstance(content, str) else event.get("text")
        return Text(text) if isinstance(text, str) and text else Skipped("empty text")
    if kind in ("tool_call", "tool_result"):
        name = event.get("name") or event.get("tool") or kind
        return ToolActivity(str(name))
    if kind == "error":
        return _run_failed(event.get("message") or event.get("error"), event.get("code"))
    return Skipped(f"unknown type {kind!r}")


def _adk_parts(content: dict[str, Any], *, partial: bool) -> list[StreamEvent]:
    if content.get("role") == "user":
        return [Skipped("user content")]
    parts = content.get("parts")
    if not isinstance(parts, list):
        return [Skipped("no parts")]
    events: list[StreamEvent] = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        call = part.get("functionCall") or part.get("functionResponse")
        if isinstance(call, dict):
            events.append(ToolActivity(str(call.get("name") or "tool")))
        elif isinstance(part.get("text"), str) and part["text"] and not part.get("thought"):
            events.append(Text(part["text"], partial=partial))
    return events or [Skipped("no visible parts")]


def _run_failed(message: Any, code: Any) -> RunFailed:
    if isinstance(message, dict):
        code = message.get("code", code)
        message = message.get("message")
    text = message if isinstance(message, str) and message.strip() else "the run failed"
    valid_code = isinstance(code, int) and not isinstance(code, bool) and code != 0
    return RunFailed(text.strip(), code if valid_code else None)
