"""Intent routing, before anything reaches the backend (the documents' "Matching Input to
Actions" table). The first matching row wins, in the table's order:

    "export" / "导出" / "download" / "send me the video"  → export
    "credits" / "积分" / "balance" / "余额"                → credits
    "status" / "状态" / "show tracks"                      → state
    "upload" / "上传", or the user gives a file            → upload
    everything else (generate, edit, add BGM…)             → chat (SSE)

English keywords match whole words, case-insensitively; Chinese ones match anywhere.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from .files import SUPPORTED_FORMATS

__all__ = ["Intent", "Route", "route"]


class Intent(Enum):
    EXPORT = "export"
    CREDITS = "credits"
    STATE = "state"
    UPLOAD = "upload"
    CHAT = "chat"


@dataclass(frozen=True)
class Route:
    intent: Intent
    text: str
    files: tuple[Path, ...] = field(default=())


def _keywords(english: str, chinese: str) -> re.Pattern[str]:
    words = [r"\b" + r"\s+".join(map(re.escape, w.split())) + r"\b" for w in english.split("|")]
    return re.compile("|".join([*words, *map(re.escape, chinese.split("|"))]), re.IGNORECASE)


_TABLE = (
    (Intent.EXPORT, _keywords("export|download|send me the video", "导出")),
    (Intent.CREDITS, _keywords("credits|balance", "积分|余额")),
    (Intent.STATE, _keywords("status|show tracks", "状态")),
    (Intent.UPLOAD, _keywords("upload", "上传")),
)
_MEDIA_EXTENSIONS = frozenset((*SUPPORTED_FORMATS, "flac"))


def route(text: str, *, is_file: Callable[[Path], bool] = Path.is_file) -> Route:
    files = _file_arguments(text, is_file)
    for intent, pattern in _TABLE:
        if pattern.search(text):
            return Route(intent, text, files if intent is Intent.UPLOAD else ())
    if files:
        return Route(Intent.UPLOAD, text, files)
    return Route(Intent.CHAT, text)


def _file_arguments(text: str, is_file: Callable[[Path], bool]) -> tuple[Path, ...]:
    """Words that look like a media file name, or a path (with a / or a .) to an existing file."""
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    found = []
    for word in words:
        path = Path(word).expanduser()
        looks_like_path = "/" in word or "." in word
        if path.suffix.lower().lstrip(".") in _MEDIA_EXTENSIONS or (
            looks_like_path and is_file(path)
        ):
            found.append(path)
    return tuple(found)
