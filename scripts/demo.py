"""The main job, end to end and offline: the mock backend, and the reference client turning a
real song into a shareable MP4 and a real video into an MP3 through it.

    .venv/bin/python scripts/demo.py [--out demo-output] [--scale 100]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import av

from mock_backend.media.samples import make_clip, make_cover, make_song

BIN = Path(sys.executable).parent


def describe(path: Path) -> str:
    with av.open(str(path)) as container:
        streams = ", ".join(
            f"{s.type} {s.codec_context.name}"
            + (f" {s.codec_context.width}x{s.codec_context.height}" if s.type == "video" else "")
            + (
                f" {s.codec_context.bit_rate // 1000} kb/s"
                if s.type == "audio" and s.codec_context.bit_rate
                else ""
            )
            for s in container.streams
        )
        seconds = (container.duration or 0) / 1_000_000
    return f"{path.name}: {seconds:.2f} s, {streams}, {path.stat().st_size / 1024:.0f} KB"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("demo-output"))
    parser.add_argument(
        "--scale",
        type=float,
        default=100.0,
        help="mock and client time run this many times faster (default: 100)",
    )
    parser.add_argument(
        "--seconds", type=float, default=12.0, help="length of the generated song and video"
    )
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    song, clip = out / "song.mp3", out / "clip.mp4"
    print(f"==> generating a {args.seconds:g} s song and a {args.seconds:g} s video in {out}")
    make_song(song, args.seconds)
    make_clip(clip, args.seconds, 640, 360, 25)
    make_cover(out / "cover.png", 800, 800)

    mock = subprocess.Popen(
        [
            str(BIN / "nemo-mock"),
            "serve",
            "--port",
            "0",
            "--clock",
            f"scaled:{args.scale:g}",
            "--data-dir",
            str(out / "mock-data"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert mock.stdout is not None
        line = mock.stdout.readline().strip()
        if "serving http://" not in line:
            print("the mock did not start", file=sys.stderr)
            return 1
        url = line.split()[2]
        print(f"==> {line}")
        env = {
            **os.environ,
            "NEMO_API_URL": url,
            "NEMO_WEB_URL": "https://nemovideo.com",
            "NEMO_TIME_SCALE": f"{args.scale:g}",
            "XDG_CONFIG_HOME": str(out / "config"),
        }
        env.pop("NEMO_TOKEN", None)
        jobs = [
            ("convert", song, out / "song.mp4"),
            ("extract", clip, out / "clip.mp3"),
        ]
        for job, source, target in jobs:
            print(f"\n==> nemo-client {job} {source.name} --out {target.name}")
            started = time.monotonic()
            done = subprocess.run(
                [str(BIN / "nemo-client"), job, str(source), "--out", str(target)],
                env=env,
                check=False,
            )
            if done.returncode != 0:
                print(f"nemo-client {job} failed (exit {done.returncode})", file=sys.stderr)
                return done.returncode
            print(f"    ({time.monotonic() - started:.1f} s wall)")
        print("\n==> what came back")
        for path in (song, clip, out / "song.mp4", out / "clip.mp3"):
            print("   ", describe(path))
        return 0
    finally:
        mock.terminate()
        mock.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
