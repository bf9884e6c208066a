"""The kinds of file the backend takes, by name alone: which extensions, which family each
claims (video, audio or image) and its content type, and what a measured file is (`MediaInfo`).

Light on purpose: the upload handler and the contract's readers need these without loading the
media stack (PyAV, numpy, Pillow), which `media.probe` loads when a file is really opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from ..errors import MockBackendError

__all__ = [
    "CONTENT_TYPES",
    "SUPPORTED_EXTENSIONS",
    "FileType",
    "MediaInfo",
    "UnsupportedMedia",
    "expected_type",
    "extension_of",
    "extension_supported",
]

FileType = Literal["video", "audio", "image"]

# The formats the documents list, plus flac (x-assumed: the music skill prefers it).
_FAMILIES: dict[str, FileType] = {
    **dict.fromkeys(("mp4", "mov", "avi", "webm", "mkv"), "video"),
    **dict.fromkeys(("jpg", "jpeg", "png", "gif", "webp"), "image"),
    **dict.fromkeys(("mp3", "wav", "m4a", "aac", "flac"), "audio"),
}
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(_FAMILIES)
CONTENT_TYPES: dict[str, str] = {
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "avi": "video/x-msvideo",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "flac": "audio/flac",
}


class UnsupportedMedia(MockBackendError):
    """A file whose extension is not supported, or whose content is not what it claims."""

    def __init__(self, filename: str, reason: str) -> None:
        super().__init__(f"{filename}: {reason}")
        self.filename = filename
        self.reason = reason


@dataclass(frozen=True)
class MediaInfo:
    filename: str
    file_type: FileType
    duration: float | None
    width: int | None
    height: int | None
    fps: float | None
    hash: str
    size: int
    content_type: str
    # FFmpeg demuxer name (e.g. "mov,mp4,m4a,3gp,3g2,mj2") or Pillow format (e.g. "PNG")
    container: str
    video_codec: str | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    bit_rate: int | None = None


def extension_of(filename: str) -> str:
    """The name's extension, lower case, without the dot ("" when it has none)."""
    return PurePosixPath(filename).suffix.lower().lstrip(".")


def extension_supported(filename: str) -> bool:
    return extension_of(filename) in SUPPORTED_EXTENSIONS


def expected_type(filename: str) -> FileType | None:
    """The family the extension claims, or None for an unsupported extension."""
    return _FAMILIES.get(extension_of(filename))
