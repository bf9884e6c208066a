"""The wire format of ``POST /run_sse``: event dicts and their ``data:`` lines.

Two shapes are spoken:

- ``adk`` (the default): Google ADK's camelCase ``Event`` (``id``, ``invocationId``, ``author``,
  ``timestamp``, ``content{role, parts}``, ``actions``); a part holds ``text``,
  ``functionCall{id,name,args}`` or ``functionResponse{id,name,response}``. A run error after
  the stream started is ``{"error": "…"}``.
- ``legacy``: the flat shape of the reverted api-reference document (``{"type":"text",…}``,
  ``tool_call``, ``tool_result``, ``error``), for testing tolerant clients.

Both shapes share the heartbeat ``{"type":"heartbeat"}`` and the empty ``data:`` line, which
both mean "still working". The builders are pure functions returning plain dicts, so the HTTP
layer can validate them against the event schema in openapi.yaml; `encode_event` turns one into
bytes. Deliberate differences from ADK: no ``done`` event exists (the stream just closes), and
function-response events carry ``role: "user"`` as ADK's own do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from sse_starlette import ServerSentEvent

__all__ = [
    "AUTHOR",
    "EMPTY_BYTES",
    "HEARTBEAT_BYTES",
    "EventBuilder",
    "Shape",
    "adk_error",
    "adk_event",
    "encode_empty",
    "encode_event",
    "encode_malformed",
    "function_call_part",
    "function_response_part",
    "heartbeat_event",
    "legacy_error",
    "legacy_text",
    "legacy_tool_call",
    "legacy_tool_result",
    "text_part",
]

Shape = Literal["adk", "legacy"]
Event = dict[str, Any]

AUTHOR = "nemo_agent"


def heartbeat_event() -> Event:
    return {"type": "heartbeat"}


# --- adk -----------------------------------------------------------------------------------


def text_part(text: str) -> Event:
    return {"text": text}


def function_call_part(call_id: str, name: str, args: Mapping[str, Any]) -> Event:
    return {"functionCall": {"id": call_id, "name": name, "args": dict(args)}}


def function_response_part(call_id: str, name: str, response: Mapping[str, Any]) -> Event:
    return {"functionResponse": {"id": call_id, "name": name, "response": dict(response)}}


def adk_event(
    *,
    event_id: str,
    invocation_id: str,
    timestamp: float,
    parts: list[Event],
    role: Literal["model", "user"] = "model",
    partial: bool | None = None,
) -> Event:
    event: Event = {
        "id": event_id,
        "invocationId": invocation_id,
        "author": AUTHOR,
        "timestamp": timestamp,
        "content": {"role": role, "parts": parts},
        "actions": {"stateDelta": {}, "artifactDelta": {}},
    }
    if partial is not None:
        event["partial"] = partial
    return event


def adk_error(message: str) -> Event:
    return {"error": message}


# --- legacy --------------------------------------------------------------------------------


def legacy_text(content: str) -> Event:
    return {"type": "text", "content": content}


def legacy_tool_call(name: str, args: Mapping[str, Any]) -> Event:
    return {"type": "tool_call", "name": name, "args": dict(args)}


def legacy_tool_result(name: str, result: Mapping[str, Any]) -> Event:
    return {"type": "tool_result", "name": name, "result": dict(result)}


def legacy_error(message: str) -> Event:
    return {"type": "error", "message": message}


# --- one builder for both shapes -----------------------------------------------------------


class EventBuilder:
    """Builds the events of one run in one shape; ids and timestamps come from the caller."""

    __slots__ = ("invocation_id", "shape")

    def __init__(self, shape: Shape, invocation_id: str) -> None:
        self.shape = shape
        self.invocation_id = invocation_id

    def text(self, text: str, *, event_id: str, timestamp: float) -> Event:
        if self.shape == "legacy":
            return legacy_text(text)
        return self._adk(event_id, timestamp, text_part(text), "model")

    def call(
        self, call_id: str, name: str, args: Mapping[str, Any], *, event_id: str, timestamp: float
    ) -> Event:
        if self.shape == "legacy":
            return legacy_tool_call(name, args)
        return self._adk(event_id, timestamp, function_call_part(call_id, name, args), "model")

    def response(
        self,
        call_id: str,
        name: str,
        response: Mapping[str, Any],
        *,
        event_id: str,
        timestamp: float,
    ) -> Event:
        if self.shape == "legacy":
            return legacy_tool_result(name, response)
        part = function_response_part(call_id, name, response)
        return self._adk(event_id, timestamp, part, "user")

    def error(self, message: str) -> Event:
        return legacy_error(message) if self.shape == "legacy" else adk_error(message)

    def _adk(
        self, event_id: str, timestamp: float, part: Event, role: Literal["model", "user"]
    ) -> Event:
        return adk_event(
            event_id=event_id,
            invocation_id=self.invocation_id,
            timestamp=timestamp,
            parts=[part],
            role=role,
        )


# --- encoding ------------------------------------------------------------------------------


def encode_event(obj: Mapping[str, Any]) -> bytes:
    """One SSE event: ``data: <compact json>`` and a blank line (JSON escapes any newline).

    Framed by sse-starlette's `ServerSentEvent`, with ``\\n`` line ends (its default is
    ``\\r\\n``; the documents say nothing, and the mock has always sent ``\\n``: every reader here
    takes either, see `sse_frames`)."""
    return _frame(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))


def _frame(data: str) -> bytes:
    return ServerSentEvent(data=data, sep="\n").encode()


def encode_empty() -> bytes:
    """An empty ``data:`` line: the backend is still working."""
    return EMPTY_BYTES


def encode_malformed() -> bytes:
    """A ``data:`` line that is not JSON (an unterminated object), for the malformed-line fault."""
    return _frame('{"type":"heartbeat"')


HEARTBEAT_BYTES = encode_event(heartbeat_event())
EMPTY_BYTES = _frame("")
