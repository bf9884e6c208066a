"""Small, real, deterministic media files for tests and the demo.

Everything is computed (no assets are shipped), and the same arguments give the same bytes with
the same PyAV/FFmpeg build: encoders run single-threaded and nothing writes a timestamp. The
melodies are distinct sequences of notes, so that the cross-correlation of one with another (or
with a steady tone) is low, while a file correlates highly with a re-encoding of itself.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "AUDIO_FORMATS",
    "CLIP_FORMATS",
    "SAMPLE_RATE",
    "clip_frame",
    "clip_soundtrack",
    "make_clip",
    "make_cover",
    "make_song",
    "make_tone",
    "song_samples",
    "tone_samples",
]

SAMPLE_RATE = 44100

# suffix -> (container format, audio codec)
AUDIO_FORMATS: dict[str, tuple[str, str]] = {
    "mp3": ("mp3", "libmp3lame"),
    "wav": ("wav", "pcm_s16le"),
    "m4a": ("ipod", "aac"),
    "aac": ("adts", "aac"),
    "flac": ("flac", "flac"),
}
# suffix -> container format; the video is H.264 and the audio AAC in each
CLIP_FORMATS: dict[str, str] = {"mp4": "mp4", "mov": "mov", "mkv": "matroska"}

# Semitones from A4 (440 Hz). The song walks an A-minor-pentatonic figure, the clip's soundtrack
# a different figure in another register, so the two never line up.
_SONG_NOTES = (0, 3, 5, 7, 10, 7, 5, 3, 12, 10, 7, 5, -2, 0, 3, -5)
_CLIP_NOTES = (-9, -4, -7, 2, -12, -2, 4, -9)

Samples = npt.NDArray[np.float32]


def _suffix(path: Path) -> str:
    return path.suffix.lower().lstrip(".")


def tone_samples(seconds: float, freq: float = 440.0, sample_rate: int = SAMPLE_RATE) -> Samples:
    """A steady sine at ``freq``, stereo, shape (2, n)."""
    t = np.arange(round(seconds * sample_rate), dtype=np.float64) / sample_rate
    mono = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([mono, mono])


def _melody(
    seconds: float, notes: tuple[int, ...], note_seconds: float, sample_rate: int
) -> Samples:
    n = round(seconds * sample_rate)
    t = np.arange(n, dtype=np.float64) / sample_rate
    index = np.floor(t / note_seconds).astype(np.int64)
    semitones = np.asarray(notes, dtype=np.float64)[index % len(notes)]
    freq = 440.0 * 2.0 ** (semitones / 12.0)
    # phase accumulates, so note changes do not click
    phase = 2 * np.pi * np.cumsum(freq) / sample_rate
    local = t - index * note_seconds
    envelope = np.minimum(local / 0.01, 1.0) * np.exp(-2.5 * local)
    mono = envelope * (0.45 * np.sin(phase) + 0.15 * np.sin(2 * phase) + 0.05 * np.sin(3 * phase))
    left = mono.astype(np.float32)
    right = (0.9 * mono).astype(np.float32)
    return np.stack([left, right])


def song_samples(seconds: float, sample_rate: int = SAMPLE_RATE) -> Samples:
    """The melody written by `make_song`, stereo, shape (2, n)."""
    return _melody(seconds, _SONG_NOTES, 0.25, sample_rate)


def clip_soundtrack(seconds: float, sample_rate: int = SAMPLE_RATE) -> Samples:
    """The audio track written by `make_clip`, stereo, shape (2, n)."""
    return _melody(seconds, _CLIP_NOTES, 0.3, sample_rate)


def _encode_audio(
    container: av.container.OutputContainer,
    stream: av.AudioStream,
    samples: Samples,
    sample_rate: int,
) -> None:
    chunk = 4096
    for start in range(0, samples.shape[1], chunk):
        block = np.ascontiguousarray(samples[:, start : start + chunk])
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
        frame.sample_rate = sample_rate
        frame.pts = start
        frame.time_base = Fraction(1, sample_rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def _write_audio(path: Path, samples: Samples, sample_rate: int) -> Path:
    suffix = _suffix(path)
    if suffix not in AUDIO_FORMATS:
        raise ValueError(f"cannot write audio as {suffix!r}; use one of {sorted(AUDIO_FORMATS)}")
    fmt, codec = AUDIO_FORMATS[suffix]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=sample_rate, layout="stereo")
        assert isinstance(stream, av.AudioStream)
        if codec in {"libmp3lame", "aac"}:
            stream.bit_rate = 192_000
        _encode_audio(container, stream, samples, sample_rate)
    return path


def make_tone(
    path: Path, seconds: float, freq: float = 440.0, *, sample_rate: int = SAMPLE_RATE
) -> Path:
    """A steady tone; the format follows the suffix (mp3, wav, m4a, aac, flac)."""
    return _write_audio(path, tone_samples(seconds, freq, sample_rate), sample_rate)


def make_song(path: Path, seconds: float, *, sample_rate: int = SAMPLE_RATE) -> Path:
    """A melody of short notes; the format follows the suffix (mp3, wav, m4a, aac, flac)."""
    return _write_audio(path, song_samples(seconds, sample_rate), sample_rate)


def clip_frame(index: int, total: int, width: int, height: int) -> npt.NDArray[np.uint8]:
    """Frame ``index`` of `make_clip`: its red level rises from 0 to 255 over the clip, so a
    test can tell which moment of the clip a picture shows; a white square slides across."""
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[:, :, 0] = round(255 * index / max(total - 1, 1))
    frame[:, :, 1] = np.linspace(40, 160, height, dtype=np.uint8)[:, None]
    frame[:, :, 2] = 96
    side = max(height // 6, 2)
    x = (index * max(width // 40, 1)) % max(width - side, 1)
    y = (height - side) // 2
    frame[y : y + side, x : x + side] = 255
    return frame


def make_clip(
    path: Path,
    seconds: float,
    width: int = 320,
    height: int = 240,
    fps: int = 10,
    *,
    sample_rate: int = SAMPLE_RATE,
) -> Path:
    """A small H.264 video with an AAC soundtrack (`clip_soundtrack`); mp4, mov or mkv."""
    suffix = _suffix(path)
    if suffix not in CLIP_FORMATS:
        raise ValueError(f"cannot write a clip as {suffix!r}; use one of {sorted(CLIP_FORMATS)}")
    if width % 2 or height % 2:
        raise ValueError(f"width and height must be even for yuv420p, got {width}x{height}")
    total = round(seconds * fps)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=CLIP_FORMATS[suffix]) as container:
        video = container.add_stream(
            "libx264", rate=fps, options={"preset": "ultrafast", "crf": "20", "threads": "1"}
        )
        video.width = width
        video.height = height
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=sample_rate, layout="stereo")
        audio.bit_rate = 128_000
        for index in range(total):
            frame = av.VideoFrame.from_ndarray(
                clip_frame(index, total, width, height), format="rgb24"
            )
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        _encode_audio(container, audio, clip_soundtrack(total / fps, sample_rate), sample_rate)
    return path


def make_cover(path: Path, w: int = 640, h: int = 640, *, text: str | None = None) -> Path:
    """A gradient picture with a few discs (and ``text`` if given); PNG or JPEG by suffix."""
    suffix = _suffix(path)
    formats = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "gif": "GIF"}
    if suffix not in formats:
        raise ValueError(f"cannot write a cover as {suffix!r}; use one of {sorted(formats)}")
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    rgb = np.empty((h, w, 3), dtype=np.uint8)
    rgb[:, :, 0] = (200 * x + 40 * y).astype(np.uint8)
    rgb[:, :, 1] = (60 + 120 * y * (1 - x)).astype(np.uint8)
    rgb[:, :, 2] = (220 - 160 * x * y).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    draw = ImageDraw.Draw(image)
    for i, (cx, cy, r) in enumerate(((0.3, 0.35, 0.18), (0.7, 0.6, 0.12), (0.5, 0.8, 0.08))):
        shade = 255 - 60 * i
        box = ((cx - r) * w, (cy - r) * h, (cx + r) * w, (cy + r) * h)
        draw.ellipse(box, fill=(shade, shade, 255 - shade // 2))
    if text:
        font = ImageFont.load_default(size=max(h // 10, 10))
        draw.text((w / 2, h * 0.12), text, fill=(255, 255, 255), font=font, anchor="mm")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=formats[suffix])
    return path
