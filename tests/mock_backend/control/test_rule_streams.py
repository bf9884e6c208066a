"""A rule's `respond.stream` is checked when the rule is given, as the session faults are: a
misspelt fault is refused with its name, never accepted and then a 500 after the credits froze."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mock_backend.settings import Settings
from mock_backend.web.app import create_app
from mock_backend.web.server import LiveServer


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    server = LiveServer(create_app(Settings(clock="scaled:2000", seed=3))).start()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client
    server.stop()


def rule(stream: Any) -> dict[str, Any]:
    return {"rule": {"match": {"operation": "runSse"}, "respond": {"stream": stream}}}


@pytest.mark.parametrize(
    ("stream", "named"),
    [
        ({"stall_aftr": 30}, "stall_aftr"),  # a misspelt field
        ({"stall_after": "soon"}, "stall_after"),  # a field of the wrong type
        ({"cut_at_event": -1}, "cut_at_event"),
        (["stall_after"], "respond.stream"),  # not an object at all
    ],
)
def test_a_bad_stream_fault_in_a_rule_is_refused_and_named(
    http: httpx.Client, stream: Any, named: str
) -> None:
    answer = http.post("/__mock/scenarios", json=rule(stream))
    assert answer.status_code == 422, answer.text
    assert named in answer.json()["message"]
    assert http.get("/__mock/scenarios").json()["data"]["active"] == []


def run(http: httpx.Client, text: str = "add a title 'Urban Dreams'") -> tuple[str, dict[str, int]]:
    """One chat run of a new user on a new session: its stream, then the user's credits."""
    token = http.post("/__mock/tokens", json={"credits": 1000}).json()["data"]["token"]
    auth = {"Authorization": f"Bearer {token}"}
    sid = http.post(
        "/api/tasks/me/with-session/nemo_agent", headers=auth, json={"task_name": "r"}
    ).json()["data"]["session_id"]
    body = {
        "app_name": "nemo_agent",
        "user_id": "me",
        "session_id": sid,
        "new_message": {"parts": [{"text": text}]},
    }
    with http.stream(
        "POST", "/run_sse", json=body, headers={**auth, "Accept": "text/event-stream"}
    ) as stream:
        assert stream.status_code == 200
        said = stream.read().decode()
    credits = http.get("/api/credits/balance/simple", headers=auth).json()["data"]
    return said, credits


def test_a_good_stream_fault_in_a_rule_shapes_the_run_and_credits_settle(
    http: httpx.Client,
) -> None:
    assert http.post("/__mock/scenarios", json=rule({"error_at_event": 0})).status_code == 200
    text, credits = run(http)
    assert "The agent run failed" in text
    assert credits["frozen"] == 0  # nothing stays frozen after a failed run


def test_a_misspelt_stream_fault_is_refused_when_the_rule_is_given_not_when_it_fires(
    http: httpx.Client,
) -> None:
    """The bug: ``stall_aftr`` was accepted, then the run it matched answered 500 with the
    credits frozen. Now the rule is refused, and the next run is an ordinary one."""
    answer = http.post("/__mock/scenarios", json=rule({"stall_aftr": 30}))
    assert answer.status_code == 422, answer.text
    assert answer.json()["data"] == {"field": "body.respond.stream"}
    text, credits = run(http, "generate a 5 second video of a city at night")
    assert "The agent run failed" not in text
    assert credits == {"available": 900, "frozen": 0, "total": 900}  # charged once, settled
    journal = http.get("/__mock/journal", params={"operation": "runSse"}).json()["data"]
    assert [e["rule"] for e in journal["entries"]] == [None]
