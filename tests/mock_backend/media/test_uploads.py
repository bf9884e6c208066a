"""Uploads: multipart files measured for real, URL uploads, and the type and size limits."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ..conftest import SONG_SECONDS, STORES, Media, Twin, assert_error, auth, rss_bytes

pytestmark = pytest.mark.anyio

MB = 1024 * 1024
BOUNDARY = "nemo-test-boundary"
CHUNK = 64 * 1024


class LazyBody:
    """A multipart body of ``size`` bytes, made chunk by chunk as the server pulls it."""

    def __init__(self, filename: str, size: int) -> None:
        self.head = (
            f"--{BOUNDARY}\r\n"
            f'Content-Disposition: form-data; name="files"; filename="{filename}"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.size = size
        self.total_chunks = (size - len(self.head) - len(self.tail)) // CHUNK + 2
        self.pulled = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        zeros = bytes(CHUNK)  # one buffer, handed out again and again
        self.pulled += 1
        yield self.head
        remaining = self.size - len(self.head) - len(self.tail)
        while remaining > 0:
            self.pulled += 1
            piece = zeros if remaining >= CHUNK else zeros[:remaining]
            remaining -= len(piece)
            yield piece
        self.pulled += 1
        yield self.tail


def upload_url(session_id: str) -> str:
    return f"/api/upload-video/nemo_agent/me/{session_id}"


async def test_several_files_in_one_request_are_measured(twin: Twin, media: Media) -> None:
    ready = await twin.ready()
    paths = [media.song, media.clip, media.cover, media.wav]
    files = [("files", (path.name, path.read_bytes())) for path in paths]
    response = await twin.client.post(
        upload_url(ready.session_id), files=files, headers=auth(ready.token)
    )
    assert response.status_code == 200
    uploaded = response.json()["data"]["files"]
    assert [f["filename"] for f in uploaded] == [p.name for p in paths]
    for path, info in zip(paths, uploaded, strict=True):
        assert info["hash"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert info["size"] == path.stat().st_size
        assert info["measured"] is True
    song, clip, cover, wav = uploaded
    assert song["file_type"] == wav["file_type"] == "audio"
    assert song["duration"] == pytest.approx(SONG_SECONDS, abs=0.05)
    assert wav["duration"] == pytest.approx(1.0, abs=0.01)
    assert (clip["file_type"], clip["width"], clip["height"]) == ("video", 320, 240)
    assert clip["fps"] == pytest.approx(10.0)
    assert clip["duration"] == pytest.approx(2.0, abs=0.05)
    assert (cover["file_type"], cover["width"], cover["height"]) == ("image", 320, 320)
    assert (cover["duration"], cover["fps"]) == (None, None)


@pytest.mark.parametrize("mock_store", STORES, indirect=True)
async def test_the_cdn_url_serves_the_same_bytes(twin: Twin, media: Media) -> None:
    ready = await twin.ready(media.clip)
    response = await twin.client.get(ready.files[0]["cdn_url"])
    assert response.status_code == 200
    assert response.content == media.clip.read_bytes()
    assert "authorization" not in {k.lower() for k in response.request.headers}


@pytest.mark.parametrize("filename", ["notes.txt", "song.flv", "archive.zip", "noextension"])
async def test_an_unsupported_extension_is_4001_naming_the_formats(
    twin: Twin, filename: str
) -> None:
    ready = await twin.ready()
    response = await twin.client.post(
        upload_url(ready.session_id),
        files=[("files", (filename, b"some bytes"))],
        headers=auth(ready.token),
    )
    body = assert_error(response, 4001)
    for fmt in ("mp4", "mov", "mp3", "wav", "png", "jpg"):
        assert fmt in body["message"]
        assert fmt in body["data"]["supported"]


@pytest.mark.parametrize("filename", ["fake.mp4", "fake.mp3", "fake.png"])
async def test_content_that_is_not_media_is_4001(twin: Twin, filename: str) -> None:
    ready = await twin.ready()
    response = await twin.client.post(
        upload_url(ready.session_id),
        files=[("files", (filename, b"this is a text file, not media\n" * 100))],
        headers=auth(ready.token),
    )
    assert filename in assert_error(response, 4001)["message"]
    state = await twin.state(ready.token, ready.session_id)
    assert state["state"]["video_infos"] == []
    assert [p for p in twin.data_dir.rglob("*") if p.is_file()] == []


def _syncsafe(n: int) -> bytes:
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


async def test_a_song_whose_id3_tag_is_not_utf8_is_measured_and_rendered_not_a_500(
    twin: Twin, media: Media
) -> None:
    # found by the soak: an ID3v2.4 TXXX frame that says UTF-8 (encoding 3) and holds 0x9F made
    # PyAV raise UnicodeDecodeError while reading the tags, and the upload answered 500
    data = b"\x03" + b"\x9f\xff\x00" + b"value"
    frame = b"TXXX" + _syncsafe(len(data)) + b"\x00\x00" + data
    tag = b"ID3\x04\x00\x00" + _syncsafe(len(frame)) + frame
    ready = await twin.ready()
    response = await twin.client.post(
        upload_url(ready.session_id),
        files=[("files", ("tagged.mp3", tag + media.song.read_bytes()))],
        headers=auth(ready.token),
    )
    body = response.json()
    assert body["code"] == 0, body
    (uploaded,) = body["data"]["files"]
    assert uploaded["file_type"] == "audio"
    assert uploaded["duration"] == pytest.approx(SONG_SECONDS, abs=0.1)
    # the render engine reads the same tags: the song renders to an MP3
    segment = {"s": 0, "d": 1000, "m": {"kind": "audio", "src": uploaded["cdn_url"]}}
    draft = {"t": [{"tt": 1, "sg": [segment]}], "d": 1000}
    submitted = await twin.submit(
        ready.token, ready.session_id, draft, "r-tagged", output={"format": "mp3"}
    )
    assert submitted.json()["code"] == 0, submitted.text
    polls = await twin.until_finished(ready.token, "r-tagged")
    assert polls[-1]["status"] == "completed", polls[-1]


async def test_one_bad_file_refuses_the_whole_request(twin: Twin, media: Media) -> None:
    ready = await twin.ready()
    files = [
        ("files", ("song.mp3", media.song.read_bytes())),
        ("files", ("notes.txt", b"text")),
    ]
    response = await twin.client.post(
        upload_url(ready.session_id), files=files, headers=auth(ready.token)
    )
    assert_error(response, 4001)
    assert (await twin.state(ready.token, ready.session_id))["state"]["video_infos"] == []


async def test_a_declared_600_mb_upload_is_4002_without_reading_the_body(twin: Twin) -> None:
    ready = await twin.ready()
    body = LazyBody("big.mp4", 600 * MB)
    before = rss_bytes()
    response = await twin.client.post(
        upload_url(ready.session_id),
        content=body.chunks(),
        headers={
            **auth(ready.token),
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(body.size),
        },
    )
    grown = rss_bytes() - before
    result = assert_error(response, 4002)
    assert result["data"]["max_bytes"] == 500 * MB
    assert body.pulled <= 2, f"the server pulled {body.pulled} chunks of a refused upload"
    assert grown < 50 * MB, f"RSS grew by {grown / MB:.1f} MB"


@pytest.mark.parametrize("mock_settings", [{"max_upload_bytes": 2 * MB}], indirect=True)
async def test_a_chunked_upload_over_the_limit_is_4002_and_stops_reading(
    twin: Twin, tmp_path: Path
) -> None:
    ready = await twin.ready()
    body = LazyBody("big.mp4", 40 * MB)
    response = await twin.client.post(
        upload_url(ready.session_id),
        content=body.chunks(),
        headers={
            **auth(ready.token),
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        },
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert assert_error(response, 4002)["data"]["max_bytes"] == 2 * MB
    # it read up to the limit (the check is made while streaming), and no further
    assert 2 * MB // CHUNK <= body.pulled < body.total_chunks // 4, (
        f"pulled {body.pulled} of {body.total_chunks} chunks"
    )
    leftovers = [p for p in twin.data_dir.rglob("*") if p.is_file()]
    assert leftovers == [], f"a refused upload left files behind: {leftovers}"


async def test_url_uploads_are_recorded_unmeasured(twin: Twin) -> None:
    ready = await twin.ready()
    urls = ["https://example.com/music/song.mp3", "https://example.com/v/clip.mp4?sig=abc"]
    response = await twin.client.post(
        upload_url(ready.session_id),
        json={"urls": urls, "source_type": "url"},
        headers=auth(ready.token),
    )
    files = response.json()["data"]["files"]
    assert [(f["filename"], f["file_type"]) for f in files] == [
        ("song.mp3", "audio"),
        ("clip.mp4", "video"),
    ]
    for url, info in zip(urls, files, strict=True):
        assert info["cdn_url"] == url
        assert info["measured"] is False
        for key in ("duration", "width", "height", "fps", "hash"):
            assert info[key] is None
    assert (await twin.state(ready.token, ready.session_id))["state"]["video_infos"] == files


async def test_a_url_with_an_unsupported_extension_is_4001(twin: Twin) -> None:
    ready = await twin.ready()
    response = await twin.client.post(
        upload_url(ready.session_id),
        json={
            "urls": ["https://example.com/song.mp3", "https://example.com/notes.txt"],
            "source_type": "url",
        },
        headers=auth(ready.token),
    )
    assert "notes.txt" in assert_error(response, 4001)["message"]
    assert (await twin.state(ready.token, ready.session_id))["state"]["video_infos"] == []
