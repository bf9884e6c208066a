"""Intent routing of free text, English and Chinese, in the documents' table order."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients_under_test.reference.router import Intent, route


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("export", Intent.EXPORT),
        ("Export it please", Intent.EXPORT),
        ("导出", Intent.EXPORT),
        ("帮我导出视频", Intent.EXPORT),
        ("download", Intent.EXPORT),
        ("send me the video", Intent.EXPORT),
        ("Send me the   video now", Intent.EXPORT),
        ("credits", Intent.CREDITS),
        ("how many credits do I have?", Intent.CREDITS),
        ("积分", Intent.CREDITS),
        ("balance", Intent.CREDITS),
        ("余额还有多少", Intent.CREDITS),
        ("status", Intent.STATE),
        ("状态", Intent.STATE),
        ("show tracks", Intent.STATE),
        ("upload", Intent.UPLOAD),
        ("上传", Intent.UPLOAD),
        ("add a title that says Urban Dreams", Intent.CHAT),
        ("make the music louder", Intent.CHAT),
        ("给视频加上背景音乐", Intent.CHAT),
        ("exported yet?", Intent.CHAT),
    ],
)
def test_keywords(text: str, intent: Intent) -> None:
    assert route(text, is_file=lambda path: False).intent is intent


def test_a_file_path_is_an_upload(tmp_path: Path) -> None:
    song = tmp_path / "my song.mp3"
    target = route(f'"{song}"', is_file=Path.is_file)
    assert target.intent is Intent.UPLOAD
    assert target.files == (song,)


def test_upload_with_files_keeps_them() -> None:
    target = route("upload ~/a.wav b.mp4", is_file=lambda path: False)
    assert target.intent is Intent.UPLOAD
    assert [p.name for p in target.files] == ["a.wav", "b.mp4"]


def test_an_existing_file_without_a_media_extension_is_an_upload(tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("x")
    assert route(str(other)).intent is Intent.UPLOAD


def test_earlier_rows_win() -> None:
    assert route("export song.mp3", is_file=lambda path: False).intent is Intent.EXPORT
