"""Skill attribution: the three ``X-Skill-*`` headers sent on every request.

Both documents say to read them at run time from the skill file's YAML frontmatter: ``name`` →
``X-Skill-Source``, ``version`` → ``X-Skill-Version``; ``X-Skill-Platform`` comes from where the
skill file is installed (``~/.clawhub/`` → ``clawhub``, ``~/.cursor/skills/`` → ``cursor``, else
``unknown``), and ``SKILL_SOURCE`` in the environment overrides it. The backend fails export with
402 when they are missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import UsageError

__all__ = ["Attribution", "Skill", "detect_platform", "load_skill", "resolve_skill_path"]

SKILLS_DIR = Path(__file__).parent / "skills"
MUSIC_SKILL = "how-to-download-music"
VIDEO_SKILL = "video-to-mp3"
_ALIASES = {"music": MUSIC_SKILL, "video": VIDEO_SKILL}


@dataclass(frozen=True)
class Skill:
    name: str
    version: str
    path: Path


def resolve_skill_path(spec: str) -> Path:
    """``music``, ``video``, a bundled skill's name, or the path of a SKILL.md file."""
    name = _ALIASES.get(spec, spec)
    bundled = SKILLS_DIR / name / "SKILL.md"
    if bundled.is_file():
        return bundled
    path = Path(spec).expanduser()
    if path.is_dir():
        path = path / "SKILL.md"
    if path.is_file():
        return path
    raise UsageError(f"Unknown skill {spec!r}: use music, video, or the path of a SKILL.md file.")


def load_skill(path: Path) -> Skill:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"Cannot read the skill file {path}: {error.strerror}") from None
    meta = _frontmatter(text)
    name, version = meta.get("name"), meta.get("version")
    if not isinstance(name, str) or not name or version is None or isinstance(version, bool):
        raise UsageError(f"The skill file {path} needs `name` and `version` in its frontmatter.")
    return Skill(name=name, version=str(version), path=path)


def _frontmatter(text: str) -> dict[str, object]:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    for end, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            try:
                meta = yaml.safe_load("\n".join(lines[1:end]))
            except yaml.YAMLError:
                return {}
            return meta if isinstance(meta, dict) else {}
    return {}


def detect_platform(skill_path: Path, *, home: Path, override: str | None = None) -> str:
    if override:
        return override
    candidates = {skill_path.absolute(), skill_path.resolve()}
    for root, platform in ((home / ".clawhub", "clawhub"), (home / ".cursor" / "skills", "cursor")):
        roots = {root.absolute(), root.resolve()}
        if any(path.is_relative_to(r) for path in candidates for r in roots):
            return platform
    return "unknown"


@dataclass(frozen=True)
class Attribution:
    source: str
    version: str
    platform: str

    @classmethod
    def for_skill(cls, skill: Skill, *, home: Path, override: str | None = None) -> Attribution:
        platform = detect_platform(skill.path, home=home, override=override)
        return cls(source=skill.name, version=skill.version, platform=platform)

    def headers(self) -> dict[str, str]:
        return {
            "X-Skill-Source": self.source,
            "X-Skill-Version": self.version,
            "X-Skill-Platform": self.platform,
        }
