"""What a draft asks for, read and checked: its segments, canvas, length and sources.

Every refusal the engine can foresee is made here (`check`), from the draft and the uploaded
files' headers, without decoding or encoding anything; `render_engine.render` makes the same
checks first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path, PurePosixPath
from typing import Any

import av
from PIL import Image, UnidentifiedImageError

from ..media.probing import expected_type, open_media
from ..openapi.spec import load_spec
from .render_jobs import (
    CONTENT_TYPES,
    OutputFormat,
    RenderError,
    RenderJob,
    RenderPlan,
)

__all__ = ["MS", "QUALITY", "Plan", "Segment", "check", "checked_plan", "parse_color"]


_DEFAULT_FPS = 2.0
# the contract's bounds (its schemas Draft, Segment and DraftMeta state them)
_SCHEMAS = load_spec().document["components"]["schemas"]
_MAX_SIDE = int(_SCHEMAS["DraftMeta"]["properties"]["canvas"]["properties"]["w"]["maximum"])
_MAX_DURATION_MS = int(_SCHEMAS["Draft"]["properties"]["d"]["maximum"])
MS = Fraction(1, 1000)
# quality -> (x264 crf, AAC bit rate); MP3 is always 192 kbps (seed). AAC above 128 kbps costs
# half as much time again for no benefit a test could see.
QUALITY: dict[str | None, tuple[int, int]] = {
    None: (26, 128_000),
    "low": (30, 96_000),
    "medium": (26, 128_000),
    "high": (22, 128_000),
}
_VISUAL_KINDS = frozenset({"image", "video", "waveform", "color", "generated"})
_AUDIO_KINDS = frozenset({"audio", "video", "generated"})  # generated: music made from m.name
_NEEDS_SRC = frozenset({"image", "video", "waveform", "audio"})


@dataclass(frozen=True)
class Segment:
    id: str
    role: str
    start: int
    duration: int
    kind: str
    meta: Mapping[str, Any] = field(repr=False)
    src: Path | None = None
    offset: int = 0
    volume: float = 1.0

    @property
    def end(self) -> int:
        return self.start + self.duration

    def active(self, t_ms: int) -> bool:
        return self.start <= t_ms < self.end

    def local_seconds(self, t_ms: int) -> float:
        return (t_ms - self.start + self.offset) / 1000


@dataclass
class Plan:
    duration_ms: int
    width: int
    height: int
    fps: float
    title: str
    visuals: list[Segment]
    texts: list[Segment]
    sounds: list[Segment]


def check(job: RenderJob) -> RenderPlan:
    """The refusals `render` would make, made now and cheaply; raises `RenderError` with the
    same reason. Nothing is decoded or encoded: the uploaded files' headers are read."""
    plan = checked_plan(job)
    return RenderPlan(plan.duration_ms / 1000, CONTENT_TYPES[job.output_format])


def checked_plan(job: RenderJob) -> Plan:
    if job.output_format not in CONTENT_TYPES:
        raise RenderError(f"unsupported output format {job.output_format!r}; use mp4 or mp3")
    if job.quality not in QUALITY:
        raise RenderError(f"unknown quality {job.quality!r}; use low, medium or high")
    plan = _plan(job)
    _check_sources(plan, job.output_format)
    return plan


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RenderError(f"{what} must be an object, got {type(value).__name__}")
    return value


def _number(value: object, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise RenderError(f"{what} must be a number from {low:.10g} to {high:.10g}, got {value!r}")
    return float(value)


def _ms(value: object, what: str) -> int:
    return round(_number(value, what, 0, _MAX_DURATION_MS))


def parse_color(value: object, what: str) -> tuple[int, int, int]:
    text = str(value)
    if len(text) != 7 or text[0] != "#":
        raise RenderError(f"{what} must be a colour like #36c5f0, got {value!r}")
    try:
        return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)
    except ValueError:
        raise RenderError(f"{what} must be a colour like #36c5f0, got {value!r}") from None


def _kind(meta: Mapping[str, Any], tt: int, sid: str) -> str:
    if "kind" in meta:
        return str(meta["kind"])
    if tt == 1:
        return "audio" if meta.get("src") else "generated"
    # a visual segment without a kind: its file decides (an audio file becomes its waveform)
    family = expected_type(str(meta.get("src") or ""))
    if family is None:
        raise RenderError(f"segment {sid}: no m.kind, and no m.src to tell it from")
    return {"audio": "waveform"}.get(family, family)


def _segment(job: RenderJob, raw: object, tt: int, role: str, where: str) -> Segment | None:
    """The segment, checked; None for a zero-length one, which shows and sounds nothing."""
    seg = _mapping(raw, where)
    sid = str(seg.get("id", where))
    meta = _mapping(seg.get("m", {}), f"segment {sid} m")
    start, duration = (
        _ms(seg.get("s", 0), f"segment {sid} s"),
        _ms(seg.get("d"), f"segment {sid} d"),
    )
    if duration == 0:
        return None
    if tt == 7:
        if not isinstance(meta.get("text"), str) or not meta["text"].strip():
            raise RenderError(f"text segment {sid} has no m.text")
        if meta.get("position", "center") not in {"top", "center", "bottom"}:
            raise RenderError(f"text segment {sid}: position must be top, center or bottom")
        return Segment(sid, role, start, duration, "text", meta)
    kind = _kind(meta, tt, sid)
    allowed = _AUDIO_KINDS if tt == 1 else _VISUAL_KINDS
    if kind not in allowed:
        raise RenderError(f"segment {sid}: kind {kind!r} cannot go on a track of type {tt}")
    src = None
    if kind in _NEEDS_SRC:
        url = meta.get("src")
        if not url:
            raise RenderError(f"segment {sid}: a {kind} segment needs m.src")
        if url not in job.media:
            raise RenderError(f"segment {sid}: src {url} is not an uploaded file of this session")
        src = Path(job.media[url])
        if not src.is_file():
            raise RenderError(f"segment {sid}: the file behind {url} is gone")
    if kind in {"color", "waveform"} and "color" in meta:
        parse_color(meta["color"], f"segment {sid} m.color")
    offset = _ms(meta.get("in", 0), f"segment {sid} m.in")
    volume = _number(meta.get("volume", 1.0), f"segment {sid} m.volume", 0.0, 1.0)
    return Segment(sid, role, start, duration, kind, meta, src, offset, volume)


def _canvas(meta: Mapping[str, Any]) -> tuple[int, int]:
    canvas = _mapping(meta.get("canvas", {"w": 1920, "h": 1080}), "draft m.canvas")
    w, h = canvas.get("w"), canvas.get("h")
    for side, value in (("w", w), ("h", h)):
        if isinstance(value, bool) or not isinstance(value, int) or not 16 <= value <= _MAX_SIDE:
            raise RenderError(f"canvas {side} must be an integer from 16 to {_MAX_SIDE}")
        if value % 2:
            raise RenderError(f"canvas {side} must be even for H.264 4:2:0, got {value}")
    return int(w), int(h)  # type: ignore[arg-type]


def _plan(job: RenderJob) -> Plan:
    draft = _mapping(job.draft, "draft")
    meta = _mapping(draft.get("m", {}), "draft m")
    tracks = draft.get("t")
    if not isinstance(tracks, list):
        raise RenderError("draft has no track list t")
    visuals: list[Segment] = []
    texts: list[Segment] = []
    sounds: list[Segment] = []
    for index, raw_track in enumerate(tracks):
        track = _mapping(raw_track, f"track {index}")
        tid = str(track.get("id", f"#{index}"))
        tt, segments = track.get("tt"), track.get("sg", [])
        if tt not in (0, 1, 7) or isinstance(tt, bool):
            raise RenderError(f"track {tid} has unsupported type tt={tt!r} (0, 1 or 7)")
        if not isinstance(segments, list):
            raise RenderError(f"track {tid}: sg must be a list")
        role = str(_mapping(track.get("m", {}), f"track {tid} m").get("role", ""))
        parsed = [_segment(job, s, tt, role, f"{tid}[{i}]") for i, s in enumerate(segments)]
        {0: visuals, 1: sounds, 7: texts}[tt].extend(p for p in parsed if p is not None)
    everything = visuals + texts + sounds
    if not everything:
        raise RenderError("draft has no track with segments")
    if draft.get("d") is None:
        duration = max(s.end for s in everything)
    else:
        duration = _ms(draft["d"], "draft d")
    if duration == 0:
        raise RenderError("draft duration d is zero")
    if duration > _MAX_DURATION_MS:  # no d, and segments placed past the hour
        raise RenderError(f"the draft lasts {duration} ms, more than an hour ({_MAX_DURATION_MS})")
    width, height = _canvas(meta)
    fps = _number(meta.get("fps") or _DEFAULT_FPS, "draft m.fps", 1, 30)
    title = meta.get("title") or next((_display_name(s) for s in sounds), "") or "NemoVideo"
    kinds = {s.kind for s in visuals}
    if job.output_format == "mp4" and (("image" not in kinds and "waveform" in kinds) or not kinds):
        cover = Segment("generated-cover", "background", 0, duration, "generated", {"name": title})
        visuals.insert(0, cover)
    return Plan(duration, width, height, fps, str(title), visuals, texts, sounds)


def _check_sources(plan: Plan, output_format: OutputFormat) -> None:
    """Each file is what its segments use it for, with the reasons the decoders would give."""
    streams: dict[Path, frozenset[str]] = {}

    def kinds(seg: Segment, needs: str) -> frozenset[str]:
        assert seg.src is not None
        if seg.src not in streams:
            try:
                with open_media(seg.src) as container:
                    streams[seg.src] = frozenset(s.type for s in container.streams)
            except (av.FFmpegError, OSError) as exc:
                why = getattr(exc, "strerror", None) or type(exc).__name__
                if needs == "audio":  # the words decode_audio uses (media.py)
                    raise RenderError(f"segment {seg.id}: audio cannot be decoded ({why})") from exc
                raise RenderError(f"segment {seg.id}: cannot open its src ({why})") from exc
        return streams[seg.src]

    for seg in plan.visuals:
        if seg.src is None:
            continue
        if seg.kind == "image":
            try:
                with Image.open(seg.src):  # the header only; pixels are read when drawn
                    pass
            except (UnidentifiedImageError, OSError) as exc:
                raise RenderError(f"segment {seg.id}: src is not a readable image") from exc
        elif seg.kind == "video":
            if "video" not in kinds(seg, "video"):
                raise RenderError(f"segment {seg.id}: src has no video stream")
        elif "audio" not in kinds(seg, "audio"):  # a waveform draws its file's sound
            raise RenderError(f"segment {seg.id}: has no audio stream")
    for seg in plan.sounds:  # audio, or a video's soundtrack: decoded as audio either way
        if seg.src is not None and "audio" not in kinds(seg, "audio"):
            raise RenderError(f"segment {seg.id}: has no audio stream")
    # an MP3 is the audio tracks, or without them the videos' own sound (see _mix)
    voiced = [s for s in plan.visuals if s.kind == "video" and "audio" in kinds(s, "video")]
    if output_format == "mp3" and not plan.sounds and not voiced:
        raise RenderError("nothing to put in an MP3: no audio track and no video with sound")


def _display_name(seg: Segment) -> str:
    name = seg.meta.get("name") or PurePosixPath(str(seg.meta.get("src", ""))).name
    return PurePosixPath(str(name)).stem
