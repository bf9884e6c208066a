"""The wire format of /run_sse: each ``data:`` payload → typed events."""

from __future__ import annotations

import json

import pytest

from clients_under_test.reference.sse import (
    Heartbeat,
    RunFailed,
    Skipped,
    StreamEvent,
    Text,
    ToolActivity,
    parse_data,
)

from .backend import adk_call, adk_result, adk_text


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (adk_text("Hello"), [Text("Hello")]),
        (adk_text("Hel", partial=True), [Text("Hel", partial=True)]),
        (adk_call(), [ToolActivity("add_title")]),
        (adk_result(), [Skipped("user content")]),
        (
            {
                "content": {
                    "role": "model",
                    "parts": [{"text": "A"}, {"functionCall": {"name": "f"}}],
                }
            },
            [Text("A"), ToolActivity("f")],
        ),
        (
            {"content": {"role": "model", "parts": [{"text": "hmm", "thought": True}]}},
            [Skipped("no visible parts")],
        ),
        ({"type": "text", "content": "Legacy hello"}, [Text("Legacy hello")]),
        ({"type": "tool_call", "name": "trim"}, [ToolActivity("trim")]),
        ({"type": "tool_result", "name": "trim"}, [ToolActivity("trim")]),
        ({"type": "heartbeat"}, [Heartbeat()]),
        ("", [Heartbeat()]),
        ({"error": "model overloaded"}, [RunFailed("model overloaded")]),
        ({"error": {"message": "no credits", "code": 2001}}, [RunFailed("no credits", 2001)]),
        ({"type": "error", "message": "legacy failure"}, [RunFailed("legacy failure")]),
        ({"errorCode": "MALFORMED", "errorMessage": "bad call"}, [RunFailed("bad call")]),
        ("{not json", [Skipped("malformed JSON")]),
        ("[1, 2]", [Skipped("not a JSON object")]),
        ({"type": "mystery"}, [Skipped("unknown type 'mystery'")]),
    ],
    ids=lambda value: None,
)
def test_parse_data(payload: object, expected: list[StreamEvent]) -> None:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    assert parse_data(data) == expected
