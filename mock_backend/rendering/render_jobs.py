"""What a render is asked and what it gives back: the job, its plan, its result, its error.

Light on purpose: the render service and the encoder's parent process hold these without loading
the media stack (PyAV, numpy, Pillow), which `render_engine` loads when a job is checked or
encoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import MockBackendError

__all__ = [
    "CONTENT_TYPES",
    "OutputFormat",
    "RenderError",
    "RenderJob",
    "RenderPlan",
    "RenderResult",
]

OutputFormat = Literal["mp4", "mp3"]
CONTENT_TYPES: dict[str, str] = {"mp4": "video/mp4", "mp3": "audio/mpeg"}


class RenderError(MockBackendError):
    """A draft that cannot be rendered; the message says why."""


@dataclass(frozen=True)
class RenderJob:
    draft: Mapping[str, Any]
    media: Mapping[str, Path]  # a segment's ``m.src`` -> the uploaded file
    output_format: OutputFormat
    out_path: Path
    quality: str | None = None


@dataclass(frozen=True)
class RenderResult:
    path: Path
    duration: float
    size: int
    content_type: str


@dataclass(frozen=True)
class RenderPlan:
    """What a renderable job will produce, known before a frame is encoded."""

    duration: float  # seconds: the draft's ``d`` (or its last segment's end), as the file lasts
    content_type: str
