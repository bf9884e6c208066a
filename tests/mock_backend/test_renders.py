"""Renders: submit rules, the lifecycle on the clock, real output files, download and cancel."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import av
import httpx
import pytest

from .conftest import ATTRIBUTION, SONG_SECONDS, Media, Ready, Twin, assert_error, auth

pytestmark = pytest.mark.anyio

ORDER = ["pending", "processing", "completed"]
DECODERS = {"mp3float": "mp3"}  # FFmpeg decodes MP3 with its float decoder


def audio_draft(ready: Ready) -> dict[str, Any]:
    """The uploaded song alone on an audio track (the soundtrack of an MP3 export)."""
    song = ready.files[0]
    ms = round(song["duration"] * 1000)
    segment = {"id": "seg_song", "s": 0, "d": ms, "m": {"kind": "audio", "src": song["cdn_url"]}}
    return {
        "t": [{"id": "trk_song", "tt": 1, "m": {"role": "main"}, "sg": [segment]}],
        "d": ms,
        "m": {"canvas": {"w": 320, "h": 240}, "output": {"format": "mp4"}},
    }


def clip_draft(ready: Ready) -> dict[str, Any]:
    """The uploaded clip on a video track (its own audio is the soundtrack)."""
    clip = ready.files[0]
    ms = round(clip["duration"] * 1000)
    segment = {"id": "seg_clip", "s": 0, "d": ms, "m": {"kind": "video", "src": clip["cdn_url"]}}
    return {
        "t": [{"id": "trk_clip", "tt": 0, "m": {"role": "main"}, "sg": [segment]}],
        "d": ms,
        "m": {"canvas": {"w": 320, "h": 240}},
    }


async def agent_draft(twin: Twin, media: Media) -> tuple[Ready, dict[str, Any]]:
    """The draft the agent builds from a song and a cover ("…waveform…album art…")."""
    ready = await twin.ready(media.song, media.cover)
    await twin.chat(ready.token, ready.session_id)
    draft: dict[str, Any] = (await twin.state(ready.token, ready.session_id))["state"]["draft"]
    return ready, draft


async def song_alone(twin: Twin, media: Media) -> tuple[Ready, dict[str, Any]]:
    ready = await twin.ready(media.song)
    return ready, audio_draft(ready)


async def clip_alone(twin: Twin, media: Media) -> tuple[Ready, dict[str, Any]]:
    ready = await twin.ready(media.clip)
    return ready, clip_draft(ready)


async def completed(
    twin: Twin, ready: Ready, draft: dict[str, Any], render_id: str = "render_1", **kw: Any
) -> dict[str, Any]:
    response = await twin.submit(ready.token, ready.session_id, draft, render_id, **kw)
    assert response.json()["status"] == "pending", response.json()
    final = (await twin.until_finished(ready.token, render_id))[-1]
    assert final["status"] == "completed", f"{final['status']}: {final['error']}"
    return final


def probe(content: bytes) -> tuple[dict[str, str], float]:
    """(stream type → codec, duration in seconds) of a media file in memory."""
    with av.open(io.BytesIO(content), "r") as container:
        codecs: dict[str, str] = {
            stream.type: DECODERS.get(stream.codec_context.name, stream.codec_context.name)
            for stream in container.streams
        }
        assert container.duration is not None
        return codecs, container.duration / av.time_base


async def download(twin: Twin, token: str, render_id: str, **headers: str) -> httpx.Response:
    return await twin.client.get(
        f"/api/render/proxy/{render_id}/download", headers={**auth(token), **headers}
    )


# -- submitting --------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", sorted(ATTRIBUTION))
async def test_a_missing_attribution_header_is_402_naming_it(
    twin: Twin, media: Media, missing: str
) -> None:
    ready, draft = await song_alone(twin, media)
    headers = {k: v for k, v in ATTRIBUTION.items() if k != missing}
    response = await twin.submit(ready.token, ready.session_id, draft, "render_1", headers=headers)
    body = assert_error(response, 402, field=f"header.{missing}")
    assert missing in body["message"]


async def test_a_free_plan_cannot_export(twin: Twin, media: Media) -> None:
    minted = await twin.mint(plan="free")
    ready = await twin.ready(media.song, token=minted["token"])
    response = await twin.submit(ready.token, ready.session_id, audio_draft(ready), "render_1")
    body = assert_error(response, 402)
    assert body["data"]["reason"] == "plan"


@pytest.mark.parametrize(
    "draft",
    [{"t": []}, {"t": [{"tt": 0, "sg": []}, {"tt": 1, "sg": []}], "d": 0}],
    ids=["no-tracks", "empty-tracks"],
)
async def test_a_draft_without_segments_is_422(twin: Twin, draft: dict[str, Any]) -> None:
    ready = await twin.ready()
    response = await twin.submit(ready.token, ready.session_id, draft, "render_1")
    assert_error(response, 422)


async def test_a_used_id_is_409(twin: Twin, media: Media) -> None:
    ready, draft = await song_alone(twin, media)
    first = await twin.submit(ready.token, ready.session_id, draft, "render_1")
    assert first.json()["status"] == "pending"
    again = await twin.submit(ready.token, ready.session_id, draft, "render_1")
    assert_error(again, 409, field="body.id")


# -- the lifecycle -----------------------------------------------------------------------------


def check_mirror(view: dict[str, Any], render_id: str) -> None:
    """Top level (v1.9) and ``data`` (ref) tell the same story."""
    data = view["data"]
    assert view["id"] == data["id"] == render_id
    assert view["status"] == data["status"]
    assert view["progress"] == data["progress"]
    assert data["outputUrl"] == (view["output"]["url"] if view["output"] else None)
    assert view["success"] is (view["status"] != "failed")
    if view["status"] == "completed":
        assert view["progress"] == 100
        assert view["output"] is not None
        assert view["error"] is None
    else:
        assert view["output"] is None
        assert data["outputUrl"] is None
    if view["status"] in ("completed", "failed"):
        assert data["completedAt"] >= data["createdAt"]
    else:
        assert data["completedAt"] is None
        assert view["error"] is None


async def test_a_render_goes_pending_processing_completed_as_the_clock_moves(
    twin: Twin, media: Media
) -> None:
    ready, draft = await agent_draft(twin, media)
    submitted_at = await twin.now()
    submitted = await twin.submit(ready.token, ready.session_id, draft, "render_1")
    assert submitted.status_code == 200
    views = [submitted.json(), *(await twin.until_finished(ready.token, "render_1"))]

    statuses = [view["status"] for view in views]
    assert statuses[0] == "pending"
    assert statuses[-1] == "completed"
    assert "processing" in statuses
    assert [ORDER.index(s) for s in statuses] == sorted(ORDER.index(s) for s in statuses)
    progress = [view["progress"] for view in views]
    assert progress == sorted(progress), progress
    assert (progress[0], progress[-1]) == (0, 100)
    for view in views:
        check_mirror(view, "render_1")
    created = {view["data"]["createdAt"] for view in views}
    assert created == {int(submitted_at * 1000)}

    # polling again changes nothing, and the session remembers its render
    assert await twin.poll(ready.token, "render_1") == views[-1]
    media_list = (await twin.state(ready.token, ready.session_id))["state"]["generated_media"]
    assert [item["render_id"] for item in media_list] == ["render_1"]


async def test_a_render_does_not_complete_before_its_time(twin: Twin, media: Media) -> None:
    ready, draft = await song_alone(twin, media)
    await twin.submit(ready.token, ready.session_id, draft, "render_1", output={"format": "mp3"})
    await twin.advance(10)  # renders take at least 30 s of virtual time
    view = await twin.poll(ready.token, "render_1")
    assert view["status"] == "processing"
    assert view["progress"] < 100
    assert_error(await download(twin, ready.token, "render_1"), 409)


# -- the output --------------------------------------------------------------------------------

Setup = Callable[[Twin, Media], Any]


@pytest.mark.parametrize(
    "setup", [agent_draft, clip_alone, song_alone], ids=["agent-waveform", "clip", "song-only"]
)
async def test_the_output_is_a_real_mp4_of_the_drafts_length(
    twin: Twin, media: Media, setup: Setup
) -> None:
    ready, draft = await setup(twin, media)
    final = await completed(twin, ready, draft, output={"format": "mp4", "quality": "low"})
    output = final["output"]
    assert output["format"] == "mp4"

    by_url = await twin.client.get(output["url"])
    by_download = await download(twin, ready.token, "render_1")
    for response in (by_url, by_download):
        assert response.status_code == 200
        assert response.headers["content-type"] == "video/mp4"
        assert int(response.headers["content-length"]) == len(response.content) == output["size"]
    assert by_url.content == by_download.content

    codecs, duration = probe(by_download.content)
    assert codecs == {"video": "h264", "audio": "aac"}
    assert duration == pytest.approx(draft["d"] / 1000, abs=0.1)
    assert output["duration"] == pytest.approx(draft["d"] / 1000, abs=0.1)


async def test_an_mp3_export_is_a_real_mp3(twin: Twin, media: Media) -> None:
    ready, draft = await song_alone(twin, media)
    final = await completed(twin, ready, draft, output={"format": "mp3"})
    assert final["output"]["format"] == "mp3"
    assert final["output"]["url"].endswith(".mp3")

    response = await download(twin, ready.token, "render_1")
    assert response.headers["content-type"] == "audio/mpeg"
    assert int(response.headers["content-length"]) == len(response.content)
    codecs, duration = probe(response.content)
    assert codecs == {"audio": "mp3"}
    assert duration == pytest.approx(SONG_SECONDS, abs=0.1)


# -- download ----------------------------------------------------------------------------------


async def test_a_range_request_gets_206_with_those_bytes(twin: Twin, media: Media) -> None:
    ready, draft = await clip_alone(twin, media)
    final = await completed(twin, ready, draft)
    whole = (await download(twin, ready.token, "render_1")).content
    size = final["output"]["size"]

    response = await download(twin, ready.token, "render_1", Range="bytes=100-1099")
    assert response.status_code == 206
    assert response.content == whole[100:1100]
    assert response.headers["content-range"] == f"bytes 100-1099/{size}"
    assert int(response.headers["content-length"]) == 1000

    tail = await download(twin, ready.token, "render_1", Range="bytes=-10")
    assert (tail.status_code, tail.content) == (206, whole[-10:])


async def test_a_range_outside_the_file_is_416_as_the_envelope(twin: Twin, media: Media) -> None:
    ready, draft = await clip_alone(twin, media)
    await completed(twin, ready, draft)
    response = await download(twin, ready.token, "render_1", Range="bytes=999999999-")
    assert_error(response, 416, field="header.Range")


async def test_a_download_before_completion_is_409(twin: Twin, media: Media) -> None:
    ready, draft = await song_alone(twin, media)
    await twin.submit(ready.token, ready.session_id, draft, "render_1")
    body = assert_error(await download(twin, ready.token, "render_1"), 409)
    assert body["data"]["status"] == "pending"


# -- cancel, unknown and foreign renders -------------------------------------------------------


async def test_cancel_fails_the_job_once(twin: Twin, media: Media) -> None:
    ready, draft = await song_alone(twin, media)
    await twin.submit(ready.token, ready.session_id, draft, "render_1")
    await twin.advance(10)
    cancel_url = "/api/render/proxy/lambda/render_1/cancel"
    headers = {**auth(ready.token), **ATTRIBUTION}

    cancelled = (await twin.client.post(cancel_url, headers=headers)).json()
    assert (cancelled["status"], cancelled["error"], cancelled["success"]) == (
        "failed",
        "cancelled",
        False,
    )
    check_mirror(cancelled, "render_1")
    assert cancelled["data"]["completedAt"] is not None

    await twin.advance(120)
    later = await twin.poll(ready.token, "render_1")
    assert (later["status"], later["error"]) == ("failed", "cancelled")
    assert_error(await twin.client.post(cancel_url, headers=headers), 409)
    assert_error(await download(twin, ready.token, "render_1"), 409)


async def test_cancelling_a_completed_render_is_409(twin: Twin, media: Media) -> None:
    ready, draft = await song_alone(twin, media)
    await completed(twin, ready, draft, output={"format": "mp3"})
    response = await twin.client.post(
        "/api/render/proxy/lambda/render_1/cancel", headers={**auth(ready.token), **ATTRIBUTION}
    )
    assert assert_error(response, 409)["data"]["status"] == "completed"


def render_calls(render_id: str) -> list[tuple[str, str]]:
    return [
        ("GET", f"/api/render/proxy/lambda/{render_id}"),
        ("GET", f"/api/render/proxy/{render_id}/download"),
        ("POST", f"/api/render/proxy/lambda/{render_id}/cancel"),
    ]


@pytest.mark.parametrize("index", range(3), ids=["poll", "download", "cancel"])
async def test_an_unknown_render_is_404(twin: Twin, index: int) -> None:
    token = await twin.token()
    method, url = render_calls("render_unknown")[index]
    response = await twin.client.request(method, url, headers={**auth(token), **ATTRIBUTION})
    assert_error(response, 404, field="path.render_id")


@pytest.mark.parametrize("index", range(3), ids=["poll", "download", "cancel"])
async def test_another_users_render_is_404(twin: Twin, media: Media, index: int) -> None:
    ready, draft = await song_alone(twin, media)
    await twin.submit(ready.token, ready.session_id, draft, "render_1")
    stranger = await twin.token()
    method, url = render_calls("render_1")[index]
    response = await twin.client.request(method, url, headers={**auth(stranger), **ATTRIBUTION})
    assert_error(response, 404, field="path.render_id")
    assert (await twin.poll(ready.token, "render_1"))["status"] == "pending"
