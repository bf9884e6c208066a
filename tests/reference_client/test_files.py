"""Client-side checks before an upload: the documents' formats and size limits per skill."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients_under_test.reference.errors import FileRejected, UsageError
from clients_under_test.reference.files import (
    SUPPORTED_FORMATS,
    UploadRules,
    check_upload,
    rules_for,
)

from .backend import Backend
from .conftest import MakeClient

MUSIC, VIDEO = rules_for("how-to-download-music"), rules_for("video-to-mp3")
MIB = 1024 * 1024


def sized(tmp_path: Path, name: str, size: int) -> Path:
    path = tmp_path / name
    with path.open("wb") as handle:  # sparse: no real bytes written
        handle.truncate(size)
    return path


@pytest.mark.parametrize("extension", [*SUPPORTED_FORMATS, "MP3", "Mp4"])
def test_every_documented_format_is_accepted(tmp_path: Path, extension: str) -> None:
    assert check_upload(sized(tmp_path, f"f.{extension}", 10), VIDEO) == 10


def test_flac_is_accepted_by_the_music_skill_only(tmp_path: Path) -> None:
    path = sized(tmp_path, "song.flac", 10)
    assert check_upload(path, MUSIC) == 10
    with pytest.raises(FileRejected, match="Supported formats: mp4"):
        check_upload(path, VIDEO)


@pytest.mark.parametrize("name", ["doc.pdf", "noext", "archive.tar.gz"])
def test_other_types_are_refused_with_the_list(tmp_path: Path, name: str) -> None:
    with pytest.raises(FileRejected, match=r"not a supported file type\. Supported formats"):
        check_upload(sized(tmp_path, name, 10), MUSIC)


@pytest.mark.parametrize(
    ("rules", "limit_mb"), [(MUSIC, 200), (VIDEO, 500)], ids=["music-200", "video-500"]
)
def test_size_limits(tmp_path: Path, rules: UploadRules, limit_mb: int) -> None:
    at_limit = sized(tmp_path, "at.mp4", limit_mb * MIB)
    assert check_upload(at_limit, rules) == limit_mb * MIB
    over = sized(tmp_path, "over.mp4", limit_mb * MIB + 1)
    with pytest.raises(FileRejected, match=f"limit {limit_mb} MB.*Compress it or trim it"):
        check_upload(over, rules)


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="File not found"):
        check_upload(tmp_path / "nope.mp3", MUSIC)


def test_upload_checks_every_file_before_sending_any(
    make_client: MakeClient, backend: Backend, tmp_path: Path
) -> None:
    good = sized(tmp_path, "good.mp3", 10)
    bad = sized(tmp_path, "bad.exe", 10)
    with pytest.raises(FileRejected):
        make_client().upload([good, bad])
    assert backend.calls == []


def test_upload_streams_the_file_as_multipart_field_files(
    make_client: MakeClient, backend: Backend, tmp_path: Path
) -> None:
    song = tmp_path / "song.mp3"
    song.write_bytes(b"ID3-AUDIO-BYTES")
    client = make_client()
    (uploaded,) = client.upload([song])

    (call,) = backend.ops("upload")
    assert call.request.url.path == "/api/upload-video/nemo_agent/me/sess_1"
    assert call.request.headers["content-type"].startswith("multipart/form-data")
    assert b'name="files"; filename="song.mp3"' in call.request.content
    assert b"ID3-AUDIO-BYTES" in call.request.content
    assert uploaded.filename == "song.mp3"
