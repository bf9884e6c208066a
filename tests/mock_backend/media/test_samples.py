from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from mock_backend.media import samples
from mock_backend.media.probing import decode_audio, probe

Correlation = Callable[[npt.NDArray[np.float32], npt.NDArray[np.float32]], float]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("suffix", "codec"),
    [("mp3", "mp3"), ("wav", "pcm_s16le"), ("m4a", "aac"), ("aac", "aac"), ("flac", "flac")],
)
def test_song_is_written_in_the_format_of_its_suffix(
    tmp_path: Path, suffix: str, codec: str
) -> None:
    info = probe(samples.make_song(tmp_path / f"song.{suffix}", 2.0), f"song.{suffix}")
    assert info.file_type == "audio"
    assert info.audio_codec == codec
    assert info.sample_rate == 44100
    assert info.channels == 2
    # raw ADTS carries the encoder's priming and padding: up to 2 AAC frames more
    assert info.duration == pytest.approx(2.0, abs=0.05)


def test_the_song_decodes_to_its_melody_and_not_to_a_tone(
    song: Path, correlation: Correlation
) -> None:
    decoded = decode_audio(song)
    melody = samples.song_samples(4.0)
    assert correlation(decoded, melody) > 0.95
    assert correlation(decoded, samples.tone_samples(4.0, 1000)) < 0.2
    assert correlation(decoded, samples.clip_soundtrack(4.0)) < 0.2


def test_tone_has_its_frequency(tone: Path) -> None:
    mono = decode_audio(tone).mean(axis=0)
    spectrum = np.abs(np.fft.rfft(mono))
    peak = np.fft.rfftfreq(mono.size, 1 / samples.SAMPLE_RATE)[spectrum.argmax()]
    assert peak == pytest.approx(1000, abs=2)


@pytest.mark.parametrize("suffix", ["mp4", "mov", "mkv"])
def test_clip_is_small_h264_with_aac(tmp_path: Path, suffix: str) -> None:
    info = probe(samples.make_clip(tmp_path / f"c.{suffix}", 1.0, 160, 120, 8), f"c.{suffix}")
    assert (info.file_type, info.width, info.height, info.fps) == ("video", 160, 120, 8.0)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.duration == pytest.approx(1.0, abs=0.05)


def test_clip_pictures_and_sound_are_the_documented_ones(
    clip: Path, correlation: Correlation
) -> None:
    with av.open(str(clip)) as container:
        reds = [
            frame.to_ndarray(format="rgb24")[:, :, 0].mean() for frame in container.decode(video=0)
        ]
    assert len(reds) == 30
    expected = [samples.clip_frame(i, 30, 320, 240)[:, :, 0].mean() for i in range(30)]
    assert np.allclose(reds, expected, atol=6)
    assert correlation(decode_audio(clip), samples.clip_soundtrack(3.0)) > 0.9


@pytest.mark.parametrize(("suffix", "fmt"), [("png", "PNG"), ("jpg", "JPEG"), ("webp", "WEBP")])
def test_cover_is_a_picture_of_the_asked_size(tmp_path: Path, suffix: str, fmt: str) -> None:
    info = probe(samples.make_cover(tmp_path / f"cover.{suffix}", 123, 45), f"cover.{suffix}")
    assert (info.file_type, info.container, info.width, info.height) == ("image", fmt, 123, 45)


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("a.mp3", lambda p: samples.make_song(p, 1.0)),
        ("a.m4a", lambda p: samples.make_song(p, 1.0)),
        ("a.flac", lambda p: samples.make_tone(p, 1.0, 330)),
        ("a.wav", lambda p: samples.make_tone(p, 1.0)),
        ("a.mp4", lambda p: samples.make_clip(p, 1.0, 64, 48, 5)),
        ("a.mov", lambda p: samples.make_clip(p, 1.0, 64, 48, 5)),
        ("a.png", lambda p: samples.make_cover(p, 64, 64, text="Hi")),
        ("a.jpg", lambda p: samples.make_cover(p, 64, 64)),
    ],
)
def test_same_arguments_give_the_same_bytes(
    tmp_path: Path, name: str, make: Callable[[Path], Path]
) -> None:
    first, second = make(tmp_path / "one" / name), make(tmp_path / "two" / name)
    assert _sha(first) == _sha(second)


@pytest.mark.parametrize(
    "call",
    [
        lambda d: samples.make_song(d / "a.ogg", 1.0),
        lambda d: samples.make_tone(d / "a.mp4", 1.0),
        lambda d: samples.make_clip(d / "a.webm", 1.0),
        lambda d: samples.make_clip(d / "a.mp4", 1.0, 65, 48),
        lambda d: samples.make_cover(d / "a.bmp"),
    ],
)
def test_unknown_formats_and_odd_sizes_are_refused(
    tmp_path: Path, call: Callable[[Path], Path]
) -> None:
    with pytest.raises(ValueError, match=r"cannot write|even"):
        call(tmp_path)
