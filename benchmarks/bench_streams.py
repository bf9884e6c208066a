"""How many concurrent /run_sse streams one uvicorn worker holds, and what each costs.

Starts the mock (one worker; its clock 3x faster by default, so a heartbeat every 5 s of wall
time), opens N streams from this process over raw sockets in batches, holds them, and prints:
streams held, server RSS per stream, and heartbeat lateness p50/p99 (how much later than the
cadence each heartbeat arrived). Goal (issue 4): 10,000 streams, <= 40 KB each, p99 <= 100 ms.

    .venv/bin/python benchmarks/bench_streams.py [--streams 10000] [--hold 20] [--scale 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HEARTBEAT = 15.0  # virtual seconds between heartbeats (the mock's default)
BATCH = 250


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def hold_stream(
    host: str, port: int, request: bytes, arrivals: list[float], opened: asyncio.Event
) -> None:
    """Open one stream and record when each data line arrives, until cancelled."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        return
    try:
        writer.write(request)
        await writer.drain()
        if b" 200 " not in await reader.readline():
            return
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        opened.set()
        while line := await reader.readline():
            if line.startswith(b"data:"):
                arrivals.append(time.monotonic())
    finally:
        writer.close()


async def load(
    url: str, token: str, session_id: str, streams: int, hold: float, pid: int, cadence: float
) -> dict[str, float]:
    host, port = url.removeprefix("http://").split(":")
    message = {"parts": [{"text": "generate a city timelapse"}]}
    body = json.dumps(
        {
            "app_name": "nemo_agent",
            "user_id": "me",
            "session_id": session_id,
            "new_message": message,
        }
    ).encode()
    request = (
        f"POST /run_sse HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Accept: text/event-stream\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    arrivals: list[list[float]] = []
    tasks = []
    started = time.monotonic()
    for first in range(0, streams, BATCH):
        batch = []
        for _ in range(min(BATCH, streams - first)):
            mine: list[float] = []
            opened = asyncio.Event()
            arrivals.append(mine)
            tasks.append(asyncio.create_task(hold_stream(host, int(port), request, mine, opened)))
            batch.append(asyncio.create_task(opened.wait()))
        await asyncio.wait(batch, timeout=30)
        for waiter in batch:
            waiter.cancel()
    ramp = time.monotonic() - started
    held_from = time.monotonic()
    await asyncio.sleep(hold)
    server_rss = rss_kb(pid)
    held = sum(1 for a in arrivals if a and a[-1] > held_from + hold - 2 * cadence)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    lateness = sorted(
        max(0.0, (b - a) - cadence)
        for mine in arrivals
        for a, b in itertools.pairwise([t for t in mine if t >= held_from])
    )

    def pct(q: float) -> float:
        if not lateness:
            return float("nan")
        return lateness[min(len(lateness) - 1, int(q * len(lateness)))] * 1000

    return {
        "held": held,
        "ramp": ramp,
        "server_rss_kb": server_rss,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "samples": len(lateness),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--hold", type=float, default=20.0, help="wall seconds to hold them")
    parser.add_argument(
        "--scale",
        type=float,
        default=3.0,
        help="mock clock speed: a heartbeat every 15/scale wall seconds (default 3: every 5 s)",
    )
    args = parser.parse_args()
    cadence = HEARTBEAT / args.scale
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    rules = Path(tempfile.mkdtemp()) / "rules.yaml"
    # every run sends heartbeats only for 50 virtual minutes: streams stay open while measured
    rules.write_text(
        "- rule: {match: {operation: runSse}, respond: {stream: {heartbeats_only_for: 3000}}}\n"
        "  times: null\n"
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mock_backend",
            "serve",
            "--port",
            "0",
            "--clock",
            f"scaled:{args.scale:g}",
            "--heartbeat",
            str(HEARTBEAT),
            "--rules",
            str(rules),
            "--log-level",
            "error",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[2]
        with httpx.Client(base_url=url) as http:
            token = http.post("/__mock/tokens", json={"credits": 10**9}).json()["data"]["token"]
            sid = http.post(
                "/api/tasks/me/with-session/nemo_agent",
                headers={"Authorization": f"Bearer {token}"},
                json={"task_name": "bench"},
            ).json()["data"]["session_id"]
        time.sleep(0.5)
        baseline = rss_kb(server.pid)
        figures = asyncio.run(load(url, token, sid, args.streams, args.hold, server.pid, cadence))
        per_stream = (figures["server_rss_kb"] - baseline) / max(1, figures["held"])
        print(f"streams opened       {args.streams}  (ramp {figures['ramp']:.1f} s)")
        print(
            f"streams held         {figures['held']:.0f}  (still receiving heartbeats "
            f"after {args.hold:g} s)"
        )
        print(
            f"server RSS           {baseline / 1024:.0f} MB idle → "
            f"{figures['server_rss_kb'] / 1024:.0f} MB holding them"
        )
        print(f"RSS per stream       {per_stream:.1f} KB   (goal <= 40 KB)")
        print(
            f"heartbeat lateness   p50 {figures['p50']:.1f} ms, p99 {figures['p99']:.1f} ms over "
            f"{figures['samples']:.0f} intervals of {cadence * 1000:.0f} ms "
            "(goal p99 <= 100 ms)"
        )
        return 0
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    raise SystemExit(main())
