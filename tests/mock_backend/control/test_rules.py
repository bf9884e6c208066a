"""Rules as the control API takes them and gives them back: every mistake refused with 422 and
named, and a rule read back (``GET /__mock/scenarios``) in the words it was given."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mock_backend.agent.stream import StreamFaults
from mock_backend.control.rules import RuleError
from mock_backend.control.scenarios import ScenarioBook
from mock_backend.openapi.spec import load_spec

KNOWN_EFFECTS = [
    "drain_credits",
    "forget_session",
    "free_plan",
    "expire_token",
    "revoke_token",
    "silent_close",
    "trailing_issue",
    "legacy_shape",
    "slow_render",
    "fail_render",
    "lose_render",
    "rest_statuses",
    "break_output_url",
]


@pytest.fixture
def book() -> ScenarioBook:
    return ScenarioBook(set(load_spec().operations))


def refused(book: ScenarioBook, respond: dict[str, Any]) -> RuleError:
    with pytest.raises(RuleError) as caught:
        book.build({"rule": {"match": {"operation": "runSse"}, "respond": respond}})
    assert caught.value.code == 422
    return caught.value


def test_a_rule_reads_back_in_the_words_it_was_given(book: ScenarioBook) -> None:
    rule = {
        "match": {"operation": "runSse"},
        "respond": {
            "effects": ["silent_close", "drain_credits"],
            # only the faults named, in their order, with their values as given
            "stream": {"stall_for": 5, "stall_after": None},
        },
        "times": None,
    }
    book.add(book.build({"rule": rule, "scope": {"client_id": "c-1"}}))
    [active] = json.loads(json.dumps(book.active()))
    assert active == {
        "id": "r1",
        "match": {
            "operation": "runSse",
            "method": None,
            "path": None,
            "token": None,
            "client_id": "c-1",
            "session_id": None,
            "user_id": None,
            "headers": {},
            "body": {},
            "nth": None,
        },
        "respond": {
            "code": None,
            "status": None,
            "body": None,
            "message": None,
            "delay": 0.0,
            "fault": None,
            "stream": {"stall_for": 5, "stall_after": None},
            "effects": ["silent_close", "drain_credits"],
        },
        "times": None,
        "name": None,
        "seen": 0,
        "fired": 0,
        "exhausted": False,
    }
    assert list(active["respond"]["stream"]) == ["stall_for", "stall_after"]


def test_a_scenario_reads_back_with_its_effects_as_names(book: ScenarioBook) -> None:
    book.add(book.build({"name": "slow-render"}))
    [active] = book.active()
    assert active["name"] == "slow-render"
    assert active["respond"]["effects"] == ["slow_render"]
    assert json.loads(json.dumps(active["respond"]["effects"])) == ["slow_render"]
    assert active["respond"]["stream"] is None


def test_an_unknown_effect_is_refused_naming_the_known_ones(book: ScenarioBook) -> None:
    error = refused(book, {"effects": ["silent_close", "slow_rendr"]})
    assert error.data == {"field": "body.respond.effects"}
    assert "slow_rendr" in error.message
    assert all(name in error.message for name in KNOWN_EFFECTS), error.message
    assert book.active() == []


@pytest.mark.parametrize("effects", ["silent_close", 5, {"silent_close": True}, [["x"]]])
def test_effects_that_are_not_a_list_of_names_are_refused(book: ScenarioBook, effects: Any) -> None:
    error = refused(book, {"effects": effects})
    assert error.data == {"field": "body.respond.effects"}
    assert "silent_close" in error.message  # the names it could have used


EARLIER_LATER = [
    ({"stall_after": 5, "stall_for": 10}, {"stall_for": 20}),  # a later field wins
    ({"buffered": True}, {"cut_at_event": 1}),  # fields of both
    ({"buffered": True, "stall_after": 5}, {"buffered": False, "stall_after": None}),  # defaults
    ({}, {"error_at_event": 0, "error_message": "boom"}),
]


@pytest.mark.parametrize(("earlier", "later"), EARLIER_LATER)
def test_stream_faults_of_two_rules_combine_as_their_json_objects_merge(
    book: ScenarioBook, earlier: dict[str, Any], later: dict[str, Any]
) -> None:
    first, second = (
        book.build({"rule": {"match": {"operation": "runSse"}, "respond": {"stream": raw}}})[0]
        for raw in (earlier, later)
    )
    assert first.respond.stream is not None
    assert second.respond.stream is not None
    combined = second.respond.stream.over(first.respond.stream.over(None))
    assert combined == StreamFaults.from_dict({**earlier, **later})
