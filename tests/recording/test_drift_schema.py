"""One exchange at a time against the contract: each kind of drift, and what is never drift."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contract.drift.schema import check_exchange
from mock_backend.openapi.spec import load_spec


def _credits(status: int, body: Any, content_type: str = "application/json") -> dict[str, Any]:
    return {
        "seq": 1,
        "operation": "getCredits",
        "request": {"method": "GET", "path": "/api/credits/balance/simple", "headers": {}},
        "response": {
            "status": status,
            "headers": {"content-type": content_type},
            "body": {"json": body},
        },
    }


def _kinds(exchange: dict[str, Any]) -> list[tuple[str, str]]:
    return [(d.kind, d.where) for d in check_exchange(load_spec(), exchange, "test #1")]


OK: dict[str, Any] = {
    "code": 0,
    "message": "ok",
    "data": {"available": 100, "frozen": 0, "total": 100},
}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, OK, []),
        (418, OK, [("undocumented-status", "status 418")]),
        (
            200,
            {"code": 0, "message": "ok", "data": {"available": 100, "total": 100}},
            [("missing-field", "response.data.frozen")],
        ),
        (
            200,
            {"code": 0, "message": "ok", "data": {**OK["data"], "bonus": 5}},
            [("unknown-field", "response.data.bonus")],
        ),
        (
            200,
            {"code": 0, "message": "ok", "data": {**OK["data"], "total": 100.5}},
            [("changed-type", "response.data.total")],
        ),
        (
            200,
            {"code": 7777, "message": "new", "data": None},
            [("undocumented-code", "response.code")],
        ),
    ],
)
def test_each_kind_of_drift_is_named_once(
    status: int, body: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert _kinds(_credits(status, body)) == expected


def test_an_undocumented_media_type_is_drift() -> None:
    assert _kinds(_credits(200, OK, "text/xml")) == [
        ("undocumented-media-type", "status 200 text/xml")
    ]


def _run(*events: Any) -> dict[str, Any]:
    return {
        "seq": 2,
        "operation": "runSse",
        "request": {
            "method": "POST",
            "path": "/run_sse",
            "headers": {"accept": "text/event-stream"},
        },
        "response": {
            "status": 200,
            "headers": {"content-type": "text/event-stream; charset=utf-8"},
            "events": [
                {"at": float(i), "data": e if isinstance(e, str) else json.dumps(e)}
                for i, e in enumerate(events)
            ],
        },
    }


def _agent(event_id: str, stamp: float, text: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "invocationId": f"e-{event_id}",
        "author": "nemo_agent",
        "timestamp": stamp,
        "content": {"role": "model", "parts": [{"text": text}]},
    }


def test_ids_and_timestamps_that_vary_are_never_drift() -> None:
    assert _kinds(_run(_agent("a1", 1.0, "hi"), "", {"type": "heartbeat"})) == []
    assert _kinds(_run(_agent("zz9", 1_900_000_000.5, "other"), {"type": "heartbeat"})) == []


def test_events_that_fit_no_shape_or_break_theirs_are_drift() -> None:
    found = _kinds(
        _run(
            {"type": "progress", "percent": 40},
            {**_agent("a", 1.0, "x"), "timestamp": "yesterday"},
            "not json at all",
        )
    )
    assert found == [
        ("unknown-event", "event.type progress"),
        ("changed-type", "event.timestamp"),
        ("unknown-event", "event"),
    ]
