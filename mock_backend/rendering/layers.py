"""The picture of a render: its sources (images, video, waveforms, generated covers) and
the layers drawn on each frame (visuals bottom to top, then text).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from ..media.probing import UnsupportedMedia, decode_audio, open_media
from .draft_plan import Plan, Segment, parse_color
from .render_jobs import RenderError

__all__ = ["RGB", "SAMPLE_RATE", "Samples", "Sources", "compose", "music"]

RGB = npt.NDArray[np.uint8]
Samples = npt.NDArray[np.float32]
SAMPLE_RATE = 44100
# FreeType faces share one library handle in Pillow; drawing text is serialised across renders.
_FONT_LOCK = threading.Lock()


class Sources:
    """Everything read from uploaded files during one render, each decoded once."""

    def __init__(self, plan: Plan) -> None:
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

    def audio(self, seg: Segment) -> Samples:
        if seg.src is None:  # generated music, made for this segment only
            return music(str(seg.meta.get("name") or ""), (seg.offset + seg.duration) / 1000)
        if seg.src not in self._audio:
            try:
                self._audio[seg.src] = decode_audio(
                    seg.src, sample_rate=SAMPLE_RATE, max_seconds=self._needed[seg.src]
                )
            except UnsupportedMedia as exc:
                raise RenderError(f"segment {seg.id}: {exc.reason}") from exc
        return self._audio[seg.src]

    def has_audio(self, seg: Segment) -> bool:
        assert seg.src is not None
        try:
            with open_media(seg.src) as container:
                return bool(container.streams.audio)
        except av.FFmpegError as exc:
            raise RenderError(f"segment {seg.id}: cannot open its src ({exc.strerror})") from exc

    def picture(self, seg: Segment) -> RGB:
        if seg.id not in self._pictures:
            size = (self.plan.width, self.plan.height)
            if seg.kind == "generated":
                self._pictures[seg.id] = _generated(str(seg.meta.get("name") or ""), size)
            elif seg.kind == "color":
                color = parse_color(seg.meta.get("color", "#000000"), "m.color")
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

    def video(self, seg: Segment) -> _VideoReader:
        if seg.id not in self._videos:
            assert seg.src is not None
            self._videos[seg.id] = _VideoReader(seg, self.plan.width, self.plan.height)
        return self._videos[seg.id]

    def waveform(self, seg: Segment) -> _Waveform:
        if seg.id not in self._waves:
            color = parse_color(seg.meta.get("color", "#36c5f0"), "m.color")
            samples = self.audio(seg)
            self._waves[seg.id] = _Waveform(samples.mean(axis=0), color, self.plan)
        return self._waves[seg.id]

    def sprite(self, seg: Segment) -> _Sprite:
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

    def __init__(self, seg: Segment, width: int, height: int) -> None:
        assert seg.src is not None
        self._seg, self._size = seg, (width, height)
        try:
            self._container = open_media(seg.src)
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

    def __init__(self, mono: Samples, color: tuple[int, int, int], plan: Plan) -> None:
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

    def __init__(self, seg: Segment, width: int, height: int) -> None:
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


def compose(frame: RGB, t_ms: int, plan: Plan, sources: Sources) -> None:
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


def music(name: str, seconds: float) -> Samples:
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
