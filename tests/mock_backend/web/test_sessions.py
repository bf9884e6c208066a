"""Sessions: creation, ownership (1002 for unknown and foreign sessions), and their state."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import httpx
import pytest

from ..conftest import (
    ATTRIBUTION,
    SONG_SECONDS,
    STORES,
    WAVEFORM,
    Media,
    Twin,
    assert_error,
    auth,
    run_body,
)

pytestmark = pytest.mark.anyio

READY_DRAFT = {"t": [{"tt": 7, "sg": [{"s": 0, "d": 1000, "m": {"text": "hi"}}]}], "d": 1000}

SessionCall = Callable[[httpx.AsyncClient, str, str], Awaitable[httpx.Response]]


async def state_of(client: httpx.AsyncClient, token: str, sid: str) -> httpx.Response:
    return await client.get(f"/api/state/nemo_agent/me/{sid}/latest", headers=auth(token))


async def upload_to(client: httpx.AsyncClient, token: str, sid: str) -> httpx.Response:
    return await client.post(
        f"/api/upload-video/nemo_agent/me/{sid}",
        json={"urls": ["https://example.com/song.mp3"], "source_type": "url"},
        headers=auth(token),
    )


async def chat_in(client: httpx.AsyncClient, token: str, sid: str) -> httpx.Response:
    return await client.post(
        "/run_sse",
        json=run_body(sid, WAVEFORM),
        headers={**auth(token), "Accept": "text/event-stream"},
    )


async def render_in(client: httpx.AsyncClient, token: str, sid: str) -> httpx.Response:
    body = {"id": "render_1", "sessionId": sid, "draft": READY_DRAFT}
    return await client.post(
        "/api/render/proxy/lambda", json=body, headers={**auth(token), **ATTRIBUTION}
    )


async def claim_for(client: httpx.AsyncClient, token: str, sid: str) -> httpx.Response:
    return await client.post(
        "/api/auth/claim-token",
        json={"task_id": "task_00000000", "session_id": sid},
        headers=auth(token),
    )


SESSION_CALLS: list[tuple[SessionCall, str]] = [
    (state_of, "path.session_id"),
    (upload_to, "path.session_id"),
    (chat_in, "body.session_id"),
    (render_in, "body.sessionId"),
    (claim_for, "body.session_id"),
]
IDS = ["state", "upload", "run_sse", "render", "claim-token"]


async def test_create_returns_the_task_and_the_session(twin: Twin) -> None:
    token = await twin.token()
    response = await twin.client.post(
        "/api/tasks/me/with-session/nemo_agent",
        json={"task_name": "project", "language": "en"},
        headers=auth(token),
    )
    body = response.json()
    assert (response.status_code, body["code"]) == (200, 0)
    assert re.fullmatch(r"task_[A-Za-z0-9]+", body["data"]["task_id"])
    assert re.fullmatch(r"ses_[A-Za-z0-9]+", body["data"]["session_id"])
    assert body["data"]["user_id"].startswith("anon_")
    second = await twin.session(token)
    assert second["session_id"] != body["data"]["session_id"]


@pytest.mark.parametrize(("call", "field"), SESSION_CALLS, ids=IDS)
async def test_an_unknown_session_is_1002(twin: Twin, call: SessionCall, field: str) -> None:
    token = await twin.token()
    response = await call(twin.client, token, "ses_000000000000")
    body = assert_error(response, 1002, field=field)
    assert "ses_000000000000" in body["message"]


@pytest.mark.parametrize(("call", "field"), SESSION_CALLS, ids=IDS)
async def test_a_session_of_another_user_is_1002(twin: Twin, call: SessionCall, field: str) -> None:
    owner = await twin.ready()
    stranger = await twin.token()
    assert_error(await call(twin.client, stranger, owner.session_id), 1002, field=field)
    # and the owner's session is untouched
    state = await twin.state(owner.token, owner.session_id)
    assert state["state"]["video_infos"] == []
    assert state["state"]["draft"]["t"] == []


async def test_a_new_session_has_an_empty_draft(twin: Twin) -> None:
    ready = await twin.ready()
    data = await twin.state(ready.token, ready.session_id)
    assert (data["session_id"], data["task_id"], data["task_name"]) == (
        ready.session_id,
        ready.task_id,
        "project",
    )
    assert data["state"]["draft"]["t"] == []
    assert data["state"]["video_infos"] == []
    assert data["state"]["generated_media"] == []
    assert set(data["state"]["canvas_config"]) == {"w", "h"}


@pytest.mark.parametrize("mock_store", STORES, indirect=True)
async def test_state_holds_the_uploads_with_their_measured_metadata(
    twin: Twin, media: Media
) -> None:
    ready = await twin.ready(media.song, media.clip, media.cover)
    infos = (await twin.state(ready.token, ready.session_id))["state"]["video_infos"]
    assert infos == ready.files
    song, clip, cover = infos
    assert (song["filename"], song["file_type"]) == ("song.mp3", "audio")
    assert song["duration"] == pytest.approx(SONG_SECONDS, abs=0.05)
    assert (song["width"], song["height"], song["fps"]) == (None, None, None)
    assert (clip["file_type"], clip["width"], clip["height"]) == ("video", 320, 240)
    assert clip["fps"] == pytest.approx(10)
    assert clip["duration"] == pytest.approx(2.0, abs=0.05)
    assert (cover["file_type"], cover["width"], cover["height"]) == ("image", 320, 320)
    assert all(info["measured"] is True for info in infos)


@pytest.mark.parametrize("mock_store", STORES, indirect=True)
async def test_state_holds_the_draft_the_agent_built(twin: Twin, media: Media) -> None:
    ready = await twin.ready(media.song, media.cover)
    await twin.chat(ready.token, ready.session_id)
    draft = (await twin.state(ready.token, ready.session_id))["state"]["draft"]
    assert any(track["sg"] for track in draft["t"])
    assert draft["d"] == pytest.approx(SONG_SECONDS * 1000, abs=50)
    sources = {seg["m"].get("src") for track in draft["t"] for seg in track["sg"]}
    assert {file["cdn_url"] for file in ready.files} <= sources
