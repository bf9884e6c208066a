from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest

from mock_backend.errors import MockBackendError
from mock_backend.media import samples
from mock_backend.media.probing import decode_audio
from mock_backend.rendering.render_engine import RenderError, RenderJob, RenderResult, check, render

Frames = list[tuple[float, npt.NDArray[np.uint8]]]
Correlation = Callable[[npt.NDArray[np.float32], npt.NDArray[np.float32]], float]
Url = Callable[[str], str]


def seg(s: int, d: int, **m: Any) -> dict[str, Any]:
    return {"id": f"seg_{s}_{d}_{m.get('kind', 'text')}", "s": s, "d": d, "m": m}


def track(tt: int, role: str, *segments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"trk_{role}",
        "tt": tt,
        "m": {"name": role.title(), "role": role},
        "sg": list(segments),
    }


def draft(
    *tracks: dict[str, Any], d: int | None, w: int = 320, h: int = 180, **m: Any
) -> dict[str, Any]:
    return {"t": list(tracks), "d": d, "m": {"canvas": {"w": w, "h": h}, **m}}


def song_video_draft(url: Url, d: int = 4000) -> dict[str, Any]:
    """The issue's example: album art, waveform, song and a 3 s title, at 1080p."""
    return {
        "t": [
            track(0, "background", seg(0, d, kind="image", src=url("cover.png"), name="cover.png")),
            track(
                0, "visualizer", seg(0, d, kind="waveform", src=url("song.mp3"), color="#36c5f0")
            ),
            track(1, "main", seg(0, d, kind="audio", src=url("song.mp3"), volume=1.0)),
            track(7, "title", seg(0, 3000, text="My Song", position="bottom")),
        ],
        "d": d,
        "m": {"canvas": {"w": 1920, "h": 1080}, "output": {"format": "mp4"}},
    }


@pytest.fixture(scope="module")
def song_video(
    tmp_path_factory: pytest.TempPathFactory, uploaded: dict[str, Path], url: Url
) -> tuple[RenderResult, list[float]]:
    progress: list[float] = []
    out = tmp_path_factory.mktemp("render") / "song.mp4"
    result = render(RenderJob(song_video_draft(url), uploaded, "mp4", out, "high"), progress.append)
    return result, progress


def run(
    tmp_path: Path, uploaded: dict[str, Path], body: dict[str, Any], fmt: str = "mp4"
) -> RenderResult:
    return render(RenderJob(body, uploaded, fmt, tmp_path / f"out.{fmt}"))  # type: ignore[arg-type]


def region(
    frame: npt.NDArray[np.uint8], rows: slice, cols: slice = slice(None)
) -> npt.NDArray[np.float64]:
    return frame[rows, cols].astype(np.float64)


# ---------------------------------------------------------------- MP4


def test_mp4_is_h264_and_aac_at_the_canvas_size(
    song_video: tuple[RenderResult, list[float]],
) -> None:
    result, _ = song_video
    assert (result.content_type, result.size) == ("video/mp4", result.path.stat().st_size)
    with av.open(str(result.path)) as container:
        assert "mp4" in container.format.name
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, video.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert (video.codec_context.width, video.codec_context.height) == (1920, 1080)
        assert (audio.codec_context.name, audio.codec_context.sample_rate) == ("aac", 44100)
        assert audio.codec_context.channels == 2


def test_mp4_lasts_the_drafts_duration(song_video: tuple[RenderResult, list[float]]) -> None:
    result, _ = song_video
    frame = 1 / 2  # the default 2 fps
    assert result.duration == pytest.approx(4.0, abs=frame)
    with av.open(str(result.path)) as container:
        assert (container.duration or 0) / 1e6 == pytest.approx(4.0, abs=frame)
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.duration is not None
        assert video.time_base is not None
        assert audio.duration is not None
        assert audio.time_base is not None
        assert float(video.duration * video.time_base) == pytest.approx(4.0, abs=frame)
        assert float(audio.duration * audio.time_base) == pytest.approx(4.0, abs=frame)
        assert video.frames == 8


def test_mp4_sound_is_the_uploaded_song(
    song_video: tuple[RenderResult, list[float]], song: Path, tone: Path, correlation: Correlation
) -> None:
    rendered = decode_audio(song_video[0].path)
    assert correlation(rendered, decode_audio(song)) > 0.8
    assert correlation(rendered, decode_audio(tone)) < 0.2


def test_title_shows_during_its_segment_only(
    song_video: tuple[RenderResult, list[float]], decode_frames: Callable[[Path], Frames]
) -> None:
    frames = dict(decode_frames(song_video[0].path))
    title, top = (slice(820, 1000), slice(760, 1160)), (slice(0, 200),)
    without = region(frames[3.5], *title)
    for t in (0.5, 1.0, 2.5):  # the title covers 0-3 s
        assert np.abs(region(frames[t], *title) - without).mean() > 30
    assert np.abs(region(frames[3.0], *title) - without).mean() < 3
    # the album art above is the same picture all along
    assert np.abs(region(frames[0.5], *top) - region(frames[3.5], *top)).mean() < 3


def test_waveform_moves_with_the_music(
    song_video: tuple[RenderResult, list[float]], decode_frames: Callable[[Path], Frames]
) -> None:
    frames = dict(decode_frames(song_video[0].path))
    band = slice(330, 750)
    blue = np.array([0x36, 0xC5, 0xF0])
    coloured = [
        (np.abs(frame[band].astype(int) - blue).sum(axis=2) < 40).mean()
        for frame in frames.values()
    ]
    assert min(coloured) > 0.005  # bars in the waveform's colour in every frame
    changes = [
        np.abs(region(frames[t], band) - region(frames[t + 0.5], band)).mean()
        for t in (0.0, 1.0, 2.0)
    ]
    assert min(changes) > 1


def test_progress_rises_to_one(song_video: tuple[RenderResult, list[float]]) -> None:
    _, progress = song_video
    assert len(progress) >= 5
    assert all(0 <= p <= 1 for p in progress)
    assert progress == sorted(progress)
    assert progress[-1] == 1.0
    assert progress.count(1.0) == 1


@pytest.mark.parametrize(
    ("position", "rows"),
    [("top", slice(0, 60)), ("center", slice(60, 120)), ("bottom", slice(120, 180))],
)
def test_text_is_drawn_where_asked_while_its_segment_lasts(
    tmp_path: Path,
    uploaded: dict[str, Path],
    decode_frames: Callable[[Path], Frames],
    position: str,
    rows: slice,
) -> None:
    body = draft(
        track(0, "background", seg(0, 2000, kind="color", color="#204060")),
        track(7, "text", seg(500, 1000, text="Hello", position=position)),
        d=2000,
        fps=4,
    )
    frames = decode_frames(run(tmp_path, uploaded, body).path)
    assert [t for t, _ in frames] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    for t, frame in frames:
        changed = np.abs(frame.astype(np.int64) - [0x20, 0x40, 0x60]).sum(axis=2) > 60
        inside = changed[rows].mean()
        assert np.delete(changed, np.r_[rows], axis=0).mean() < 0.001, t
        assert bool(inside > 0.02) is (0.5 <= t < 1.5), t


def test_video_segment_shows_the_clip_from_its_in_point(
    tmp_path: Path, uploaded: dict[str, Path], url: Url, decode_frames: Callable[[Path], Frames]
) -> None:
    body = draft(
        track(0, "main", seg(0, 2000, kind="video", src=url("clip.mp4"), **{"in": 1000})),
        d=2000,
        w=320,
        h=240,
        fps=5,
    )
    result = run(tmp_path, uploaded, body)
    frames = decode_frames(result.path)
    assert len(frames) == 10
    for t, frame in frames:
        index = round((t + 1.0) * 10)  # the clip runs at 10 fps; in = 1 s
        expected = samples.clip_frame(index, 30, 320, 240)[:, :, 0].mean()
        assert frame[:, :, 0].mean() == pytest.approx(expected, abs=8), t


def test_a_video_keeps_its_own_sound_when_there_is_no_audio_track(
    tmp_path: Path, uploaded: dict[str, Path], url: Url, correlation: Correlation
) -> None:
    body = draft(track(0, "main", seg(0, 3000, kind="video", src=url("clip.mp4"))), d=3000)
    rendered = decode_audio(run(tmp_path, uploaded, body).path)
    assert correlation(rendered, samples.clip_soundtrack(3.0)) > 0.8


def test_waveform_without_an_image_gets_a_generated_cover(
    tmp_path: Path, uploaded: dict[str, Path], url: Url, decode_frames: Callable[[Path], Frames]
) -> None:
    body = draft(
        track(0, "visualizer", seg(0, 1000, kind="waveform", src=url("song.mp3"))),
        track(1, "main", seg(0, 1000, kind="audio", src=url("song.mp3"))),
        d=1000,
        title="Song",
    )
    for _, frame in decode_frames(run(tmp_path, uploaded, body).path):
        corner = region(frame, slice(0, 40), slice(0, 60))
        assert corner.mean() > 15  # not black: the generated cover is behind


@pytest.mark.parametrize(
    ("canvas", "size"), [({"w": 1080, "h": 1920}, (1080, 1920)), (None, (1920, 1080))]
)
def test_canvas_defaults_to_1080p_and_follows_the_draft(
    tmp_path: Path, uploaded: dict[str, Path], canvas: dict[str, int] | None, size: tuple[int, int]
) -> None:
    body: dict[str, Any] = {
        "t": [track(0, "main", seg(0, 500, kind="generated", name="City"))],
        "d": 500,
    }
    if canvas is not None:
        body["m"] = {"canvas": canvas}
    with av.open(str(run(tmp_path, uploaded, body).path)) as container:
        ctx = container.streams.video[0].codec_context
        assert (ctx.width, ctx.height) == size


# ---------------------------------------------------------------- sound and MP3


def test_mp3_of_a_video_is_its_soundtrack_at_192_kbps(
    tmp_path: Path,
    uploaded: dict[str, Path],
    url: Url,
    clip: Path,
    song: Path,
    correlation: Correlation,
) -> None:
    body = draft(track(1, "main", seg(0, 3000, kind="audio", src=url("clip.mp4"))), d=3000)
    result = run(tmp_path, uploaded, body, "mp3")
    assert result.content_type == "audio/mpeg"
    with av.open(str(result.path)) as container:
        assert container.format.name == "mp3"
        stream = container.streams.audio[0]
        assert stream.codec_context.codec.canonical_name == "mp3"
        assert (stream.codec_context.bit_rate, stream.sample_rate, stream.channels) == (
            192_000,
            44100,
            2,
        )
        assert (container.duration or 0) / 1e6 == pytest.approx(3.0, abs=0.03)
    rendered = decode_audio(result.path)
    assert correlation(rendered, decode_audio(clip)) > 0.8
    assert correlation(rendered, decode_audio(song)) < 0.2


def test_mp3_without_audio_track_uses_the_first_videos_sound(
    tmp_path: Path, uploaded: dict[str, Path], url: Url, clip: Path, correlation: Correlation
) -> None:
    body = draft(track(0, "main", seg(0, 2000, kind="video", src=url("clip.mp4"))), d=2000)
    rendered = decode_audio(run(tmp_path, uploaded, body, "mp3").path)
    assert correlation(rendered, decode_audio(clip)[:, : rendered.shape[1]]) > 0.8


def _rms(x: npt.NDArray[np.float32]) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def test_audio_segments_are_placed_offset_and_scaled(
    tmp_path: Path, uploaded: dict[str, Path], url: Url, song: Path, correlation: Correlation
) -> None:
    sr = samples.SAMPLE_RATE
    loud = seg(1000, 2000, kind="audio", src=url("song.mp3"), volume=1.0, **{"in": 500})
    quiet = dict(loud, m={**loud["m"], "volume": 0.5})
    full = decode_audio(
        run(tmp_path / "a", uploaded, draft(track(1, "main", loud), d=4000), "mp3").path
    )
    half = decode_audio(
        run(tmp_path / "b", uploaded, draft(track(1, "main", quiet), d=4000), "mp3").path
    )
    original = decode_audio(song)
    assert _rms(full[:, : int(0.95 * sr)]) < 0.001  # nothing before s
    assert _rms(full[:, int(3.05 * sr) :]) < 0.001  # nothing after s + d
    assert correlation(full[:, sr : 3 * sr], original[:, sr // 2 : sr // 2 + 2 * sr]) > 0.8
    assert _rms(half[:, sr : 3 * sr]) / _rms(full[:, sr : 3 * sr]) == pytest.approx(0.5, abs=0.05)


def test_generated_music_fills_a_bgm_track(tmp_path: Path, uploaded: dict[str, Path]) -> None:
    body = draft(
        track(1, "bgm", seg(0, 2000, kind="generated", src=None, name="Lo-fi", volume=0.3)), d=2000
    )
    rendered = decode_audio(run(tmp_path, uploaded, body, "mp3").path)
    assert _rms(rendered) > 0.01


# ---------------------------------------------------------------- failures


def _image(url: Url) -> dict[str, Any]:
    return seg(0, 1000, kind="image", src=url("cover.png"))


def _song(url: Url, **m: Any) -> dict[str, Any]:
    return seg(0, 1000, **{"kind": "audio", "src": url("song.mp3"), **m})


BAD_DRAFTS = [
    pytest.param(lambda u: {"t": [], "d": 1000}, "mp4", "no track with segments", id="no tracks"),
    pytest.param(
        lambda u: draft(track(0, "main"), track(1, "main"), d=1000),
        "mp4",
        "no track with segments",
        id="empty tracks",
    ),
    pytest.param(lambda u: {"d": 1000}, "mp4", "no track list", id="no t"),
    pytest.param(
        lambda u: draft(track(0, "main", seg(0, 1000, kind="image", src="http://x/y.png")), d=1000),
        "mp4",
        "not an uploaded file",
        id="src not uploaded",
    ),
    pytest.param(
        lambda u: draft(
            track(0, "main", _image(u)), track(7, "title", seg(0, 1000, text="Hi")), d=1000
        ),
        "mp3",
        "nothing to put in an MP3",
        id="mp3 without sound",
    ),
    pytest.param(
        lambda u: draft(track(1, "main", _song(u)), d=0),
        "mp4",
        "duration d is zero",
        id="zero duration",
    ),
    pytest.param(
        lambda u: draft(track(1, "main", seg(0, 0, kind="audio", src=u("song.mp3"))), d=None),
        "mp4",
        "no track with segments",
        id="only empty segments",
    ),
    pytest.param(
        lambda u: draft({"id": "t", "tt": 3, "sg": [_song(u)]}, d=1000),
        "mp4",
        "unsupported type",
        id="unknown track type",
    ),
    pytest.param(
        lambda u: draft(track(0, "main", seg(0, 1000, kind="hologram")), d=1000),
        "mp4",
        "kind 'hologram'",
        id="unknown kind",
    ),
    pytest.param(
        lambda u: draft(track(0, "main", _song(u)), d=1000),
        "mp4",
        "kind 'audio' cannot go",
        id="audio on a video track",
    ),
    pytest.param(
        lambda u: draft(
            track(1, "main", seg(3_000_000, 1_000_000, kind="audio", src=u("song.mp3"))), d=None
        ),
        "mp3",
        "more than an hour",
        id="ends past the hour",
    ),
    pytest.param(
        lambda u: draft(track(0, "main", _image(u)), d=1000, w=321), "mp4", "even", id="odd canvas"
    ),
    pytest.param(
        lambda u: draft(track(0, "main", _image(u)), d=1000, w=3840, h=2160),
        "mp4",
        "16 to 1920",
        id="canvas too large",
    ),
    pytest.param(
        lambda u: draft(track(0, "main", seg(0, 1000, kind="color", color="blue")), d=1000),
        "mp4",
        "colour",
        id="bad colour",
    ),
    pytest.param(
        lambda u: draft(track(1, "main", _song(u, volume=1.5)), d=1000),
        "mp3",
        "volume",
        id="volume above 1",
    ),
    pytest.param(
        lambda u: draft(track(7, "title", seg(0, 1000, text=" ")), d=1000),
        "mp4",
        "no m.text",
        id="blank text",
    ),
    pytest.param(
        lambda u: draft(track(7, "title", seg(0, 1000, text="A", position="left")), d=1000),
        "mp4",
        "position",
        id="bad position",
    ),
    pytest.param(
        lambda u: draft(track(1, "main", seg(-5, 1000, kind="audio", src=u("song.mp3"))), d=1000),
        "mp3",
        "s must be",
        id="negative start",
    ),
    pytest.param(
        lambda u: draft(track(1, "main", seg(0, 1000, kind="audio", src=u("notes.mp3"))), d=1000),
        "mp3",
        "audio cannot be decoded",
        id="not a song",
    ),
    pytest.param(
        lambda u: draft(track(0, "main", seg(0, 1000, kind="image", src=u("song.mp3"))), d=1000),
        "mp4",
        "not a readable image",
        id="not a picture",
    ),
    pytest.param(
        lambda u: draft(track(1, "main", seg(0, 1000, kind="audio", src=u("cover.png"))), d=1000),
        "mp3",
        "no audio",
        id="picture without sound",
    ),
]


@pytest.mark.parametrize(("make", "fmt", "reason"), BAD_DRAFTS)
def test_unrenderable_drafts_fail_with_a_reason_and_leave_no_file(
    tmp_path: Path,
    uploaded: dict[str, Path],
    url: Url,
    make: Callable[[Url], dict[str, Any]],
    fmt: str,
    reason: str,
) -> None:
    out = tmp_path / "out" / f"render.{fmt}"
    with pytest.raises(RenderError, match=reason) as caught:
        render(RenderJob(make(url), uploaded, fmt, out))  # type: ignore[arg-type]
    assert isinstance(caught.value, MockBackendError)
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


@pytest.mark.parametrize(("make", "fmt", "reason"), BAD_DRAFTS)
def test_check_refuses_them_with_the_same_reason_without_encoding(
    tmp_path: Path,
    uploaded: dict[str, Path],
    url: Url,
    make: Callable[[Url], dict[str, Any]],
    fmt: str,
    reason: str,
) -> None:
    """The mock decides at submit that such a job fails: `check` foresees every refusal."""
    job = RenderJob(make(url), uploaded, fmt, tmp_path / "out" / f"render.{fmt}")  # type: ignore[arg-type]
    with pytest.raises(RenderError, match=reason) as foreseen:
        check(job)
    with pytest.raises(RenderError) as refused:
        render(job)
    assert str(foreseen.value) == str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_unknown_quality_is_refused(tmp_path: Path, uploaded: dict[str, Path], url: Url) -> None:
    body = draft(track(1, "main", seg(0, 1000, kind="audio", src=url("song.mp3"))), d=1000)
    job = RenderJob(body, uploaded, "mp4", tmp_path / "o.mp4", quality="4k")
    for refuse in (check, render):
        with pytest.raises(RenderError, match="quality"):
            refuse(job)


MP3_FRAME = 1152 / 44100  # one MPEG audio frame


def test_check_foretells_the_length_of_the_file(
    tmp_path: Path,
    uploaded: dict[str, Path],
    url: Url,
    song_video: tuple[RenderResult, list[float]],
) -> None:
    """The length a completed job reports before its file exists is the file's, within a frame."""
    result, _ = song_video
    planned = check(RenderJob(song_video_draft(url), uploaded, "mp4", tmp_path / "v.mp4", "high"))
    assert (planned.duration, planned.content_type) == (4.0, "video/mp4")
    assert abs(planned.duration - result.duration) <= 1 / 2  # a frame at the default 2 fps

    body = draft(track(1, "main", seg(0, 2500, kind="audio", src=url("song.mp3"))), d=2500)
    job = RenderJob(body, uploaded, "mp3", tmp_path / "s.mp3")
    planned = check(job)
    assert (planned.duration, planned.content_type) == (2.5, "audio/mpeg")
    assert abs(planned.duration - render(job).duration) <= MP3_FRAME
    assert check(job) == planned  # a pure function of the job


def test_an_exception_from_progress_cancels_and_cleans_up(
    tmp_path: Path, uploaded: dict[str, Path], url: Url
) -> None:
    class Cancelled(Exception):
        pass

    def progress(fraction: float) -> None:
        if fraction > 0.3:
            raise Cancelled

    out = tmp_path / "o.mp4"
    body = draft(track(0, "main", seg(0, 4000, kind="generated", name="X")), d=4000, fps=4)
    with pytest.raises(Cancelled):
        render(RenderJob(body, uploaded, "mp4", out), progress)
    assert list(tmp_path.iterdir()) == []


def test_a_previous_file_is_replaced_whole(
    tmp_path: Path, uploaded: dict[str, Path], url: Url
) -> None:
    out = tmp_path / "o.mp3"
    out.write_bytes(b"old")
    body = draft(track(1, "main", seg(0, 1000, kind="audio", src=url("song.mp3"))), d=1000)
    render(RenderJob(body, uploaded, "mp3", out))
    assert out.read_bytes()[:3] != b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["o.mp3"]


def test_renders_in_parallel_threads_do_not_mix(
    tmp_path: Path,
    uploaded: dict[str, Path],
    url: Url,
    song: Path,
    clip: Path,
    correlation: Correlation,
) -> None:
    bodies = {
        "song": draft(
            track(0, "main", seg(0, 2000, kind="waveform", src=url("song.mp3"))),
            track(1, "main", seg(0, 2000, kind="audio", src=url("song.mp3"))),
            track(7, "title", seg(0, 2000, text="Song")),
            d=2000,
        ),
        "clip": draft(
            track(0, "main", seg(0, 2000, kind="video", src=url("clip.mp4"))),
            track(7, "title", seg(0, 2000, text="Clip")),
            d=2000,
        ),
    }
    results: dict[str, RenderResult] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            results[name] = render(
                RenderJob(bodies[name], uploaded, "mp4", tmp_path / f"{name}.mp4")
            )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert correlation(decode_audio(results["song"].path), decode_audio(song)) > 0.8
    assert correlation(decode_audio(results["clip"].path), decode_audio(clip)) > 0.8


def test_same_job_gives_the_same_bytes(tmp_path: Path, uploaded: dict[str, Path], url: Url) -> None:
    body = song_video_draft(url, d=1000)
    first = render(RenderJob(body, uploaded, "mp4", tmp_path / "1.mp4"))
    second = render(RenderJob(body, uploaded, "mp4", tmp_path / "2.mp4"))
    assert first.path.read_bytes() == second.path.read_bytes()
