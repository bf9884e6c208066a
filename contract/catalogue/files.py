"""Files: uploads the backend refuses, and what the client must say."""

from __future__ import annotations

from .scenario import ClientScenario, Step, named, scenario

__all__ = ["SCENARIOS"]

SCENARIOS: list[ClientScenario] = [
    scenario(
        "err-4001",
        "error:4001",
        "the backend refuses the file type: show formats",
        Step("upload", input="song"),
        ("formats_on_4001",),
        setup=named("unsupported-file"),
        trigger="unsupported-file",
        expect="failure",
        about="format|support",
    ),
    scenario(
        "err-4001-local",
        "error:4001",
        "a .txt file is refused before upload: show formats",
        Step("upload", input="notes"),
        ("formats_on_4001",),
        expect="failure",
        about="format|support",
        params={"formats_on_4001": {"local": True}},
    ),
    scenario(
        "err-4002",
        "error:4002",
        "the file is too large: suggest compressing or trimming",
        Step("upload", input="song"),
        ("compress_on_4002",),
        setup=named("file-too-large"),
        trigger="file-too-large",
        expect="failure",
        about="large|size|MB|compress",
    ),
    scenario(
        "err-4002-rest",
        "error:4002",
        "4002 with HTTP 413 (REST profile) is handled by code",
        Step("upload", input="song"),
        ("compress_on_4002",),
        setup=named("file-too-large"),
        trigger="file-too-large",
        expect="failure",
        about="large|size|MB|compress",
        settings={"error_status": "rest"},
    ),
]
