"""Encodes run in a child process: same file, same refusals, and a cancel stops the child."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import pytest

from mock_backend.rendering.encoder_process import ProcessEngine
from mock_backend.rendering.render_engine import RenderError, RenderJob

Url = Callable[[str], str]


def song_draft(url: Url, d: int = 3000) -> dict[str, Any]:
    return {
        "t": [
            {
                "id": "trk_bg",
                "tt": 0,
                "m": {"role": "background"},
                "sg": [
                    {"id": "s1", "s": 0, "d": d, "m": {"kind": "image", "src": url("cover.png")}}
                ],
            },
            {
                "id": "trk_main",
                "tt": 1,
                "m": {"role": "main"},
                "sg": [
                    {"id": "s2", "s": 0, "d": d, "m": {"kind": "audio", "src": url("song.mp3")}}
                ],
            },
        ],
        "d": d,
        "m": {"canvas": {"w": 320, "h": 180}},
    }


class Stopper(Exception):
    """What the mock's progress callback raises when the job was cancelled."""


def encoders() -> list[str]:
    return [p.name for p in multiprocessing.active_children() if p.name == "nemo-encode"]


def test_the_encode_runs_in_a_child_and_writes_the_same_file(
    tmp_path: Path, uploaded: dict[str, Path], url: Url
) -> None:
    seen: list[tuple[float, list[str]]] = []
    out = tmp_path / "r1" / "output.mp4"
    result = ProcessEngine()(
        RenderJob(song_draft(url), uploaded, "mp4", out, "high"),
        lambda f: seen.append((f, encoders())),
    )
    assert result.path == out
    assert result.size == out.stat().st_size > 0
    assert result.duration == pytest.approx(3.0, abs=0.1)
    with av.open(str(out)) as container:
        assert {s.type for s in container.streams} == {"video", "audio"}
    fractions = [f for f, _ in seen]
    assert fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert all(children == ["nemo-encode"] for _, children in seen)  # reported from a child
    assert encoders() == []  # and the child is gone once the file is written
    assert sorted(p.name for p in out.parent.iterdir()) == ["output.mp4"]


def test_a_refusal_reaches_the_caller_as_the_engines_error(
    tmp_path: Path, uploaded: dict[str, Path], url: Url
) -> None:
    draft = song_draft(url)
    draft["t"][1]["sg"][0]["m"]["src"] = url("notes.mp3")  # notes, not a song
    out = tmp_path / "r2" / "output.mp4"
    with pytest.raises(RenderError, match=r"segment s2: audio cannot be decoded"):
        ProcessEngine()(RenderJob(draft, uploaded, "mp4", out), lambda _: None)
    assert not out.exists()


def test_a_cancel_stops_the_child_and_leaves_no_file(
    tmp_path: Path, uploaded: dict[str, Path], url: Url
) -> None:
    calls = []

    def cancelled(fraction: float) -> None:
        calls.append(fraction)
        raise Stopper  # as `Renders` does for a cancelled or reset job

    out = tmp_path / "r3" / "output.mp4"
    with pytest.raises(Stopper):
        ProcessEngine()(RenderJob(song_draft(url, d=20_000), uploaded, "mp4", out), cancelled)
    assert calls  # stopped at the first report
    assert encoders() == []
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # the partial file went with it


def test_a_child_that_dies_is_an_error_saying_so(
    tmp_path: Path, uploaded: dict[str, Path], url: Url
) -> None:
    def kill_it(_: float) -> None:
        for child in multiprocessing.active_children():
            if child.name == "nemo-encode" and child.pid is not None:
                os.kill(child.pid, signal.SIGKILL)

    out = tmp_path / "r4" / "output.mp4"
    with pytest.raises(RenderError, match=r"ended without an answer \(exit code -9\)"):
        ProcessEngine()(RenderJob(song_draft(url, d=20_000), uploaded, "mp4", out), kill_it)
    assert not out.exists()
