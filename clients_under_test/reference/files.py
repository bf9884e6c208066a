"""What may be uploaded: the formats and size limits the two skill documents state.

Both documents list the same 13 formats. The music skill also "prefers MP3, WAV, AAC, FLAC", so
FLAC is accepted under that skill only; it caps files at 200 MB, the video skill at 500 MB.
MB is read as MiB (1024 x 1024 bytes): the documents do not say, and the backend answers 4002
for anything it finds too large whatever the client decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import FileRejected, UsageError

__all__ = ["SUPPORTED_FORMATS", "UploadRules", "check_upload", "rules_for"]

SUPPORTED_FORMATS = (
    "mp4", "mov", "avi", "webm", "mkv", "jpg", "png", "gif", "webp", "mp3", "wav", "m4a", "aac",
)  # fmt: skip

_MIB = 1024 * 1024


@dataclass(frozen=True)
class UploadRules:
    max_bytes: int
    formats: tuple[str, ...]

    @property
    def max_mb(self) -> int:
        return self.max_bytes // _MIB

    def unsupported_message(self, name: str | None = None) -> str:
        what = f"{name} is not a supported file type" if name else "Unsupported file type"
        return f"{what}. Supported formats: {', '.join(self.formats)}."

    def too_large_message(self, name: str | None = None) -> str:
        what = f"{name} is too large" if name else "The file is too large"
        return (
            f"{what} (limit {self.max_mb} MB). Compress it or trim it to the part you need, "
            "then try again."
        )


_RULES = {
    "how-to-download-music": UploadRules(200 * _MIB, (*SUPPORTED_FORMATS, "flac")),
    "video-to-mp3": UploadRules(500 * _MIB, SUPPORTED_FORMATS),
}
# A skill file of the user's own (``--skill PATH``) gets the stricter of the two limits.
_DEFAULT_RULES = UploadRules(200 * _MIB, SUPPORTED_FORMATS)


def rules_for(skill_name: str) -> UploadRules:
    return _RULES.get(skill_name, _DEFAULT_RULES)


def check_upload(path: Path, rules: UploadRules) -> int:
    """Check a file before uploading it; returns its size in bytes."""
    if not path.is_file():
        raise UsageError(f"File not found: {path}")
    extension = path.suffix.lower().lstrip(".")
    if extension not in rules.formats:
        raise FileRejected(rules.unsupported_message(path.name))
    size = path.stat().st_size
    if size > rules.max_bytes:
        raise FileRejected(rules.too_large_message(path.name))
    return size
