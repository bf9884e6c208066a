"""Servers for the recording tests: a real mock as the upstream (uvicorn on a free port, a
scaled clock), the recording proxy in front of it sharing that clock (so recorded gaps are the
mock's virtual seconds), and the reference client run as a user runs it: a subprocess with its
own HOME.

One recording is made per test session (`recorded`): the main job in both directions and a
generation chat (long enough for several heartbeats), each from a fresh client, with media
kept so the recording can be replayed to the same files.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mock_backend.media.samples import make_clip, make_song
from mock_backend.recording.proxy import create_recorder
from mock_backend.settings import Settings
from mock_backend.state.clock import Clock
from mock_backend.web.app import create_app
from mock_backend.web.server import LiveServer

CLIENT = Path(sys.executable).parent / "nemo-client"
SCALE = 100


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_client(base_url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEMO_")}
    env.update({"NEMO_API_URL": base_url, "HOME": str(home), "NEMO_TIME_SCALE": str(SCALE)})
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [str(CLIENT), *args], env=env, capture_output=True, text=True, timeout=240, check=False
    )


@dataclass
class Upstream:
    """A mock upstream and a recorder in front of it, both served over TCP."""

    app: Any
    server: LiveServer
    recorder: LiveServer
    out: Path

    @property
    def clock(self) -> Clock:
        clock: Clock = self.app.state.backend.clock
        return clock

    def stop(self) -> None:
        try:
            self.recorder.stop()
        finally:
            self.server.stop()
            self.app.state.backend.close()


def twin_settings(data: Path) -> Settings:
    """A mock whose draws follow the order of token requests, not the client ids (new on each
    run): two of them given the same jobs in the same order render the same bytes."""
    return Settings(clock=f"scaled:{SCALE}", data_dir=data, draws="order")


def record_through(
    out: Path, data: Path, *, settings: Settings | None = None, wrap: Any = None
) -> Upstream:
    """Start a mock (optionally wrapped by an ASGI middleware ``wrap``) and a recorder."""
    app = create_app(settings or twin_settings(data))
    server = LiveServer(wrap(app) if wrap else app).start()
    recorder_app = create_recorder(
        server.url,
        out,
        clock=app.state.backend.clock,
        clock_name=f"scaled:{SCALE}",
        keep_media=True,
    )
    try:
        recorder = LiveServer(recorder_app).start()
    except BaseException:
        server.stop()
        app.state.backend.close()
        raise
    return Upstream(app, server, recorder, out)


@dataclass
class Recorded:
    out: Path  # the recording
    inputs: dict[str, Path]
    outputs: dict[str, Path]  # what the client saved, through the recorder
    runs: dict[str, subprocess.CompletedProcess[str]]
    homes: dict[str, Path]
    jobs: dict[str, list[str]]
    tokens: set[str] = field(default_factory=set)  # every token the clients held or printed


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    root = tmp_path_factory.mktemp("recorded")
    song, clip = make_song(root / "song.mp3", 6.0), root / "clip.mp4"
    make_clip(clip, 6.0)
    upstream = record_through(root / "rec", root / "data")
    jobs = {
        "chat": ["chat", "generate a 30 second video of a city timelapse"],
        "convert": ["convert", str(song), "--out", str(root / "song.mp4")],
        "extract": ["extract", str(clip), "--out", str(root / "clip.mp3")],
    }
    runs, homes = {}, {}
    try:
        for name, args in jobs.items():
            homes[name] = root / f"home-{name}"
            runs[name] = run_client(upstream.recorder.url, homes[name], *args)
    finally:
        upstream.stop()
    result = Recorded(
        root / "rec",
        {"convert": song, "extract": clip},
        {"convert": root / "song.mp4", "extract": root / "clip.mp3"},
        runs,
        homes,
        jobs,
    )
    pattern = re.compile(r"(?:nmv_usr_|clm_)[A-Za-z0-9]{6,}")
    for name, done in runs.items():
        result.tokens |= set(pattern.findall(done.stdout + done.stderr))
        for path in homes[name].rglob("*"):
            if path.is_file():
                result.tokens |= set(pattern.findall(path.read_text("utf-8", "replace")))
    return result
