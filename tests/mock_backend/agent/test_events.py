from __future__ import annotations

import json
from typing import Any

import pytest

from mock_backend.agent import events
from mock_backend.agent.events import EventBuilder
from mock_backend.openapi.spec import load_spec


def decode(chunk: bytes) -> Any:
    assert chunk.startswith(b"data: ")
    assert chunk.endswith(b"\n\n")
    body = chunk[len(b"data: ") : -2]
    assert b"\n" not in body
    return json.loads(body)


def test_encode_event_is_one_compact_data_line() -> None:
    chunk = events.encode_event({"type": "text", "content": "a\nb"})
    assert chunk == b'data: {"type":"text","content":"a\\nb"}\n\n'


def test_encode_event_keeps_chinese_as_utf8() -> None:
    chunk = events.encode_event(events.legacy_text("点击导出"))
    assert "点击导出".encode() in chunk
    assert decode(chunk) == {"type": "text", "content": "点击导出"}


def test_heartbeat_and_empty_line() -> None:
    assert events.HEARTBEAT_BYTES == b'data: {"type":"heartbeat"}\n\n'
    assert events.encode_event(events.heartbeat_event()) == events.HEARTBEAT_BYTES
    assert events.encode_empty() == events.EMPTY_BYTES == b"data: \n\n"


def test_malformed_line_is_not_json() -> None:
    chunk = events.encode_malformed()
    assert chunk.startswith(b"data: ")
    assert chunk.endswith(b"\n\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(chunk[6:-2])


def test_adk_event_shape() -> None:
    event = events.adk_event(
        event_id="AbCd1234",
        invocation_id="e-1",
        timestamp=1790000000.5,
        parts=[events.text_part("hi")],
    )
    assert event == {
        "id": "AbCd1234",
        "invocationId": "e-1",
        "author": "nemo_agent",
        "timestamp": 1790000000.5,
        "content": {"role": "model", "parts": [{"text": "hi"}]},
        "actions": {"stateDelta": {}, "artifactDelta": {}},
    }
    assert "partial" not in event
    partial = events.adk_event(
        event_id="x", invocation_id="e-1", timestamp=1.0, parts=[], partial=True
    )
    assert partial["partial"] is True


def test_builder_adk() -> None:
    build = EventBuilder("adk", "e-42")
    text = build.text("hello", event_id="a", timestamp=2.0)
    call = build.call("adk-1", "trim", {"duration_ms": 10}, event_id="b", timestamp=3.0)
    response = build.response("adk-1", "trim", {"status": "success"}, event_id="c", timestamp=4.0)
    assert text["content"]["parts"] == [{"text": "hello"}]
    assert call["content"] == {
        "role": "model",
        "parts": [{"functionCall": {"id": "adk-1", "name": "trim", "args": {"duration_ms": 10}}}],
    }
    assert response["content"] == {
        "role": "user",  # ADK puts tool results in a "user" content
        "parts": [
            {"functionResponse": {"id": "adk-1", "name": "trim", "response": {"status": "success"}}}
        ],
    }
    assert {e["invocationId"] for e in (text, call, response)} == {"e-42"}
    assert [e["timestamp"] for e in (text, call, response)] == [2.0, 3.0, 4.0]
    assert build.error("boom") == {"error": "boom"}


def test_builder_legacy() -> None:
    build = EventBuilder("legacy", "e-42")
    assert build.text("hello", event_id="a", timestamp=1.0) == {"type": "text", "content": "hello"}
    assert build.call("adk-1", "trim", {"d": 1}, event_id="b", timestamp=1.0) == {
        "type": "tool_call",
        "name": "trim",
        "args": {"d": 1},
    }
    assert build.response("adk-1", "trim", {"ok": 1}, event_id="c", timestamp=1.0) == {
        "type": "tool_result",
        "name": "trim",
        "result": {"ok": 1},
    }
    assert build.error("boom") == {"type": "error", "message": "boom"}


def every_event() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [events.heartbeat_event()]
    for shape in ("adk", "legacy"):
        build = EventBuilder(shape, "e-1")
        found += [
            build.text("hi", event_id="a", timestamp=1.0),
            build.call("c1", "trim", {"duration_ms": 1}, event_id="b", timestamp=1.0),
            build.response("c1", "trim", {"status": "success"}, event_id="c", timestamp=1.0),
            build.error("the agent run failed"),
        ]
    return found


@pytest.mark.parametrize("event", every_event(), ids=lambda e: json.dumps(e)[:40])
def test_every_event_matches_the_contract(event: dict[str, Any]) -> None:
    load_spec().schema_validator("StreamEvent").validate(event)
    assert decode(events.encode_event(event)) == event
