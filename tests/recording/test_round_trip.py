"""The reference client through the recorder, then against the replay of what was recorded."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from mock_backend.recording.cassette import load_recording
from mock_backend.recording.replay import create_replayer
from mock_backend.state.clock import Clock, parse_clock
from mock_backend.web.app import create_app
from mock_backend.web.server import LiveServer

from .servers import SCALE, Recorded, run_client, sha256, twin_settings


def _media_bodies(recorded: Recorded) -> list[dict[str, Any]]:
    found = []
    for exchange in load_recording(recorded.out).exchanges():
        for side in ("request", "response"):
            body = exchange[side].get("body") or {}
            parts = body.get("multipart", [])
            found += [p["media"] for p in parts if "media" in p]
            if "media" in body:
                found.append(body["media"])
    return found


@pytest.mark.parametrize("job", ["convert", "extract"])
def test_the_main_jobs_run_through_the_recorder_unchanged(recorded: Recorded, job: str) -> None:
    done = recorded.runs[job]
    assert done.returncode == 0, done.stdout + done.stderr
    output = recorded.outputs[job]
    with av.open(str(output)) as container:
        assert container.duration is not None
        assert abs(container.duration / 1e6 - 6.0) < 0.3
    # the bytes went through untouched both ways: the upload the upstream got is the input,
    # the file the client saved is the one the upstream served
    hashes = {m["sha256"]: m for m in _media_bodies(recorded)}
    assert sha256(recorded.inputs[job]) in hashes
    assert hashes[sha256(output)]["size"] == output.stat().st_size


def test_the_outputs_are_those_of_the_same_jobs_without_the_recorder(
    recorded: Recorded, tmp_path: Path
) -> None:
    app = create_app(twin_settings(tmp_path / "data"))
    try:
        with LiveServer(app) as twin:
            for job, args in recorded.jobs.items():  # in the recorded order: the same draws
                mine = str(recorded.outputs[job]) if job in recorded.outputs else None
                direct = [str(tmp_path / job) if a == mine else a for a in args]
                done = run_client(twin.url, tmp_path / f"home-{job}", *direct)
                assert done.returncode == 0, done.stdout + done.stderr
                assert _lines(done.stdout) == _lines(recorded.runs[job].stdout)
                if job in recorded.outputs:
                    assert (tmp_path / job).read_bytes() == recorded.outputs[job].read_bytes()
    finally:
        app.state.backend.close()


def test_the_recording_is_one_readable_file_per_session(recorded: Recorded) -> None:
    recording = load_recording(recorded.out)
    sessions = [name for name in recording.sessions if name.startswith("ses_")]
    assert len(sessions) == 3  # chat, convert, extract: one session each
    operations = [e["operation"] for e in recording.exchanges()]
    assert operations.count("runSse") == 3
    assert {"createAnonymousToken", "uploadFiles", "submitRender", "getRender"} <= set(operations)
    stream = next(e for e in recording.exchanges() if e["operation"] == "runSse")
    stamps = [event["at"] for event in stream["response"]["events"]]
    assert stamps == sorted(stamps)
    assert stamps[-1] <= stream["response"]["closed_at"]


def test_the_recording_replays_to_the_same_client_output(
    recorded: Recorded, tmp_path: Path
) -> None:
    server = LiveServer(
        create_replayer(load_recording(recorded.out), clock=parse_clock(f"scaled:{SCALE}"))
    ).start()
    try:
        # the flow as recorded, in its order: calls outside a session (a new token, a new
        # session) are matched by their order in the recording
        chat = run_client(server.url, tmp_path / "home-chat", *recorded.jobs["chat"])
        assert chat.returncode == 0, chat.stdout + chat.stderr
        assert _lines(chat.stdout) == _lines(recorded.runs["chat"].stdout)
        outputs = {}
        for job, original in recorded.outputs.items():
            outputs[job] = tmp_path / original.name
            done = run_client(
                server.url,
                tmp_path / f"home-{job}",
                job,
                str(recorded.inputs[job]),
                "--out",
                str(outputs[job]),
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert outputs[job].read_bytes() == original.read_bytes()
            # what the client told its user is what it told the first time (tokens aside)
            assert _lines(done.stdout) == _lines(recorded.runs[job].stdout)
    finally:
        server.stop()


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "ct=clm_" not in line and "Saved" not in line]


class SleepLog(Clock):
    """A manual clock that notes every sleep and ends it at once (time moves by the sleep)."""

    def __init__(self) -> None:
        super().__init__(None)
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 4))
        self.advance(seconds)


def test_a_replayed_stream_keeps_its_recorded_gaps_on_the_clock(recorded: Recorded) -> None:
    recording = load_recording(recorded.out)
    stream = max(
        (e for e in recording.exchanges() if e["operation"] == "runSse"),
        key=lambda e: len(e["response"]["events"]),
    )
    events = stream["response"]["events"]
    clock = SleepLog()
    start = clock.now()
    server = LiveServer(create_replayer(recording, clock=clock)).start()
    try:
        request = stream["request"]
        with (
            httpx.Client(base_url=server.url) as http,
            http.stream(
                "POST",
                "/run_sse",
                json=request["body"]["json"],
                headers={"Accept": "text/event-stream"},
            ) as response,
        ):
            body = response.read().decode()
    finally:
        server.stop()
    assert body.count("\n\n") == len(events)
    stamps = [0.0] + [e["at"] for e in events] + [stream["response"]["closed_at"]]
    gaps = [round(b - a, 4) for a, b in itertools.pairwise(stamps) if b > a]
    assert clock.slept == pytest.approx(gaps, abs=1e-3)
    assert clock.now() - start == pytest.approx(stamps[-1], abs=1e-3)
