"""What an uploaded file really is: its type, duration, size, frame rate and hash.

The extension only names the family a file claims to be (video, audio or image); the content
decides. A file is accepted when PyAV (audio, video) or Pillow (images) opens it, finds a stream
of the claimed family and decodes its first frame. Anything else is `UnsupportedMedia`, which the
upload handler answers with code 4001, as the backend does for files it cannot use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from .file_kinds import (
    CONTENT_TYPES,
    SUPPORTED_EXTENSIONS,
    FileType,
    MediaInfo,
    UnsupportedMedia,
    expected_type,
    extension_of,
    extension_supported,
)

__all__ = [
    "CONTENT_TYPES",
    "SUPPORTED_EXTENSIONS",
    "FileType",
    "MediaInfo",
    "UnsupportedMedia",
    "decode_audio",
    "expected_type",
    "extension_supported",
    "open_media",
    "probe",
]


def open_media(path: Path) -> av.container.InputContainer:
    """Open an uploaded file for reading. Its tags are not UTF-8 by force (an ID3 frame may say
    it is and not be): bad bytes are replaced, so a playable file with a bad tag is measured and
    rendered as a real backend's FFmpeg would, instead of failing in PyAV's tag decoding."""
    return av.open(str(path), metadata_errors="replace")


_IMAGE_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "WEBP"})
# FFmpeg demuxers that read still pictures: such a file is an image, never a video.
_STILL_DEMUXERS = frozenset({"image2", "gif", "apng", "webp"})
# FFmpeg's ANSI-art demuxers open any text file whose name ends in .txt, .nfo, .diz...
_TEXT_DEMUXERS = frozenset({"tty", "bin", "xbin", "adf", "idf"})
# Demuxers whose header duration is an estimate from the bit rate.
_ESTIMATED_DURATION = frozenset({"aac"})
_CHUNK = 1 << 20


def _why(exc: Exception) -> str:
    # FFmpeg's message without the file name: the text reaches API clients, the path must not.
    return str(getattr(exc, "strerror", None) or type(exc).__name__)


def _hash(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def probe(path: Path, filename: str) -> MediaInfo:
    """Open ``path`` (uploaded as ``filename``) and measure it.

    Raises `UnsupportedMedia` for an unsupported extension, content that cannot be opened or
    decoded, or content of another family than the extension's.
    """
    ext = extension_of(filename)
    family = expected_type(filename)
    if family is None:
        supported = ", ".join(sorted(SUPPORTED_EXTENSIONS))
        raise UnsupportedMedia(filename, f"unsupported file type {ext!r}; supported: {supported}")
    digest, size = _hash(path)
    known = _Known(filename, digest, size, CONTENT_TYPES[ext])
    if family == "image":
        return _probe_image(path, known)
    return _probe_av(path, family, known)


@dataclass(frozen=True)
class _Known:
    filename: str
    hash: str
    size: int
    content_type: str


def _probe_image(path: Path, known: _Known) -> MediaInfo:
    filename = known.filename
    try:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            fmt, (width, height) = image.format, image.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as exc:
        raise UnsupportedMedia(filename, "not a readable image") from exc
    if fmt not in _IMAGE_FORMATS:
        raise UnsupportedMedia(filename, f"image format {fmt} is not supported")
    return MediaInfo(
        file_type="image",
        duration=None,
        width=width,
        height=height,
        fps=None,
        container=str(fmt),
        filename=filename,
        hash=known.hash,
        size=known.size,
        content_type=known.content_type,
    )


def _probe_av(path: Path, family: FileType, known: _Known) -> MediaInfo:
    filename = known.filename
    try:
        container = open_media(path)
    except (av.FFmpegError, OSError) as exc:
        raise UnsupportedMedia(filename, f"cannot be opened as {family} ({_why(exc)})") from exc
    with container:
        fmt = container.format.name
        if fmt in _TEXT_DEMUXERS:
            raise UnsupportedMedia(filename, f"cannot be opened as {family} (it is text)")
        audio = container.streams.audio[0] if container.streams.audio else None
        videos = [
            s
            for s in container.streams.video
            if not s.disposition & av.stream.Disposition.attached_pic
        ]
        video = videos[0] if videos else None
        still = fmt in _STILL_DEMUXERS or fmt.endswith("_pipe")
        if family == "video" and (video is None or still):
            raise UnsupportedMedia(filename, f"no video stream found (content is {fmt})")
        if family == "audio" and (audio is None or video is not None):
            found = "a video" if video is not None else "no audio stream"
            raise UnsupportedMedia(filename, f"expected audio, found {found} ({fmt})")
        main = video if family == "video" else audio
        assert main is not None
        try:
            first = next(container.decode(main), None)
        except av.FFmpegError as exc:
            raise UnsupportedMedia(
                filename, f"{family} stream cannot be decoded ({_why(exc)})"
            ) from exc
        if first is None:
            raise UnsupportedMedia(filename, f"{family} stream holds no frames")
        duration = _duration(path, container, main)
        if not duration or duration <= 0:
            raise UnsupportedMedia(filename, "duration cannot be determined")
        rate = (video.average_rate or video.guessed_rate) if video is not None else None
        bit_rate = (main.codec_context.bit_rate or container.bit_rate) or None
        return MediaInfo(
            file_type=family,
            duration=round(duration, 3),
            width=video.codec_context.width if video is not None else None,
            height=video.codec_context.height if video is not None else None,
            fps=round(float(rate), 3) if rate else None,
            container=fmt,
            video_codec=video.codec_context.codec.canonical_name if video is not None else None,
            audio_codec=audio.codec_context.codec.canonical_name if audio is not None else None,
            sample_rate=audio.codec_context.sample_rate if audio is not None else None,
            channels=audio.codec_context.channels if audio is not None else None,
            bit_rate=bit_rate,
            filename=filename,
            hash=known.hash,
            size=known.size,
            content_type=known.content_type,
        )


def _duration(
    path: Path, container: av.container.InputContainer, stream: av.stream.Stream
) -> float | None:
    if container.format.name not in _ESTIMATED_DURATION:
        if container.duration:
            return container.duration / av.time_base
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
    # No header duration, or only an estimate: demux the packets (no decoding) and measure.
    end = 0.0
    with open_media(path) as again:
        for packet in again.demux(again.streams[stream.index]):
            if packet.pts is not None and packet.time_base:
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    return end or None


def _audio_frames(
    container: av.container.InputContainer, sample_rate: int, max_samples: int | None
) -> Iterator[npt.NDArray[np.float32]]:
    stream = container.streams.audio[0]
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=sample_rate)
    total = 0
    for frame in container.decode(stream):
        for out in resampler.resample(frame):
            block = out.to_ndarray().astype(np.float32, copy=False)
            total += block.shape[1]
            yield block
        if max_samples is not None and total >= max_samples:
            return
    for out in resampler.resample(None):
        yield out.to_ndarray().astype(np.float32, copy=False)


def decode_audio(
    path: Path, *, sample_rate: int = 44100, max_seconds: float | None = None
) -> npt.NDArray[np.float32]:
    """The first audio stream of ``path`` as float32 stereo samples, shape (2, n).

    Decoding stops once ``max_seconds`` are available (the result may hold a little more).
    Raises `UnsupportedMedia` when the file has no decodable audio.
    """
    max_samples = None if max_seconds is None else int(max_seconds * sample_rate) + 1
    try:
        with open_media(path) as container:
            if not container.streams.audio:
                raise UnsupportedMedia(path.name, "has no audio stream")
            blocks = list(_audio_frames(container, sample_rate, max_samples))
    except (av.FFmpegError, OSError) as exc:
        raise UnsupportedMedia(path.name, f"audio cannot be decoded ({_why(exc)})") from exc
    if not blocks:
        return np.zeros((2, 0), dtype=np.float32)
    return np.concatenate(blocks, axis=1).astype(np.float32, copy=False)
