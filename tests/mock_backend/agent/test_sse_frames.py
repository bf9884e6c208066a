"""The one SSE parser: every line ending the standard allows, any chunking, cut streams."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_backend.agent.sse_frames import SseEvent, SseParser

STREAM = (
    ": ping - 2026-12-01\n\n"
    "data: {\"a\": 1}\n\n"
    "event: update\nid: 7\nretry: 3000\ndata: line one\ndata: line two\n\n"
    "data:\n\n"
    "data:no space\n\n"
)
EVENTS = [
    SseEvent('{"a": 1}'),
    SseEvent("line one\nline two", "update", "7", 3000),
    SseEvent("", id="7"),  # the id persists, as the standard says
    SseEvent("no space", id="7"),
]


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_every_line_ending_gives_the_same_events(ending: str) -> None:
    parser = SseParser()
    assert parser.feed(STREAM.replace("\n", ending).encode()) == EVENTS
    assert not parser.pending


@settings(max_examples=200, deadline=None)
@given(
    ending=st.sampled_from(["\n", "\r\n", "\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=12),
)
def test_any_chunking_gives_the_same_events(ending: str, cuts: list[int]) -> None:
    raw = STREAM.replace("\n", ending).encode()
    parser = SseParser()
    events: list[SseEvent] = []
    last = 0
    for cut in sorted({min(c, len(raw)) for c in cuts}):
        events += parser.feed(raw[last:cut])
        last = cut
    events += parser.feed(raw[last:])
    assert events == EVENTS


def test_a_stream_cut_inside_an_event_is_pending_with_its_text() -> None:
    parser = SseParser()
    assert parser.feed(b'data: {"a": 1}\r\n\r\ndata: {"ta') == [SseEvent('{"a": 1}')]
    assert parser.pending
    assert parser.rest() == 'data: {"ta'
    parser = SseParser()
    parser.feed(b"data: whole line\r\n")  # the line ended, the event did not
    assert parser.pending
    assert parser.rest() == "data: whole line"


def test_comments_alone_are_no_event_and_leave_nothing_pending() -> None:
    parser = SseParser()
    assert parser.feed(b": ping\r\n\r\n: ping\r\n\r\n") == []
    assert not parser.pending
