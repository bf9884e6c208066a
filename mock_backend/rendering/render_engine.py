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

import math
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from .draft_plan import MS, QUALITY, Plan, check, checked_plan
from .layers import SAMPLE_RATE, Samples, Sources, compose
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

# ultrafast keeps a 3-minute 1080p render near 4 s of H.264 work on 2 cores (superfast: ~5.5 s)
_PRESET = "ultrafast"


def render(job: RenderJob, progress: Callable[[float], None] | None = None) -> RenderResult:
    """Render ``job`` to ``job.out_path``; raises `RenderError` when the draft cannot be."""
    plan = checked_plan(job)  # `check`'s refusals first, then the encoder's own
    report = _Progress(progress)
    out = job.out_path
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    sources = Sources(plan)
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


def _mix(plan: Plan, sources: Sources, output_format: OutputFormat) -> Samples:
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
    plan: Plan,
    sources: Sources,
    soundtrack: Samples,
    quality: str | None,
    report: _Progress,
) -> None:
    crf, audio_rate = QUALITY[quality]
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
        video.codec_context.time_base = MS
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
                compose(canvas, stamps[index], plan, sources)
                frame.pts, frame.time_base = stamps[index], MS
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
