"""Wall time of the two renders the issue sets goals for, on this machine.

    .venv/bin/python benchmarks/bench_render.py [--seconds 180] [--keep DIR] [--repeat N] [--quick]

Generates a song and a video of ``--seconds`` each, then renders a 1080p waveform MP4 from the
song (album art, waveform, song, title: the emulated agent's draft) and an MP3 from the video.
Other processes may share the cores: the load average (1 min) is printed next to each figure,
with the CPU time of all the render's threads, which contention does not inflate. Each output
is probed: a render of the wrong length or picture size ends the run with exit status 1.

``--quick`` renders a 5-second song and clip through the same code: a smoke run that the test
suite makes so the script keeps working. The goal is for 3 minutes, so its times are printed
but not judged.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mock_backend.media import samples
from mock_backend.media.probing import probe
from mock_backend.rendering.render_engine import RenderJob, render

GOAL_SECONDS = 10.0
QUICK_SECONDS = 5
TOLERANCE = 0.5  # seconds an output's duration may differ from its input's (AAC/MP3 frames)
CDN = "http://127.0.0.1:8000/cdn"
SONG, COVER, CLIP = f"{CDN}/f_song/song.mp3", f"{CDN}/f_cover/cover.png", f"{CDN}/f_clip/clip.mp4"


def _track(tt: int, role: str, name: str, ms: int, meta: dict[str, Any]) -> dict[str, Any]:
    segment = {"id": f"seg_{role}", "s": 0, "d": ms, "m": meta}
    return {"id": f"trk_{role}", "tt": tt, "m": {"name": name, "role": role}, "sg": [segment]}


def song_video_draft(ms: int) -> dict[str, Any]:
    title = _track(7, "title", "Title", 3000, {"text": "My Song", "position": "bottom"})
    return {
        "t": [
            _track(0, "background", "Album art", ms, {"kind": "image", "src": COVER}),
            _track(0, "visualizer", "Waveform", ms, {"kind": "waveform", "src": SONG}),
            _track(1, "main", "song.mp3", ms, {"kind": "audio", "src": SONG, "volume": 1.0}),
            title,
        ],
        "d": ms,
        "m": {"canvas": {"w": 1920, "h": 1080}, "output": {"format": "mp4"}},
    }


def mp3_draft(ms: int) -> dict[str, Any]:
    track = _track(1, "main", "clip.mp4", ms, {"kind": "audio", "src": CLIP})
    return {"t": [track], "d": ms, "m": {"output": {"format": "mp3"}}}


def make_inputs(folder: Path, seconds: int, reuse: bool) -> dict[str, Path]:
    inputs: dict[str, tuple[Path, Callable[[Path], Path]]] = {
        SONG: (folder / "song.mp3", lambda p: samples.make_song(p, seconds)),
        COVER: (folder / "cover.png", lambda p: samples.make_cover(p, 1400, 1400)),
        CLIP: (folder / "clip.mp4", lambda p: samples.make_clip(p, seconds, 640, 360, 25)),
    }
    print(f"inputs ({seconds} s song, 1400x1400 cover, {seconds} s 640x360 25 fps clip):")
    for path, make in inputs.values():
        if reuse and path.exists() and probe(path, path.name).duration in (None, seconds):
            print(f"  {path.name:<12} kept from an earlier run")
            continue
        start = time.perf_counter()
        make(path)
        print(f"  {path.name:<12} {time.perf_counter() - start:6.2f} s")
    return {url: path for url, (path, _) in inputs.items()}


def wrong(path: Path, seconds: int, size: tuple[int, int] | None) -> str | None:
    """Why the output at ``path`` is not the render asked for, or None."""
    info = probe(path, path.name)
    if info.duration is None or abs(info.duration - seconds) > TOLERANCE:
        return f"{path.name} lasts {info.duration} s, not {seconds} s"
    if size is not None and (info.width, info.height) != size:
        return f"{path.name} is {info.width}x{info.height}, not {size[0]}x{size[1]}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=int, help=f"song and clip length (180; quick {QUICK_SECONDS})"
    )
    parser.add_argument("--keep", type=Path, help="work here and reuse its inputs")
    parser.add_argument("--repeat", type=int, default=1, help="render each this many times")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run on the same code: {QUICK_SECONDS} s inputs, the goal not judged",
    )
    args = parser.parse_args()
    if args.seconds is None:
        args.seconds = QUICK_SECONDS if args.quick else 180
    errors: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        media = make_inputs(folder, args.seconds, reuse=args.keep is not None)
        ms = args.seconds * 1000
        jobs = {
            "song -> 1080p waveform MP4": RenderJob(
                song_video_draft(ms), media, "mp4", folder / "out.mp4", "high"
            ),
            "video -> MP3 192 kbps": RenderJob(mp3_draft(ms), media, "mp3", folder / "out.mp3"),
        }
        sizes = {"mp4": (1920, 1080), "mp3": None}
        print(
            f"\n{'render':<28} {'wall':>7} {'goal':>6} {'cpu':>7} {'output':>9} {'size':>8}  load"
        )
        for label, job in jobs.items():
            for _ in range(args.repeat):
                load = os.getloadavg()[0]
                start, cpu = time.perf_counter(), time.process_time()
                result = render(job)
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                verdict = "ok" if wall < GOAL_SECONDS else "SLOW"
                if args.quick:
                    verdict = "(quick: not judged)"
                figures = f"{wall:6.2f}s {GOAL_SECONDS:5.1f}s {cpu:6.2f}s {result.duration:8.2f}s"
                print(f"{label:<28} {figures} {result.size / 1e6:6.2f}MB  {load:4.2f}  {verdict}")
                problem = wrong(result.path, args.seconds, sizes[job.output_format])
                if problem:
                    print(f"  WRONG: {problem}")
                    errors.append(problem)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
