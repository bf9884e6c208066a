"""The documents' timeline summary, and the "what changed" lines of a state comparison."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from clients_under_test.reference.errors import UnexpectedResponse
from clients_under_test.reference.models import ProjectState
from clients_under_test.reference.timeline import (
    describe_changes,
    has_exportable_content,
    summarize,
)

from .backend import DEMO_DRAFT


def state(draft: dict[str, Any], media: list[Any] | None = None) -> ProjectState:
    return ProjectState(
        task_name="project", draft=draft, video_infos=[], generated_media=media or []
    )


def test_the_documents_example_summary() -> None:
    assert summarize(DEMO_DRAFT) == (
        "Timeline (3 tracks): 1. Video: city timelapse (0-10s) 2. BGM: Lo-fi (0-10s, 35%) "
        '3. Title: "Urban Dreams" (0-3s)'
    )


@pytest.mark.parametrize(
    ("draft", "expected"),
    [
        ({}, "Timeline (0 tracks): empty"),
        (
            {
                "t": [
                    {
                        "id": "a",
                        "tt": 1,
                        "m": {"role": "main"},
                        "sg": [{"s": 1500, "d": 2000, "m": {"name": "Song", "volume": 80}}],
                    }
                ]
            },
            "Timeline (1 track): 1. Audio: Song (1.5-3.5s, 80%)",
        ),
        (
            {
                "t": [
                    {
                        "id": "v",
                        "tt": 0,
                        "m": {"name": "waveform", "role": "visualizer"},
                        "sg": [{"s": 0, "d": 5000, "m": {}}, {"s": 5000, "d": 5000, "m": {}}],
                    }
                ]
            },
            "Timeline (1 track): 1. Video: waveform (0-10s)",
        ),
        (
            {
                "t": [
                    {
                        "id": "x",
                        "tt": 7,
                        "m": {"role": "text"},
                        "sg": [{"s": 0, "d": 1000, "m": {"text": "hi"}}],
                    }
                ]
            },
            'Timeline (1 track): 1. Text: "hi" (0-1s)',
        ),
    ],
    ids=["empty", "audio-percent", "video-two-segments", "text"],
)
def test_summaries(draft: dict[str, Any], expected: str) -> None:
    assert summarize(draft) == expected


def test_exportable_means_a_track_with_segments() -> None:
    assert has_exportable_content(DEMO_DRAFT)
    assert not has_exportable_content({"t": [{"id": "v", "tt": 0, "sg": []}]})
    assert not has_exportable_content({})


def test_changes_name_what_was_added_and_the_duration() -> None:
    before = copy.deepcopy(DEMO_DRAFT)
    before["t"] = before["t"][:2]
    before["d"] = 12_000
    assert describe_changes(state(before), state(DEMO_DRAFT)) == [
        '✅ Title added: "Urban Dreams"',
        "✅ Duration changed: 12s → 10s",
    ]


def test_changes_for_an_added_track_and_a_removed_one() -> None:
    before = copy.deepcopy(DEMO_DRAFT)
    after = copy.deepcopy(DEMO_DRAFT)
    del before["t"][1]  # BGM appears
    del after["t"][2]  # title goes
    assert describe_changes(state(before), state(after)) == [
        "✅ Track added: BGM: Lo-fi (0-10s, 35%)",
        '✅ Track removed: Title: "Urban Dreams" (0-3s)',
    ]


def test_changes_for_edited_tracks() -> None:
    after = copy.deepcopy(DEMO_DRAFT)
    after["t"][2]["sg"][0]["m"]["text"] = "City Nights"
    after["t"][1]["sg"][0]["m"]["volume"] = 0.5
    assert describe_changes(state(DEMO_DRAFT), state(after)) == [
        "✅ Track updated: BGM: Lo-fi (0-10s, 35%) → BGM: Lo-fi (0-10s, 50%)",
        '✅ Title changed: "Urban Dreams" → "City Nights"',
    ]


def test_new_generated_media_is_a_change() -> None:
    assert describe_changes(state(DEMO_DRAFT), state(DEMO_DRAFT, ["clip"])) == [
        "✅ New media generated: 1 item(s)"
    ]


def test_no_change_is_an_empty_list() -> None:
    assert describe_changes(state(DEMO_DRAFT), state(copy.deepcopy(DEMO_DRAFT))) == []


@pytest.mark.parametrize("draft", [{"t": "nope"}, {"t": ["nope"]}, {"t": [{"sg": "nope"}]}])
def test_a_malformed_draft_is_an_unexpected_response(draft: dict[str, Any]) -> None:
    with pytest.raises(UnexpectedResponse, match="malformed"):
        summarize(draft)
