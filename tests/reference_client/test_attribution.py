"""X-Skill-* headers: read from the skill file at run time, sent on every request."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from clients_under_test.reference.attribution import (
    Attribution,
    detect_platform,
    load_skill,
    resolve_skill_path,
)
from clients_under_test.reference.commands import JOBS, run_job
from clients_under_test.reference.errors import UsageError

from .backend import Backend
from .conftest import MakeClient

SKILL_TEXT = "---\nname: {name}\nversion: {version}\n---\nbody\n"


@pytest.mark.parametrize(
    ("skill", "job", "source", "expected"),
    [
        ("music", "convert", "song.mp3", ("how-to-download-music", "1.0.0", "unknown")),
        ("video", "extract", "clip.mp4", ("video-to-mp3", "1.0.0", "unknown")),
    ],
)
def test_every_request_of_a_job_carries_the_attribution_headers(
    make_client: MakeClient,
    backend: Backend,
    tmp_path: Path,
    skill: str,
    job: str,
    source: str,
    expected: tuple[str, str, str],
) -> None:
    path = tmp_path / source
    path.write_bytes(b"\0" * 1000)
    run_job(make_client(skill=skill), JOBS[job], path, None)

    ops = {call.op for call in backend.calls}
    assert {"token", "session", "upload", "chat", "state", "render", "poll", "cdn", "claim"} <= ops
    for call in backend.calls:
        headers = call.request.headers
        assert (
            headers.get("X-Skill-Source"),
            headers.get("X-Skill-Version"),
            headers.get("X-Skill-Platform"),
        ) == expected, call.op


def test_the_fallback_download_carries_them_too(
    make_client: MakeClient, backend: Backend, tmp_path: Path
) -> None:
    client = make_client()
    client.new_session()
    backend.draft = {"t": [{"id": "v", "tt": 0, "sg": [{"id": "s", "s": 0, "d": 1000}]}]}
    backend.queue("cdn", httpx.Response(404))
    client.export("mp4", tmp_path / "out.mp4")
    fallback = backend.ops("download")
    assert len(fallback) == 1
    assert fallback[0].request.headers["X-Skill-Source"] == "how-to-download-music"


def test_skill_source_env_overrides_the_platform(make_client: MakeClient, backend: Backend) -> None:
    make_client(platform="openclaw").credits()
    assert {c.request.headers["X-Skill-Platform"] for c in backend.calls} == {"openclaw"}


@pytest.mark.parametrize(
    ("where", "override", "expected"),
    [
        (".clawhub/skills/how-to-download-music/SKILL.md", None, "clawhub"),
        (".cursor/skills/video-to-mp3/SKILL.md", None, "cursor"),
        (".cursor/other/SKILL.md", None, "unknown"),
        ("elsewhere/SKILL.md", None, "unknown"),
        (".clawhub/x/SKILL.md", "custom", "custom"),
    ],
)
def test_platform_is_detected_from_the_install_path(
    tmp_path: Path, where: str, override: str | None, expected: str
) -> None:
    home = tmp_path / "home"
    path = home / where
    path.parent.mkdir(parents=True)
    path.write_text(SKILL_TEXT.format(name="how-to-download-music", version="1.0.0"))
    assert detect_platform(path, home=home, override=override) == expected


def test_headers_are_read_from_the_frontmatter_at_run_time(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = home / ".clawhub" / "my-skill" / "SKILL.md"
    path.parent.mkdir(parents=True)
    path.write_text(SKILL_TEXT.format(name="my-skill", version="2.3.4"))

    skill = load_skill(resolve_skill_path(str(path)))
    assert Attribution.for_skill(skill, home=home).headers() == {
        "X-Skill-Source": "my-skill",
        "X-Skill-Version": "2.3.4",
        "X-Skill-Platform": "clawhub",
    }


@pytest.mark.parametrize("spec", ["music", "how-to-download-music"])
def test_the_bundled_music_skill(spec: str) -> None:
    skill = load_skill(resolve_skill_path(spec))
    assert (skill.name, skill.version) == ("how-to-download-music", "1.0.0")
    assert "Convert Audio Into Shareable Videos" in skill.path.read_text()


def test_the_bundled_video_skill() -> None:
    skill = load_skill(resolve_skill_path("video"))
    assert (skill.name, skill.version) == ("video-to-mp3", "1.0.0")


@pytest.mark.parametrize(
    "text", ["no frontmatter\n", "---\nname: x\n---\n", "---\nversion: 1\n---\n", "---\n: [\n---\n"]
)
def test_a_skill_file_without_name_and_version_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "SKILL.md"
    path.write_text(text)
    with pytest.raises(UsageError, match="frontmatter"):
        load_skill(path)


def test_an_unknown_skill_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="Unknown skill"):
        resolve_skill_path("no-such-skill")
