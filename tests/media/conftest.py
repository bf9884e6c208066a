"""Real media files for the media tests, generated once per session (a few seconds each)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from mock_backend.media import samples

CDN = "http://127.0.0.1:8000/cdn"

Frames = list[tuple[float, npt.NDArray[np.uint8]]]


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def song(media_dir: Path) -> Path:
    return samples.make_song(media_dir / "song.mp3", 4.0)


@pytest.fixture(scope="session")
def tone(media_dir: Path) -> Path:
    return samples.make_tone(media_dir / "tone.wav", 4.0, freq=1000)


@pytest.fixture(scope="session")
def clip(media_dir: Path) -> Path:
    return samples.make_clip(media_dir / "clip.mp4", 3.0, 320, 240, 10)


@pytest.fixture(scope="session")
def cover(media_dir: Path) -> Path:
    return samples.make_cover(media_dir / "cover.png", 400, 300)


@pytest.fixture(scope="session")
def garbage(media_dir: Path) -> Path:
    path = media_dir / "notes.mp3"
    path.write_text("these are my notes, not a song\n" * 20)
    return path


@pytest.fixture(scope="session")
def media(song: Path, tone: Path, clip: Path, cover: Path, garbage: Path) -> dict[str, Path]:
    """What a session uploaded: CDN URL -> local file, as the render engine receives it."""
    files = {"song.mp3": song, "tone.wav": tone, "clip.mp4": clip, "cover.png": cover}
    files["notes.mp3"] = garbage
    return {f"{CDN}/f_{name.split('.')[0]}/{name}": path for name, path in files.items()}


@pytest.fixture(scope="session")
def url() -> Callable[[str], str]:
    """The CDN URL of one of the uploaded files, by file name."""
    return lambda name: f"{CDN}/f_{name.split('.')[0]}/{name}"


@pytest.fixture(scope="session")
def decode_frames() -> Callable[[Path], Frames]:
    """Every picture of a video file with its time in seconds."""

    def decode(path: Path) -> Frames:
        with av.open(str(path)) as container:
            return [
                (float(frame.time or 0.0), np.asarray(frame.to_ndarray(format="rgb24"), np.uint8))
                for frame in container.decode(video=0)
            ]

    return decode


@pytest.fixture(scope="session")
def correlation() -> Callable[[npt.NDArray[np.float32], npt.NDArray[np.float32]], float]:
    """Best normalised cross-correlation of two (2, n) signals within +-50 ms of alignment.

    Codecs add a few ms of delay and padding; within that window a re-encoding of the same
    audio scores near 1, and unrelated audio near 0.
    """

    def best(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
        x, y = a.mean(axis=0).astype(np.float64), b.mean(axis=0).astype(np.float64)
        n = min(x.size, y.size)
        x, y = x[:n] - x[:n].mean(), y[:n] - y[:n].mean()
        size = 1 << (2 * n - 1).bit_length()
        spectrum = np.fft.rfft(x, size) * np.conj(np.fft.rfft(y, size))
        full = np.fft.irfft(spectrum, size)
        lag = int(0.05 * samples.SAMPLE_RATE)
        window = np.concatenate([full[-lag:], full[: lag + 1]])
        norm = float(np.linalg.norm(x) * np.linalg.norm(y))
        return float(window.max() / norm) if norm else 0.0

    return best
