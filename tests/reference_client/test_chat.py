"""Reading a chat run: translation, hidden tool events, heartbeats, silent close, timeout,
disconnect recovery; and the message is never sent twice."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from clients_under_test.reference import NemoClient
from clients_under_test.reference.errors import CreditsError, RunError

from .backend import (
    DEMO_DRAFT,
    HEARTBEAT,
    Backend,
    FakeClock,
    StreamItem,
    adk_call,
    adk_result,
    adk_text,
    envelope,
    state_response,
)
from .conftest import MakeClient, Output

STILL_WORKING = "⏳ Still working..."


def without_title(draft: dict[str, Any]) -> dict[str, Any]:
    before = copy.deepcopy(draft)
    before["t"] = [t for t in before["t"] if t["tt"] != 7]
    before["d"] = 12_000
    return before


@pytest.fixture
def chatting(make_client: MakeClient, backend: Backend) -> NemoClient:
    client = make_client()
    client.new_session()
    backend.draft = without_title(DEMO_DRAFT)
    backend.draft_after_chat = None
    return client


def run(client: NemoClient, backend: Backend, stream: Sequence[StreamItem]) -> None:
    backend.chat_stream = list(stream)
    client.chat("add a title")


def test_the_request_is_the_documented_body_with_accept_event_stream(
    chatting: NemoClient, backend: Backend
) -> None:
    run(chatting, backend, [adk_text("Okay.")])
    (call,) = backend.ops("chat")
    assert call.request.headers["Accept"] == "text/event-stream"
    assert json.loads(call.request.content) == {
        "app_name": "nemo_agent",
        "user_id": "me",
        "session_id": "sess_1",
        "new_message": {"parts": [{"text": "add a title"}]},
    }


def test_text_is_shown_after_gui_translation(
    chatting: NemoClient, backend: Backend, output: Output
) -> None:
    run(chatting, backend, [adk_text("Title added. Click the Export button to download it.")])
    assert output.out.splitlines()[-1] == 'Title added. Say "export" and I\'ll render it.'
    assert "Click the Export button" not in output.all


def test_tool_events_are_never_shown(
    chatting: NemoClient, backend: Backend, output: Output
) -> None:
    legacy: list[StreamItem] = [{"type": "tool_call", "name": "x", "args": "TOOL-ARGS"}]
    run(chatting, backend, [adk_call(), adk_result(), *legacy, adk_text("Done.")])
    assert "Done." in output.out
    for hidden in ("TOOL-ARGS", "TOOL-RESULT", "add_title", "functionCall"):
        assert hidden not in output.all


def test_legacy_text_events_are_shown(
    chatting: NemoClient, backend: Backend, output: Output
) -> None:
    run(chatting, backend, [{"type": "text", "content": "Legacy reply."}])
    assert "Legacy reply." in output.out


@pytest.mark.parametrize("beat", [HEARTBEAT, ""], ids=["heartbeat-event", "empty-data"])
def test_still_working_once_per_two_minutes_of_heartbeats(
    chatting: NemoClient, backend: Backend, output: Output, beat: StreamItem
) -> None:
    stream: list[StreamItem] = []
    for _ in range(10):  # 10 beats, 30 s apart: 5 minutes
        stream += [30.0, beat]
    run(chatting, backend, [*stream, adk_text("Done.")])
    assert output.out.count(STILL_WORKING) == 2  # at 2 and 4 minutes


def test_partial_chunks_are_not_shown_twice(
    chatting: NemoClient, backend: Backend, output: Output
) -> None:
    stream = [adk_text("Hel", partial=True), adk_text("lo!", partial=True), adk_text("Hello!")]
    run(chatting, backend, stream)
    assert output.out.count("Hel") == 1


def test_partial_chunks_without_a_final_event_are_shown_joined(
    chatting: NemoClient, backend: Backend, output: Output
) -> None:
    run(chatting, backend, [adk_text("Hel", partial=True), adk_text("lo!", partial=True)])
    assert "Hello!" in output.out


def test_silent_close_reports_what_changed_in_the_state(
    chatting: NemoClient, backend: Backend, output: Output
) -> None:
    backend.draft_after_chat = copy.deepcopy(DEMO_DRAFT)
    run(chatting, backend, [adk_call(), HEARTBEAT, adk_result()])

    assert len(backend.ops("state")) == 2  # before sending, and after the stream closed
    assert '✅ Title added: "Urban Dreams"' in output.out
    assert "✅ Duration changed: 12s → 10s" in output.out


def test_silent_close_without_changes_says_so(
    chatting: NemoClient, backend: Backend, output: Output
) -> None:
    run(chatting, backend, [HEARTBEAT])
    assert "finished without a reply, and the timeline did not change" in output.out


def test_ten_minutes_of_heartbeats_only_is_a_timeout(
    chatting: NemoClient, backend: Backend, clock: FakeClock
) -> None:
    start = clock.now()
    stream: list[StreamItem] = []
    for _ in range(30):  # 15 minutes of heartbeats
        stream += [30.0, HEARTBEAT]
    with pytest.raises(RunError, match="No reply after 10 minutes"):
        run(chatting, backend, stream)
    assert clock.now() - start == 600.0  # stopped reading at the 10-minute mark
    assert len(backend.ops("chat")) == 1


def test_a_timeout_with_changes_reports_them(
    chatting: NemoClient, backend: Backend, output: Output
) -> None:
    backend.draft_after_chat = copy.deepcopy(DEMO_DRAFT)
    run(chatting, backend, [adk_call(), *[item for _ in range(21) for item in (30.0, HEARTBEAT)]])
    assert '✅ Title added: "Urban Dreams"' in output.out


def test_trailing_temporary_issue_after_other_text_is_ignored(
    chatting: NemoClient, backend: Backend, output: Output
) -> None:
    stream = [adk_text("Title added."), adk_text("I encountered a temporary issue. Try again.")]
    run(chatting, backend, stream)
    assert "Title added." in output.out
    assert "temporary issue" not in output.all


def test_a_temporary_issue_alone_is_shown(
    chatting: NemoClient, backend: Backend, output: Output
) -> None:
    run(chatting, backend, [adk_text("I encountered a temporary issue.")])
    assert "I encountered a temporary issue." in output.out


def test_a_malformed_line_is_skipped_and_reading_goes_on(
    chatting: NemoClient, backend: Backend, output: Output
) -> None:
    run(chatting, backend, ["{not json", "data-without-json", adk_text("Still here.")])
    assert "Still here." in output.out


@pytest.mark.parametrize(
    "event",
    [
        {"error": "model overloaded"},
        {"type": "error", "message": "model overloaded"},
        {"errorCode": "UNAVAILABLE", "errorMessage": "model overloaded"},
    ],
    ids=["adk-error", "legacy-error", "adk-error-code"],
)
def test_an_error_event_is_told_to_the_user(
    chatting: NemoClient, backend: Backend, event: dict[str, Any]
) -> None:
    with pytest.raises(RunError, match="model overloaded"):
        run(chatting, backend, [adk_text("Working on it."), event])
    assert len(backend.ops("chat")) == 1


def test_an_error_event_with_a_table_code_uses_the_table(
    chatting: NemoClient, backend: Backend
) -> None:
    with pytest.raises(CreditsError, match="register\\?bind=anon_42"):
        run(chatting, backend, [{"error": {"message": "no credits", "code": 2001}}])


def dropped(*before: StreamItem) -> list[StreamItem]:
    return [*before, 5.0, httpx.ReadError("connection reset")]


def test_disconnect_recovery_queries_state_on_the_30_60_schedule_then_fails(
    chatting: NemoClient, backend: Backend, clock: FakeClock
) -> None:
    with pytest.raises(RunError, match="did not change after 5 checks"):
        run(chatting, backend, dropped(adk_call()))

    assert clock.sleeps == [30.0, 60.0, 60.0, 60.0, 60.0]
    assert len(backend.ops("state")) == 1 + 5  # the snapshot before sending, then 5 queries
    assert len(backend.ops("chat")) == 1  # never re-sent


def test_disconnect_recovery_reports_changes_as_soon_as_they_show(
    chatting: NemoClient, backend: Backend, clock: FakeClock, output: Output
) -> None:
    before = without_title(DEMO_DRAFT)
    backend.queue(
        "state",
        state_response(before),  # snapshot before sending
        state_response(before),  # after 30 s: unchanged
        state_response(before),  # after 60 s more: unchanged
        state_response(DEMO_DRAFT),  # after 60 s more: the title is there
    )
    run(chatting, backend, dropped(adk_text("Adding a title…")))

    assert clock.sleeps == [30.0, 60.0, 60.0]
    assert '✅ Title added: "Urban Dreams"' in output.out
    assert len(backend.ops("chat")) == 1


def test_a_state_query_that_fails_during_recovery_counts_as_unchanged(
    chatting: NemoClient, backend: Backend, clock: FakeClock, output: Output
) -> None:
    def offline(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("offline", request=request)

    backend.queue("state", state_response(without_title(DEMO_DRAFT)), offline)
    backend.draft = DEMO_DRAFT
    run(chatting, backend, dropped())
    assert clock.sleeps == [30.0, 60.0]
    assert "✅" in output.out


def test_a_refused_request_is_retried_in_a_new_session_not_a_running_one(
    chatting: NemoClient, backend: Backend
) -> None:
    backend.queue("chat", envelope(code=1002, status=404))
    run(chatting, backend, [adk_text("Okay.")])
    sessions = [json.loads(c.request.content)["session_id"] for c in backend.ops("chat")]
    assert sessions == ["sess_1", "sess_2"]
