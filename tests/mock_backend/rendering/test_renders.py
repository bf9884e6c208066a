"""Renders: submit rules, the lifecycle on the clock, real output files, download and cancel."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import av
import httpx
import pytest

from mock_backend.rendering.render_engine import RenderError, RenderJob, RenderResult, render
from mock_backend.rendering.renders import Engine

from ..conftest import (
    ATTRIBUTION,
    SONG_SECONDS,
    STORES,
    Media,
    OpenTwin,
    Ready,
    Twin,
    assert_error,
    auth,
)

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


@pytest.mark.parametrize("mock_store", STORES, indirect=True)
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


@pytest.mark.parametrize("mock_store", STORES, indirect=True)
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


# -- the clock decides the lifecycle; the encoder only makes the file --------------------------


class Gate:
    """A render engine held back until the test releases it (the real one behind it, unless
    another is given): virtual time outrunning the encoder, whatever the machine's speed."""

    def __init__(self, inner: Engine = render) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()
        self.calls: list[str] = []
        self.raised: list[BaseException] = []

    def __call__(self, job: RenderJob, progress: Callable[[float], None]) -> RenderResult:
        self.calls.append(job.out_path.parent.name)
        self.entered.set()
        try:
            if not self.release.wait(timeout=60):  # a failed test must not leave a thread behind
                raise TimeoutError("the test never released the encoder")
            return self.inner(job, progress)
        except BaseException as exc:
            self.raised.append(exc)
            raise
        finally:
            self.finished.set()


@pytest.fixture
def gate() -> Iterator[Gate]:
    held = Gate()
    yield held
    held.release.set()


def fake_engine(job: RenderJob, progress: Callable[[float], None]) -> RenderResult:
    """Writes the same few bytes for the same job, at once."""
    body = f"{job.output_format}:{job.draft['d']}".encode() * 64
    job.out_path.write_bytes(body)
    return RenderResult(job.out_path, job.draft["d"] / 1000, len(body), "audio/mpeg")


def broken_engine(job: RenderJob, progress: Callable[[float], None]) -> RenderResult:
    raise OSError(28, "No space left on device")


def due_at(twin: Twin, render_id: str) -> float:
    """When the mock scheduled the job to complete (virtual seconds)."""
    record = twin.backend.store.get_render(render_id)
    assert record is not None
    return record.due_at


async def turns(count: int = 50) -> None:
    """Let the in-process app run ``count`` steps of the event loop (no wall-clock wait)."""
    for _ in range(count):
        await anyio.lowlevel.checkpoint()


async def test_a_render_completes_at_its_due_time_while_its_encoder_is_held(
    twin: Twin, media: Media, gate: Gate
) -> None:
    twin.backend.renders.engine = gate
    ready, draft = await song_alone(twin, media)
    await twin.submit(ready.token, ready.session_id, draft, "render_1", output={"format": "mp3"})
    due = due_at(twin, "render_1")
    await twin.advance(due - 1 - await twin.now())
    assert (await twin.poll(ready.token, "render_1"))["status"] == "processing"
    await twin.advance(1)

    # the encoder has not produced a byte, yet the job is completed on time; here the poll's
    # wait for the file is cut to nothing, so the answer leaves out the size it cannot know
    assert not gate.release.is_set()
    twin.backend.renders.wait_seconds = 0.0
    view = await twin.poll(ready.token, "render_1")
    check_mirror(view, "render_1")
    assert (view["status"], view["progress"], view["error"]) == ("completed", 100, None)
    assert view["data"]["completedAt"] == int(due * 1000)
    assert view["output"]["duration"] == pytest.approx(SONG_SECONDS, abs=0.05)
    assert "size" not in view["output"]
    body = assert_error(await download(twin, ready.token, "render_1"), 409)
    assert body["data"] == {"status": "completed", "reason": "encoding"}
    assert "retry" in body["message"]

    # with time to wait, a download waits for the file and gets the real bytes once it exists
    twin.backend.renders.wait_seconds = 30.0
    got: dict[str, httpx.Response] = {}

    async def fetch() -> None:
        got["download"] = await download(twin, ready.token, "render_1")

    async with anyio.create_task_group() as tg:
        tg.start_soon(fetch)
        await turns()
        assert got == {}  # waiting for the held encoder, not answering 409
        gate.release.set()
    response = got["download"]
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    codecs, duration = probe(response.content)
    assert codecs == {"audio": "mp3"}
    assert duration == pytest.approx(SONG_SECONDS, abs=0.1)

    later = await twin.poll(ready.token, "render_1")
    assert later["output"]["size"] == len(response.content)
    assert later["data"]["completedAt"] == int(due * 1000)
    remembered = (await twin.state(ready.token, ready.session_id))["state"]["generated_media"]
    assert [item["output"] for item in remembered] == [later["output"]]


async def test_at_1000x_a_client_polling_every_30_s_gets_the_file_within_10_polls(
    open_twin: OpenTwin, media: Media
) -> None:
    """Virtual time runs far ahead of the real encode; the lifecycle does not wait for it."""
    async with open_twin(clock="scaled:1000") as twin:
        ready, draft = await agent_draft(twin, media)
        await twin.submit(ready.token, ready.session_id, draft, "render_1")
        views = []
        for _ in range(10):
            await anyio.sleep(30 / 1000)  # 30 virtual seconds
            views.append(await twin.poll(ready.token, "render_1"))
            if views[-1]["status"] == "completed":
                break
        assert views[-1]["status"] == "completed", [v["status"] for v in views]
        response = await download(twin, ready.token, "render_1")
        assert response.status_code == 200
        assert len(response.content) == views[-1]["output"]["size"]
        assert probe(response.content)[0] == {"video": "h264", "audio": "aac"}


@pytest.mark.parametrize("mock_store", STORES, indirect=True)
async def test_the_first_completed_poll_waits_for_the_file_and_reports_its_size(
    twin: Twin, media: Media, gate: Gate
) -> None:
    twin.backend.renders.engine = gate
    ready, draft = await song_alone(twin, media)
    await twin.submit(ready.token, ready.session_id, draft, "render_1", output={"format": "mp3"})
    await twin.advance(due_at(twin, "render_1") - await twin.now())
    got: dict[str, dict[str, Any]] = {}

    async def poll() -> None:
        got["view"] = await twin.poll(ready.token, "render_1")

    async with anyio.create_task_group() as tg:
        tg.start_soon(poll)
        await turns()
        assert got == {}
        gate.release.set()
    view = got["view"]
    assert view["status"] == "completed"
    by_url = await twin.client.get(view["output"]["url"])
    assert by_url.status_code == 200
    assert view["output"]["size"] == len(by_url.content)


async def test_a_download_whose_encoder_broke_is_a_409_saying_so(twin: Twin, media: Media) -> None:
    twin.backend.renders.engine = broken_engine
    ready, draft = await song_alone(twin, media)
    final = await completed(twin, ready, draft, output={"format": "mp3"})
    assert "size" not in final["output"]  # no file, so no size; the lifecycle is the clock's

    for response in (
        await download(twin, ready.token, "render_1"),
        await twin.client.get(final["output"]["url"]),
    ):
        body = assert_error(response, 409)
        assert body["data"] == {"status": "completed", "reason": "encoding-failed"}
        assert "encoding failed" in body["message"]
        assert "No space left on device" in body["message"]
        assert "submit the render again with a new id" in body["message"]


async def test_cancel_stops_a_running_encode_and_leaves_no_file(
    twin: Twin, media: Media, gate: Gate
) -> None:
    twin.backend.renders.engine = gate
    ready, draft = await song_alone(twin, media)
    await twin.submit(ready.token, ready.session_id, draft, "render_1", output={"format": "mp3"})
    assert await anyio.to_thread.run_sync(gate.entered.wait, 30)  # the encoder has started
    await twin.advance(10)
    cancelled = await twin.client.post(
        "/api/render/proxy/lambda/render_1/cancel", headers={**auth(ready.token), **ATTRIBUTION}
    )
    assert cancelled.json()["error"] == "cancelled"

    gate.release.set()
    assert await anyio.to_thread.run_sync(gate.finished.wait, 30)
    assert [type(exc).__name__ for exc in gate.raised] == ["_Stopped"]
    assert list((twin.data_dir / "renders" / "render_1").iterdir()) == []


def unrenderable(ready: Ready, **changes: Any) -> dict[str, Any]:
    draft = audio_draft(ready)
    meta = {**draft["m"], **changes.pop("m", {})}
    return {**draft, **changes, "m": meta}


def picture_alone(ready: Ready) -> dict[str, Any]:
    cover = ready.files[0]["cdn_url"]
    segment = {"id": "seg_cover", "s": 0, "d": 3000, "m": {"kind": "image", "src": cover}}
    return {"t": [{"id": "trk_cover", "tt": 0, "sg": [segment]}], "d": 3000}


def elsewhere(ready: Ready) -> dict[str, Any]:
    draft = audio_draft(ready)
    draft["t"][0]["sg"][0]["m"]["src"] = "http://testserver/cdn/f_someone_else/song.mp3"
    return draft


UNRENDERABLE = [
    pytest.param(lambda r: unrenderable(r, m={"canvas": {"w": 321, "h": 240}}), "even", id="odd"),
    pytest.param(elsewhere, "not an uploaded file", id="media-not-uploaded"),
    pytest.param(picture_alone, "nothing to put in an MP3", id="mp3-of-a-picture"),
]


# what the contract itself bounds (the engine's limits, stated in openapi.yaml) is refused at
# submit, with the field and the bound; nothing reaches the clock
REFUSED = [
    pytest.param(
        lambda r: unrenderable(r, m={"canvas": {"w": 3840, "h": 2160}}),
        ("body.draft.m.canvas.h", "1920"),
        id="4k",
    ),
    pytest.param(
        lambda r: unrenderable(r, d=3_600_001), ("body.draft.d", "3600000"), id="over-an-hour"
    ),
]


@pytest.mark.parametrize(("make", "where"), REFUSED)
async def test_a_draft_beyond_the_contracts_bounds_is_refused_at_submit(
    twin: Twin, media: Media, make: Callable[[Ready], dict[str, Any]], where: tuple[str, str]
) -> None:
    ready = await twin.ready(media.song)
    submitted = await twin.submit(ready.token, ready.session_id, make(ready), "render_1")
    field, bound = where
    body = assert_error(submitted, 422, field=field)
    assert bound in body["message"], body
    assert twin.backend.store.get_render("render_1") is None


@pytest.mark.parametrize(("make", "reason"), UNRENDERABLE)
async def test_an_unrenderable_draft_fails_on_the_clock_with_the_engines_reason(
    twin: Twin,
    media: Media,
    gate: Gate,
    make: Callable[[Ready], dict[str, Any]],
    reason: str,
) -> None:
    twin.backend.renders.engine = gate
    ready = await twin.ready(media.cover if make is picture_alone else media.song)
    draft = make(ready)
    submitted = await twin.submit(
        ready.token, ready.session_id, draft, "render_1", output={"format": "mp3"}
    )
    assert submitted.json()["status"] == "pending"
    views = await twin.until_finished(ready.token, "render_1")
    statuses = [view["status"] for view in views]
    assert statuses[-1] == "failed"
    assert "processing" not in statuses  # refused as it starts, at a time fixed at submit
    final = views[-1]
    check_mirror(final, "render_1")
    assert reason in final["error"]
    assert gate.calls == []  # decided without the encoder

    # the same reason the engine itself gives for that draft
    record = twin.backend.store.get_render("render_1")
    assert record is not None
    with pytest.raises(RenderError) as refused:
        render(twin.backend.renders.job(record))
    assert final["error"] == str(refused.value)
    body = assert_error(await download(twin, ready.token, "render_1"), 409)
    assert body["data"] == {"status": "failed"}


async def lifecycle(twin: Twin, media: Media, engine: Engine, hold: bool) -> list[Any]:
    """(virtual time, status, progress, completedAt, error) at every poll of one render, the
    encoder held back until the clock reaches the job's due time when ``hold``."""
    gate = Gate(engine)
    twin.backend.renders.engine = gate
    if not hold:
        gate.release.set()
    try:
        ready, draft = await song_alone(twin, media)
        first = await twin.submit(
            ready.token, ready.session_id, draft, "render_1", output={"format": "mp3"}
        )
        due = due_at(twin, "render_1")
        seen = [(await twin.now(), first.json())]
        while seen[-1][1]["status"] not in ("completed", "failed"):
            now = await twin.advance(7)
            if now >= due:
                gate.release.set()  # every earlier poll ran while the encoder was held
            seen.append((now, await twin.poll(ready.token, "render_1")))
        assert not hold or gate.calls == ["render_1"]
        steps = [
            (now, v["status"], v["progress"], v["data"]["completedAt"], v["error"])
            for now, v in seen
        ]
        return [steps, seen[-1][1]]
    finally:
        gate.release.set()


async def test_the_lifecycle_is_the_same_however_long_the_encoder_takes(
    open_twin: OpenTwin, media: Media
) -> None:
    async with open_twin() as fast:
        quick = await lifecycle(fast, media, fake_engine, hold=False)
    async with open_twin() as slow:
        held = await lifecycle(slow, media, fake_engine, hold=True)
    assert held == quick  # every poll, and the completed answer byte for byte
    steps = quick[0]
    assert [s for _, s, *_ in steps].count("processing") >= 3
    progress = [p for _, _, p, *_ in steps]
    assert progress == sorted(progress)
    assert 0 < progress[-2] < 100 == progress[-1]


async def test_a_client_with_read_timeouts_shorter_than_the_encode_still_gets_its_answer(
    twin: Twin, media: Media, gate: Gate
) -> None:
    """A client sped up by faketime has its read timeouts sped up too (120 s is 0.12 s at
    1000x): the completed poll that waits for the file sends its headers at once and JSON
    whitespace while it waits, so such a client keeps reading and gets the real answer."""
    twin.backend.renders.engine = gate
    ready, draft = await song_alone(twin, media)
    await twin.submit(ready.token, ready.session_id, draft, "render_1", output={"format": "mp3"})
    await twin.advance(due_at(twin, "render_1") - await twin.now())
    headers = {"Authorization": f"Bearer {ready.token}"}
    # the encoder is let go after three read timeouts, while spaces go every 0.25 s: a read
    # would have to stall eight times longer than that for this busy machine to fail it
    timeout = httpx.Timeout(5.0, read=2.0)
    threading.Timer(6.0, gate.release.set).start()
    async with twin.client.stream(
        "GET", "/api/render/proxy/lambda/render_1", headers=headers, timeout=timeout
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        chunks = [chunk async for chunk in response.aiter_bytes()]
    assert gate.finished.is_set()  # the answer came once the file was written
    body = b"".join(chunks)
    assert body[:1] == b" "  # whitespace while the file was written…
    assert body.strip().startswith(b"{")  # …then the answer
    view = json.loads(body)
    assert view["status"] == "completed"
    assert view["output"]["size"] > 0
