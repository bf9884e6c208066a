"""The jobs of both skills: a song to an MP4, a video to an MP3, an edit, an export."""

from __future__ import annotations

from .scenario import CONVERT, EXTRACT, MP3_FILE, RENDER, VIDEO_FILE, ClientScenario, Step, scenario

__all__ = ["SCENARIOS"]

SCENARIOS: list[ClientScenario] = [
    scenario(
        "happy-convert",
        "delivery",
        "a song becomes a shareable MP4",
        CONVERT,
        ("output_file_valid", "tool_events_hidden", *RENDER),
        params=VIDEO_FILE,
    ),
    scenario(
        "happy-extract",
        "delivery",
        "a video becomes an MP3",
        EXTRACT,
        ("output_file_valid", *RENDER),
        params=MP3_FILE,
    ),
    scenario(
        "delivery-claim-link",
        "delivery",
        "after delivery, the task opens in the browser through a claim link (v1.9)",
        EXTRACT,
        ("claim_link", "output_file_valid"),
        params=MP3_FILE,
    ),
    scenario(
        "happy-convert-portrait",
        "delivery",
        "a song becomes a portrait MP4",
        Step("convert", input="song", text="portrait"),
        ("output_file_valid", *RENDER),
        params=VIDEO_FILE,
    ),
]
