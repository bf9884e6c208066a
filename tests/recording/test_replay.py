"""What a replay answers when a call matches nothing, or matches a body it did not keep."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml
from starlette.applications import Starlette

from mock_backend.recording.cassette import load_recording
from mock_backend.recording.replay import create_replayer
from mock_backend.state.clock import Clock
from mock_backend.web.server import LiveServer

from .servers import Recorded


def _replay(root: Path) -> Starlette:
    return create_replayer(load_recording(root), clock=Clock(None))


def test_an_unmatched_call_gets_the_envelope_naming_the_nearest_exchange(
    recorded: Recorded,
) -> None:
    with LiveServer(_replay(recorded.out)) as server, httpx.Client(base_url=server.url) as http:
        answer = http.get("/api/state/nemo_agent/me/ses_neverrecorded/latest")
        outside = http.get("/nowhere/at/all")
        bad = http.post(
            "/run_sse", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 404
    body = answer.json()
    assert set(body) == {"code", "message", "data"}
    assert body["code"] == 404
    assert "getSessionState" in body["message"]
    assert "nearest: the same call in another session: #" in body["message"]
    assert "GET /api/state/nemo_agent/me/ses_" in body["message"]
    assert ".yaml" in body["message"]
    assert outside.status_code == 404
    assert "outside the contract" in outside.json()["message"]
    assert bad.status_code == 404  # a body that is not JSON names no session: still an answer
    assert "runSse" in bad.json()["message"]


def test_media_recorded_as_a_hash_only_is_refused_with_what_to_do(
    recorded: Recorded, tmp_path: Path
) -> None:
    # the same recording as if made without --keep-media: hashes only, no media folder
    for path in recorded.out.rglob("*.yaml"):
        target = tmp_path / path.relative_to(recorded.out)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    download = next(
        e
        for e in load_recording(tmp_path).exchanges()
        if "media" in (e["response"].get("body") or {})
    )
    with LiveServer(_replay(tmp_path)) as server, httpx.Client(base_url=server.url) as http:
        answer = http.get(download["request"]["path"])
    assert answer.status_code == 404
    assert "record again with --keep-media" in answer.json()["message"]
    assert download["response"]["body"]["media"]["sha256"] in answer.json()["message"]


def test_past_the_recorded_polls_the_last_answer_repeats(recorded: Recorded) -> None:
    recording = load_recording(recorded.out)
    submit = next(e for e in recording.exchanges() if e["operation"] == "submitRender")
    polls = [e for e in recording.exchanges() if e["operation"] == "getRender"]
    render = submit["request"]["body"]["json"]
    live = {**render, "id": "render_live_1"}
    with LiveServer(_replay(recorded.out)) as server, httpx.Client(base_url=server.url) as http:
        assert http.post("/api/render/proxy/lambda", json=live).status_code == 200
        seen = [
            http.get("/api/render/proxy/lambda/render_live_1").json() for _ in range(len(polls) + 3)
        ]
    statuses = [s["status"] for s in seen]
    assert statuses[-4:] == ["completed"] * 4
    # the id the client chose this time, not the recorded one
    assert {s["id"] for s in seen} == {"render_live_1"}
    assert yaml.safe_dump(seen).count(render["id"]) == 0
