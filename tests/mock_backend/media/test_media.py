from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from mock_backend.errors import MockBackendError
from mock_backend.media import samples
from mock_backend.media.probing import (
    SUPPORTED_EXTENSIONS,
    UnsupportedMedia,
    decode_audio,
    expected_type,
    extension_supported,
    probe,
)

DOCUMENTED = {"mp4", "mov", "avi", "webm", "mkv", "jpg", "png", "gif", "webp", "mp3", "wav"}


def test_supported_extensions_are_the_documented_ones_plus_jpeg_m4a_aac_flac() -> None:
    assert DOCUMENTED | {"jpeg", "m4a", "aac", "flac"} == SUPPORTED_EXTENSIONS


@pytest.mark.parametrize(
    ("filename", "supported", "family"),
    [
        ("clip.mp4", True, "video"),
        ("CLIP.MOV", True, "video"),
        ("My Song.final.flac", True, "audio"),
        ("cover.JPEG", True, "image"),
        ("notes.txt", False, None),
        ("mp4", False, None),
        ("archive.mp4.zip", False, None),
        ("dir.mp4/readme", False, None),
    ],
)
def test_extension_decides_the_claimed_family(
    filename: str, supported: bool, family: str | None
) -> None:
    assert extension_supported(filename) is supported
    assert expected_type(filename) == family


def test_a_video_is_measured(clip: Path) -> None:
    info = probe(clip, "holiday.mp4")
    assert info.filename == "holiday.mp4"
    assert (info.file_type, info.width, info.height, info.fps) == ("video", 320, 240, 10.0)
    assert info.duration == pytest.approx(3.0, abs=0.02)
    assert (info.video_codec, info.audio_codec, info.sample_rate) == ("h264", "aac", 44100)
    assert (info.size, info.content_type) == (clip.stat().st_size, "video/mp4")


def test_mkv_duration_comes_from_the_container(tmp_path: Path) -> None:
    info = probe(samples.make_clip(tmp_path / "c.mkv", 2.0, 64, 48, 5), "c.mkv")
    assert (info.file_type, info.content_type) == ("video", "video/x-matroska")
    assert info.duration == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize("suffix", ["mp3", "wav", "m4a", "aac", "flac"])
def test_an_audio_file_is_measured(tmp_path: Path, suffix: str) -> None:
    path = samples.make_tone(tmp_path / f"t.{suffix}", 3.0)
    info = probe(path, f"t.{suffix}")
    assert info.file_type == "audio"
    assert (info.width, info.height, info.fps, info.video_codec) == (None, None, None, None)
    # raw AAC has no duration in its header; it is measured from the packets, not estimated
    assert info.duration == pytest.approx(3.0, abs=0.05)


def test_mp3_bit_rate_is_reported(song: Path) -> None:
    assert probe(song, "song.mp3").bit_rate == 192_000


@pytest.mark.parametrize(("suffix", "container"), [("png", "PNG"), ("jpg", "JPEG"), ("gif", "GIF")])
def test_an_image_has_a_size_and_no_duration(tmp_path: Path, suffix: str, container: str) -> None:
    path = samples.make_cover(tmp_path / f"c.{suffix}", 200, 100)
    info = probe(path, f"c.{suffix}")
    assert (info.file_type, info.container, info.width, info.height) == (
        "image",
        container,
        200,
        100,
    )
    assert (info.duration, info.fps) == (None, None)


def test_the_hash_is_the_sha256_of_the_bytes_and_ignores_the_name(tmp_path: Path) -> None:
    path = samples.make_tone(tmp_path / "long.wav", 8.0)  # 1.4 MB: more than one read chunk
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert probe(path, "long.wav").hash == expected
    assert probe(path, "renamed.wav").hash == expected
    other = samples.make_tone(tmp_path / "other.wav", 8.0, 441)
    assert probe(other, "other.wav").hash != expected


def test_a_file_named_with_another_case_of_extension_is_fine(clip: Path) -> None:
    assert probe(clip, "CLIP.MP4").file_type == "video"


@pytest.fixture
def fakes(tmp_path: Path, clip: Path, song: Path, cover: Path) -> dict[str, Path]:
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n" * 50)
    empty = tmp_path / "empty"
    empty.touch()
    truncated = tmp_path / "truncated"
    truncated.write_bytes(clip.read_bytes()[:200])
    return {
        "text": text,
        "empty": empty,
        "truncated": truncated,
        "clip": clip,
        "song": song,
        "cover": cover,
    }


@pytest.mark.parametrize(
    ("content", "filename", "reason"),
    [
        ("text", "movie.mp4", "cannot be opened as video"),
        ("text", "song.mp3", "cannot be opened as audio"),
        ("text", "cover.png", "not a readable image"),
        ("empty", "song.wav", "cannot be opened"),
        ("truncated", "movie.mp4", "cannot be"),
        ("cover", "movie.mp4", "no video stream"),
        ("song", "movie.mov", "no video stream"),
        ("clip", "song.m4a", "expected audio, found a video"),
        ("cover", "song.mp3", "expected audio"),
        ("clip", "cover.jpg", "not a readable image"),
        ("clip", "movie.exe", "unsupported file type 'exe'"),
    ],
)
def test_content_that_is_not_what_the_name_says_is_unsupported(
    fakes: dict[str, Path], content: str, filename: str, reason: str
) -> None:
    with pytest.raises(UnsupportedMedia, match=reason) as caught:
        probe(fakes[content], filename)
    assert isinstance(caught.value, MockBackendError)
    assert caught.value.filename == filename
    # the message reaches API clients: it must not reveal where the mock keeps its files
    assert str(fakes[content].parent) not in str(caught.value)


def test_decode_audio_gives_stereo_float_at_the_asked_rate(song: Path) -> None:
    full = decode_audio(song)
    assert full.dtype == np.float32
    assert full.shape == (2, 4 * 44100)
    assert decode_audio(song, sample_rate=22050).shape == (2, 4 * 22050)
    short = decode_audio(song, max_seconds=1.0)
    assert 44100 <= short.shape[1] < 2 * 44100
    assert np.allclose(short, full[:, : short.shape[1]], atol=1e-6)


def test_decode_audio_of_a_file_without_sound(tmp_path: Path, cover: Path) -> None:
    picture = shutil.copy(cover, tmp_path / "cover.png")
    with pytest.raises(UnsupportedMedia, match="no audio"):
        decode_audio(Path(picture))
