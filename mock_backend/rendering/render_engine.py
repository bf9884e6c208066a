"""Turn a draft (the timeline JSON) into a real MP4 or MP3 file.

The output is small but real: H.264 at a low frame rate with the uploaded songs as its AAC
soundtrack, or an MP3 at 192 kbps, so that a client's download, playback and duration checks
meet actual media. `render` runs in a worker thread and keeps no state between calls.

Rules the documents leave open, decided here:

- video tracks (tt 0) are drawn in list order, first at the bottom; text tracks (tt 7) on top;
- the soundtrack is the mix of the audio tracks (tt 1); without audio tracks it is the audio of
  the ``video`` segments, each at its place on the timeline;
- a draft with a waveform and no image, or with nothing to show at all, gets a generated cover
  at the bottom, so the picture is never plain black;
- the draft's ``m.output.format`` is not read: the render request's format decides.

Raising an exception from the ``progress`` callback aborts the render (the mock's cancel): the
exception propagates and, as with every failure, no file is left behind.

`check` makes every refusal `render` can foresee (options, the draft's structure, canvas and
length limits, files that are missing or are not what their segments use them for) without
encoding anything; it reads file headers only. The mock calls it when a job is submitted, so a
job that would fail fails on the clock instead of after the encoder tried. `render` repeats the
same checks and keeps its own deeper ones (undecodable data, FFmpeg errors) as defence in depth.
"""

from __future__ import annotations

import hashlib
import math
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path, PurePosixPath
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from ..media.probing import UnsupportedMedia, decode_audio, expected_type
from ..openapi.spec import load_spec
from .render_jobs import (
    CONTENT_TYPES,
    OutputFormat,
    RenderError,
    RenderJob,
    RenderPlan,
    RenderResult,
)

__all__ = [
    "CONTENT_TYPES",
    "RenderError",
    "RenderJob",
    "RenderPlan",
    "RenderResult",
    "check",
    "render",
]

RGB = npt.NDArray[np.uint8]
Samples = npt.NDArray[np.float32]

SAMPLE_RATE = 44100
_DEFAULT_FPS = 2.0
# the contract's bounds (its schemas Draft, Segment and DraftMeta state them)
_SCHEMAS = load_spec().document["components"]["schemas"]
_MAX_SIDE = int(_SCHEMAS["DraftMeta"]["properties"]["canvas"]["properties"]["w"]["maximum"])
_MAX_DURATION_MS = int(_SCHEMAS["Draft"]["properties"]["d"]["maximum"])
_MS = Fraction(1, 1000)
# ultrafast keeps a 3-minute 1080p render near 4 s of H.264 work on 2 cores (superfast: ~5.5 s)
_PRESET = "ultrafast"
# quality -> (x264 crf, AAC bit rate); MP3 is always 192 kbps (seed). AAC above 128 kbps costs
# half as much time again for no benefit a test could see.
_QUALITY: dict[str | None, tuple[int, int]] = {
    None: (26, 128_000),
    "low": (30, 96_000),
    "medium": (26, 128_000),
    "high": (22, 128_000),
}
_VISUAL_KINDS = frozenset({"image", "video", "waveform", "color", "generated"})
_AUDIO_KINDS = frozenset({"audio", "video", "generated"})  # generated: music made from m.name
_NEEDS_SRC = frozenset({"image", "video", "waveform", "audio"})
# FreeType faces share one library handle in Pillow; drawing text is serialised across renders.
_FONT_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Segment:
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
class _Plan:
    duration_ms: int
    width: int
    height: int
    fps: float
    title: str
    visuals: list[_Segment]
    texts: list[_Segment]
    sounds: list[_Segment]


def check(job: RenderJob) -> RenderPlan:
    """The refusals `render` would make, made now and cheaply; raises `RenderError` with the
    same reason. Nothing is decoded or encoded: the uploaded files' headers are read."""
    plan = _checked_plan(job)
    return RenderPlan(plan.duration_ms / 1000, CONTENT_TYPES[job.output_format])


def _checked_plan(job: RenderJob) -> _Plan:
    if job.output_format not in CONTENT_TYPES:
        raise RenderError(f"unsupported output format {job.output_format!r}; use mp4 or mp3")
    if job.quality not in _QUALITY:
        raise RenderError(f"unknown quality {job.quality!r}; use low, medium or high")
    plan = _plan(job)
    _check_sources(plan, job.output_format)
    return plan


def render(job: RenderJob, progress: Callable[[float], None] | None = None) -> RenderResult:
    """Render ``job`` to ``job.out_path``; raises `RenderError` when the draft cannot be."""
    plan = _checked_plan(job)  # `check`'s refusals first, then the encoder's own
    report = _Progress(progress)
    out = job.out_path
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    sources = _Sources(plan)
    try:
        try:
            soundtrack = _mix(plan, sources, job.output_format)
            report(0.05)
            if job.output_format == "mp4":
                _encode_mp4(tmp, plan, sources, soundtrack, job.quality, report)
            else:
                _encode_mp3(tmp, soundtrack, report)
            with av.open(str(tmp)) as check:
                duration = (check.duration or 0) / av.time_base
        except av.FFmpegError as exc:
            raise RenderError(f"encoding failed: {exc.strerror or exc}") from exc
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        sources.close()
    report(1.0)
    return RenderResult(
        path=out,
        duration=round(duration, 3),
        size=out.stat().st_size,
        content_type=CONTENT_TYPES[job.output_format],
    )


class _Progress:
    def __init__(self, callback: Callable[[float], None] | None) -> None:
        self._callback = callback
        self._last = -1.0

    def __call__(self, fraction: float) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        if self._callback is None or fraction <= self._last:
            return
        if fraction < 1.0 and fraction - self._last < 0.01:
            return
        self._last = fraction
        self._callback(fraction)


# ---------------------------------------------------------------- reading the draft


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


def _color(value: object, what: str) -> tuple[int, int, int]:
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


def _segment(job: RenderJob, raw: object, tt: int, role: str, where: str) -> _Segment | None:
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
        return _Segment(sid, role, start, duration, "text", meta)
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
        _color(meta["color"], f"segment {sid} m.color")
    offset = _ms(meta.get("in", 0), f"segment {sid} m.in")
    volume = _number(meta.get("volume", 1.0), f"segment {sid} m.volume", 0.0, 1.0)
    return _Segment(sid, role, start, duration, kind, meta, src, offset, volume)


def _canvas(meta: Mapping[str, Any]) -> tuple[int, int]:
    canvas = _mapping(meta.get("canvas", {"w": 1920, "h": 1080}), "draft m.canvas")
    w, h = canvas.get("w"), canvas.get("h")
    for side, value in (("w", w), ("h", h)):
        if isinstance(value, bool) or not isinstance(value, int) or not 16 <= value <= _MAX_SIDE:
            raise RenderError(f"canvas {side} must be an integer from 16 to {_MAX_SIDE}")
        if value % 2:
            raise RenderError(f"canvas {side} must be even for H.264 4:2:0, got {value}")
    return int(w), int(h)  # type: ignore[arg-type]


def _plan(job: RenderJob) -> _Plan:
    draft = _mapping(job.draft, "draft")
    meta = _mapping(draft.get("m", {}), "draft m")
    tracks = draft.get("t")
    if not isinstance(tracks, list):
        raise RenderError("draft has no track list t")
    visuals: list[_Segment] = []
    texts: list[_Segment] = []
    sounds: list[_Segment] = []
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
        cover = _Segment("generated-cover", "background", 0, duration, "generated", {"name": title})
        visuals.insert(0, cover)
    return _Plan(duration, width, height, fps, str(title), visuals, texts, sounds)


def _check_sources(plan: _Plan, output_format: OutputFormat) -> None:
    """Each file is what its segments use it for, with the reasons the decoders would give."""
    streams: dict[Path, frozenset[str]] = {}

    def kinds(seg: _Segment, needs: str) -> frozenset[str]:
        assert seg.src is not None
        if seg.src not in streams:
            try:
                with av.open(str(seg.src)) as container:
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


def _display_name(seg: _Segment) -> str:
    name = seg.meta.get("name") or PurePosixPath(str(seg.meta.get("src", ""))).name
    return PurePosixPath(str(name)).stem


# ---------------------------------------------------------------- sources and layers


class _Sources:
    """Everything read from uploaded files during one render, each decoded once."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self._audio: dict[Path, Samples] = {}
        self._pictures: dict[str, RGB] = {}
        self._videos: dict[str, _VideoReader] = {}
        self._waves: dict[str, _Waveform] = {}
        self._sprites: dict[str, _Sprite] = {}
        self._needed: dict[Path, float] = {}
        for seg in plan.sounds + plan.visuals:
            if seg.src is not None:
                end = (seg.offset + seg.duration) / 1000 + 1
                self._needed[seg.src] = max(self._needed.get(seg.src, 0.0), end)

    def audio(self, seg: _Segment) -> Samples:
        if seg.src is None:  # generated music, made for this segment only
            return _music(str(seg.meta.get("name") or ""), (seg.offset + seg.duration) / 1000)
        if seg.src not in self._audio:
            try:
                self._audio[seg.src] = decode_audio(
                    seg.src, sample_rate=SAMPLE_RATE, max_seconds=self._needed[seg.src]
                )
            except UnsupportedMedia as exc:
                raise RenderError(f"segment {seg.id}: {exc.reason}") from exc
        return self._audio[seg.src]

    def has_audio(self, seg: _Segment) -> bool:
        assert seg.src is not None
        try:
            with av.open(str(seg.src)) as container:
                return bool(container.streams.audio)
        except av.FFmpegError as exc:
            raise RenderError(f"segment {seg.id}: cannot open its src ({exc.strerror})") from exc

    def picture(self, seg: _Segment) -> RGB:
        if seg.id not in self._pictures:
            size = (self.plan.width, self.plan.height)
            if seg.kind == "generated":
                self._pictures[seg.id] = _generated(str(seg.meta.get("name") or ""), size)
            elif seg.kind == "color":
                color = _color(seg.meta.get("color", "#000000"), "m.color")
                self._pictures[seg.id] = np.full((size[1], size[0], 3), color, dtype=np.uint8)
            else:
                assert seg.src is not None
                try:
                    with Image.open(seg.src) as image:
                        fitted = ImageOps.fit(image.convert("RGB"), size, Image.Resampling.BILINEAR)
                except (UnidentifiedImageError, OSError) as exc:
                    raise RenderError(f"segment {seg.id}: src is not a readable image") from exc
                self._pictures[seg.id] = np.asarray(fitted, dtype=np.uint8)
        return self._pictures[seg.id]

    def video(self, seg: _Segment) -> _VideoReader:
        if seg.id not in self._videos:
            assert seg.src is not None
            self._videos[seg.id] = _VideoReader(seg, self.plan.width, self.plan.height)
        return self._videos[seg.id]

    def waveform(self, seg: _Segment) -> _Waveform:
        if seg.id not in self._waves:
            color = _color(seg.meta.get("color", "#36c5f0"), "m.color")
            samples = self.audio(seg)
            self._waves[seg.id] = _Waveform(samples.mean(axis=0), color, self.plan)
        return self._waves[seg.id]

    def sprite(self, seg: _Segment) -> _Sprite:
        if seg.id not in self._sprites:
            self._sprites[seg.id] = _Sprite(seg, self.plan.width, self.plan.height)
        return self._sprites[seg.id]

    def close(self) -> None:
        for reader in self._videos.values():
            reader.close()


def _generated(name: str, size: tuple[int, int]) -> RGB:
    """A gradient with diagonal stripes and ``name`` written on it, coloured from the name."""
    width, height = size
    digest = hashlib.sha256(name.encode()).digest()
    top = np.frombuffer(digest[0:3], dtype=np.uint8).astype(np.float32) * 0.6
    bottom = np.frombuffer(digest[3:6], dtype=np.uint8).astype(np.float32) * 0.6 + 60
    x = np.arange(width, dtype=np.float32)[None, :]
    y = np.arange(height, dtype=np.float32)[:, None]
    mix = (x / width * 0.4 + y / height * 0.6)[:, :, None]
    stripes = (((x + y) // max(height // 12, 1)) % 2 * 12)[:, :, None]
    rgb = np.clip(top * (1 - mix) + bottom * mix + stripes, 0, 255).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    if name:
        with _FONT_LOCK:
            points = max(min(width, height) // 9, 12)
            font = ImageFont.load_default(size=points)
            while points > 12 and font.getlength(name) > width * 0.9:
                points = max(points * 4 // 5, 12)
                font = ImageFont.load_default(size=points)
            draw = ImageDraw.Draw(image)
            draw.text((width / 2, height * 0.3), name, fill="white", font=font, anchor="mm")
    return np.asarray(image, dtype=np.uint8)


class _VideoReader:
    """The frames of one video segment, read forward as the timeline advances."""

    def __init__(self, seg: _Segment, width: int, height: int) -> None:
        assert seg.src is not None
        self._seg, self._size = seg, (width, height)
        try:
            self._container = av.open(str(seg.src))
        except av.FFmpegError as exc:
            raise RenderError(f"segment {seg.id}: cannot open its src ({exc.strerror})") from exc
        if not self._container.streams.video:
            self._container.close()
            raise RenderError(f"segment {seg.id}: src has no video stream")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._frames: Iterator[av.VideoFrame] = self._container.decode(stream)
        self._current: av.VideoFrame | None = None
        self._next = self._pull()
        self._shown: tuple[int | None, RGB] | None = None

    def _pull(self) -> av.VideoFrame | None:
        try:
            return next(self._frames, None)
        except av.FFmpegError as exc:
            raise RenderError(f"segment {self._seg.id}: video cannot be decoded") from exc

    def frame_at(self, seconds: float) -> RGB:
        while self._next is not None and (
            self._current is None or (self._next.time or 0.0) <= seconds + 1e-6
        ):
            self._current, self._next = self._next, self._pull()
        if self._current is None:
            raise RenderError(f"segment {self._seg.id}: src has no video frames")
        if self._shown is None or self._shown[0] != self._current.pts:
            self._shown = (self._current.pts, self._cover(self._current))
        return self._shown[1]

    def _cover(self, frame: av.VideoFrame) -> RGB:
        width, height = self._size
        scale = max(width / frame.width, height / frame.height)
        sw, sh = math.ceil(frame.width * scale), math.ceil(frame.height * scale)
        rgb = frame.reformat(width=sw, height=sh, format="rgb24").to_ndarray()
        x, y = (sw - width) // 2, (sh - height) // 2
        return np.ascontiguousarray(rgb[y : y + height, x : x + width], dtype=np.uint8)

    def close(self) -> None:
        self._container.close()


class _Waveform:
    """Mirrored level bars of the spectrum of the audio around each frame's time."""

    _WINDOW = 2048

    def __init__(self, mono: Samples, color: tuple[int, int, int], plan: _Plan) -> None:
        self._mono, self._color = mono, np.array(color, dtype=np.uint8)
        bars = max(min(64, plan.width // 12), 8)
        self._centre, self._half = plan.height // 2, plan.height * 0.2
        left, pitch = plan.width * 0.06, plan.width * 0.88 / bars
        self._columns = [
            (round(left + i * pitch), round(left + (i + 0.7) * pitch)) for i in range(bars)
        ]
        # log-spaced bands from 50 Hz to 12 kHz, at least one FFT bin each
        bins = np.round(np.geomspace(50, 12_000, bars + 1) * self._WINDOW / SAMPLE_RATE)
        self._edges = np.maximum(bins.astype(np.int64), int(bins[0]) + np.arange(bars + 1))[:-1]
        self._hann = np.hanning(self._WINDOW).astype(np.float32)

    def levels(self, seconds: float) -> npt.NDArray[np.float64]:
        """One level per bar, 0.02 (silence) to 1 (full scale), from -60 dBFS up."""
        start = round(seconds * SAMPLE_RATE) - self._WINDOW // 2
        window = np.zeros(self._WINDOW, dtype=np.float32)
        lo, hi = max(start, 0), min(start + self._WINDOW, self._mono.shape[0])
        if hi > lo:
            window[lo - start : hi - start] = self._mono[lo:hi]
        magnitude = np.abs(np.fft.rfft(window * self._hann)) / (self._WINDOW / 4)
        peaks = np.maximum.reduceat(magnitude, self._edges)
        decibels = 20 * np.log10(np.maximum(peaks, 1e-6))
        return np.clip((decibels + 60) / 60, 0.02, 1.0)

    def draw(self, frame: RGB, seconds: float) -> None:
        for (x0, x1), level in zip(self._columns, self.levels(seconds), strict=True):
            reach = max(round(level * self._half), 1)
            frame[self._centre - reach : self._centre + reach, x0:x1] = self._color


class _Sprite:
    """A text segment drawn once as an RGBA picture, then blended onto every frame it covers."""

    def __init__(self, seg: _Segment, width: int, height: int) -> None:
        text, position = str(seg.meta["text"]), str(seg.meta.get("position", "center"))
        size = max(min(width, height) // (10 if seg.role == "title" else 16), 12)
        with _FONT_LOCK:
            font = ImageFont.load_default(size=size)
            block = "\n".join(_wrap(text, font, int(width * 0.85)))
            probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
            box = probe.multiline_textbbox(
                (0, 0), block, font=font, align="center", spacing=size // 4
            )
            left, top, right, bottom = (round(v) for v in box)
            pad = size // 2
            image = Image.new("RGBA", (right - left + 2 * pad, bottom - top + 2 * pad))
            draw = ImageDraw.Draw(image)
            draw.rounded_rectangle((0, 0, *image.size), radius=pad, fill=(0, 0, 0, 150))
            draw.multiline_text(
                (pad - left, pad - top), block, font=font, fill="white", align="center",
                spacing=size // 4,
            )  # fmt: skip
        rgba = np.asarray(image, dtype=np.float32)[:height, :width]
        alpha = rgba[:, :, 3:] / 255
        self._premultiplied, self._keep = rgba[:, :, :3] * alpha, 1 - alpha
        sh, sw = alpha.shape[:2]
        self._x = (width - sw) // 2
        margin = round(height * 0.06)
        y = {"top": margin, "center": (height - sh) // 2, "bottom": height - sh - margin}
        self._y = max(0, min(y[position], height - sh))

    def draw(self, frame: RGB) -> None:
        sh, sw = self._keep.shape[:2]
        region = frame[self._y : self._y + sh, self._x : self._x + sw]
        region[:] = (region * self._keep + self._premultiplied).astype(np.uint8)


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if line and font.getlength(candidate) > width:
                lines.append(line)
                candidate = word
            line = candidate
        lines.append(line)
    return lines


def _compose(frame: RGB, t_ms: int, plan: _Plan, sources: _Sources) -> None:
    active = [seg for seg in plan.visuals if seg.active(t_ms)]
    if not active or active[0].kind == "waveform":
        frame.fill(0)
    for seg in active:
        if seg.kind == "waveform":
            sources.waveform(seg).draw(frame, seg.local_seconds(t_ms))
        elif seg.kind == "video":
            np.copyto(frame, sources.video(seg).frame_at(seg.local_seconds(t_ms)))
        else:
            np.copyto(frame, sources.picture(seg))
    for seg in plan.texts:
        if seg.active(t_ms):
            sources.sprite(seg).draw(frame)


# ---------------------------------------------------------------- sound and encoding


def _mix(plan: _Plan, sources: _Sources, output_format: OutputFormat) -> Samples:
    segments = plan.sounds or [
        seg for seg in plan.visuals if seg.kind == "video" and sources.has_audio(seg)
    ]
    if output_format == "mp3" and not segments:
        raise RenderError("nothing to put in an MP3: no audio track and no video with sound")
    total = round(plan.duration_ms * SAMPLE_RATE / 1000)
    mix = np.zeros((2, total), dtype=np.float32)
    for seg in segments:
        samples = sources.audio(seg)
        first = round(seg.offset * SAMPLE_RATE / 1000)
        at = round(seg.start * SAMPLE_RATE / 1000)
        length = min(round(seg.duration * SAMPLE_RATE / 1000), total - at)
        piece = samples[:, first : first + max(length, 0)]
        mix[:, at : at + piece.shape[1]] += piece * np.float32(seg.volume)
    np.clip(mix, -1.0, 1.0, out=mix)
    return mix


def _music(name: str, seconds: float) -> Samples:
    """A quiet chord progression standing in for generated music; ``name`` picks key and order."""
    digest = hashlib.sha256(name.encode()).digest()
    root = 220 * 2 ** ((digest[0] % 12) / 12)
    progression = np.roll(
        np.array([[0, 4, 7], [5, 9, 12], [7, 11, 14], [-3, 0, 4]]), digest[1] % 4, 0
    )
    t = np.arange(round(seconds * SAMPLE_RATE), dtype=np.float64) / SAMPLE_RATE
    chord = progression[(t // 2.0).astype(np.int64) % len(progression)]
    phases = 2 * np.pi * np.cumsum(root * 2 ** (chord / 12), axis=0) / SAMPLE_RATE
    pulse = 0.6 + 0.4 * np.cos(2 * np.pi * t * 2) ** 2
    mono = (0.12 * np.sin(phases).sum(axis=1) * pulse).astype(np.float32)
    return np.stack([mono, mono])


def _audio_frames(samples: Samples, chunk: int) -> Iterator[av.AudioFrame]:
    for start in range(0, samples.shape[1], chunk):
        block = np.ascontiguousarray(samples[:, start : start + chunk])
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = SAMPLE_RATE, start
        frame.time_base = Fraction(1, SAMPLE_RATE)
        yield frame


class _AudioPump(threading.Thread):
    """Encodes the soundtrack while the main thread draws and encodes pictures.

    PyAV releases the GIL inside the encoders, so AAC and H.264 share the two cores; the
    packets come back through a queue because only the render thread may mux.
    """

    def __init__(self, stream: av.AudioStream, soundtrack: Samples) -> None:
        super().__init__(name="render-audio", daemon=True)
        self._stream, self._soundtrack = stream, soundtrack
        self.packets: queue.SimpleQueue[list[av.Packet[Any]] | None] = queue.SimpleQueue()
        self.fraction = 0.0
        self.error: BaseException | None = None
        self.finished = False
        self.stop = threading.Event()

    def run(self) -> None:
        total = max(self._soundtrack.shape[1], 1)
        try:
            for frame in _audio_frames(self._soundtrack, SAMPLE_RATE // 2):
                if self.stop.is_set():
                    return
                self.packets.put(self._stream.encode(frame))
                self.fraction = min((frame.pts or 0) + frame.samples, total) / total
            self.packets.put(self._stream.encode(None))
        except BaseException as exc:  # re-raised by the render thread
            self.error = exc
        finally:
            self.packets.put(None)

    def drain(self, container: av.container.OutputContainer, *, wait: bool) -> None:
        while not self.finished and (wait or not self.packets.empty()):
            packets = self.packets.get()
            if packets is None:
                self.finished = True
                if self.error is not None:
                    raise self.error
            else:
                container.mux(packets)


def _encode_mp4(
    path: Path,
    plan: _Plan,
    sources: _Sources,
    soundtrack: Samples,
    quality: str | None,
    report: _Progress,
) -> None:
    crf, audio_rate = _QUALITY[quality]
    count = max(math.ceil(plan.duration_ms * plan.fps / 1000), 1)
    # Timestamps in ms, the last frame cut short, so the file lasts exactly the draft's d.
    stamps = [math.floor(i * 1000 / plan.fps) for i in range(count)] + [plan.duration_ms]
    lengths = {stamps[i]: stamps[i + 1] - stamps[i] for i in range(count)}
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        video = container.add_stream(
            "libx264", rate=Fraction(plan.fps).limit_denominator(1000),
            options={"preset": _PRESET, "crf": str(crf)},
        )  # fmt: skip
        video.width, video.height, video.pix_fmt = plan.width, plan.height, "yuv420p"
        video.codec_context.time_base = _MS
        video.codec_context.gop_size = max(round(plan.fps * 5), 1)
        audio = container.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
        assert isinstance(audio, av.AudioStream)
        audio.bit_rate = audio_rate
        container.start_encoding()  # opens both encoders before the pump thread uses one

        def mux_video(packets: list[av.Packet[Any]]) -> None:
            for packet in packets:
                packet.duration = lengths[packet.pts or 0]
            container.mux(packets)

        # One RGB frame, drawn into in place: the encoder converts it to a new YUV frame, so
        # reusing it is safe and saves a 6 MB copy per frame at 1080p.
        frame = av.VideoFrame(plan.width, plan.height, "rgb24")
        plane = frame.planes[0]
        rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(
            plan.height, plane.line_size
        )
        canvas = rows[:, : plan.width * 3].reshape(plan.height, plan.width, 3)
        pump = _AudioPump(audio, soundtrack)
        pump.start()
        try:
            for index in range(count):
                _compose(canvas, stamps[index], plan, sources)
                frame.pts, frame.time_base = stamps[index], _MS
                mux_video(video.encode(frame))
                pump.drain(container, wait=False)
                report(0.05 + 0.93 * ((index + 1) / count + pump.fraction) / 2)
            mux_video(video.encode(None))
            pump.drain(container, wait=True)
        finally:
            pump.stop.set()
            pump.join()


def _encode_mp3(path: Path, soundtrack: Samples, report: _Progress) -> None:
    with av.open(str(path), "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=SAMPLE_RATE, layout="stereo")
        assert isinstance(stream, av.AudioStream)
        stream.bit_rate = 192_000
        total = soundtrack.shape[1]
        for frame in _audio_frames(soundtrack, SAMPLE_RATE):
            container.mux(stream.encode(frame))
            report(0.05 + 0.93 * ((frame.pts or 0) + frame.samples) / total)
        container.mux(stream.encode(None))
