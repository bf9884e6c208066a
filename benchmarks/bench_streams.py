"""How many concurrent /run_sse streams one uvicorn worker holds, and what each costs.

Starts the mock (one worker; its clock 3x faster by default, so a heartbeat every 5 s of wall
time), opens N streams from this process over raw sockets in batches, holds them, and prints:
streams held, server RSS per stream, and heartbeat lateness p50/p99 (how much later than the
cadence each heartbeat arrived). Goal (issue 15): 10,000 streams, <= 32 KB each, heartbeat
lateness p99 <= 50 ms.
Exit status 1 if a stream broke: it could not connect, was answered other than a 200 event
stream, or was ended by the server while held.

``--response both`` (the default) measures the mock twice in one run, side by side: with its own
`EventStreamResponse` (mock_backend/web/sse.py) and with sse-starlette's `EventSourceResponse`
(benchmarks/sse_starlette_server.py swaps it in), so the choice between them is a measured one.

    .venv/bin/python benchmarks/bench_streams.py [--streams 10000] [--hold 20] [--scale 3]
        [--response both|nemo|sse-starlette] [--quick]

``--quick`` is a smoke run of the same code that the test suite makes so the script keeps
working: 50 streams held 4 s, the clock 15x faster (a heartbeat every second). Its figures are
printed but not judged; a broken stream, or one that got no heartbeat while held (4 cadences),
still fails it.
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
from collections import Counter
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
    host: str,
    port: int,
    request: bytes,
    arrivals: list[float],
    settled: asyncio.Event,
    broken: Counter[str],
) -> None:
    """Open one stream and record when each data line arrives, until cancelled.

    ``settled`` is set once the stream is open or has failed (the ramp waits for it). A stream
    that cannot connect, is answered other than a 200 event stream, or is ended by the server is
    counted in ``broken`` (by reason).
    """
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        broken[f"could not connect ({exc.strerror or type(exc).__name__})"] += 1
        settled.set()
        return
    try:
        writer.write(request)
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            broken[f"answered {status.decode(errors='replace').strip() or 'nothing'}"] += 1
            return
        content_type = b""
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-type:"):
                content_type = line.split(b":", 1)[1].strip()
        if not content_type.startswith(b"text/event-stream"):
            # the backend answers some errors with a 200 and a JSON envelope
            broken[f"answered {content_type.decode(errors='replace')}, not a stream"] += 1
            return
        settled.set()
        while line := await reader.readline():
            if line.startswith(b"data:"):
                arrivals.append(time.monotonic())
            elif line == b"0\r\n":  # the last chunk: the stream ended, the connection stays
                break
        broken["ended by the server"] += 1
    except OSError as exc:
        broken[f"connection error ({exc.strerror or type(exc).__name__})"] += 1
    finally:
        settled.set()
        writer.close()


async def load(
    url: str,
    token: str,
    session_id: str,
    streams: int,
    hold: float,
    pid: int,
    cadence: float,
    broken: Counter[str],
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
            settled = asyncio.Event()
            arrivals.append(mine)
            tasks.append(
                asyncio.create_task(hold_stream(host, int(port), request, mine, settled, broken))
            )
            batch.append(asyncio.create_task(settled.wait()))
        await asyncio.wait(batch, timeout=30)
        for waiter in batch:
            waiter.cancel()
    ramp = time.monotonic() - started
    held_from = time.monotonic()
    await asyncio.sleep(hold)
    server_rss = rss_kb(pid)
    # a task that is done already has broken (it runs until cancelled)
    held = sum(
        1
        for a, task in zip(arrivals, tasks, strict=True)
        if a and a[-1] > held_from + hold - 2 * cadence and not task.done()
    )
    silent = sum(1 for a in arrivals if not a or a[-1] < held_from)
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
        "silent": silent,
        "ramp": ramp,
        "server_rss_kb": server_rss,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "samples": len(lateness),
    }


RESPONSES = {
    "nemo": ["-m", "mock_backend"],
    "sse-starlette": [str(Path(__file__).with_name("sse_starlette_server.py"))],
}
LABELS = {
    "nemo": "EventStreamResponse (ours)",
    "sse-starlette": "sse-starlette EventSourceResponse",
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, help="streams to open (10000; quick 50)")
    parser.add_argument("--hold", type=float, help="wall seconds to hold them (20; quick 4)")
    parser.add_argument(
        "--scale",
        type=float,
        help="mock clock speed: a heartbeat every 15/scale wall seconds (3: every 5 s; "
        "quick 15: every second)",
    )
    parser.add_argument(
        "--response",
        choices=["both", *RESPONSES],
        default="both",
        help="which SSE response class serves /run_sse: the mock's own, sse-starlette's, or "
        "both one after the other, printed side by side (default)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run on the same code: the quick sizes above, the goals not judged",
    )
    args = parser.parse_args()
    for name, full, quick in (("streams", 10_000, 50), ("hold", 20.0, 4.0), ("scale", 3.0, 15.0)):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    cadence = HEARTBEAT / args.scale
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    names = list(RESPONSES) if args.response == "both" else [args.response]
    results: dict[str, dict[str, float]] = {}
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-streams-") as scratch:
        rules = Path(scratch) / "rules.yaml"
        # every run sends heartbeats only for 50 virtual minutes: streams stay open while measured
        rules.write_text(
            "- rule: {match: {operation: runSse}, respond: {stream: {heartbeats_only_for: 3000}}}\n"
            "  times: null\n"
        )
        for name in names:
            print(f"==> {LABELS[name]}: {args.streams} streams", flush=True)
            figures = measure(args, rules, cadence, RESPONSES[name])
            failed |= bool(figures["failed"])
            results[name] = figures
            print(flush=True)
    if len(results) > 1:
        compare(results)
    return 1 if failed else 0


def compare(results: dict[str, dict[str, float]]) -> None:
    """The two response classes side by side, each as a ratio to the mock's own."""
    ours = results["nemo"]
    print(f"{'response':<36} {'held':>6} {'KB/stream':>10} {'× ours':>7} {'p99 ms':>8}")
    for name, figures in results.items():
        ratio = figures["per_stream_kb"] / ours["per_stream_kb"] if ours["per_stream_kb"] else 0
        print(
            f"{LABELS[name]:<36} {figures['held']:>6.0f} {figures['per_stream_kb']:>10.1f} "
            f"{ratio:>6.2f}x {figures['p99']:>8.1f}"
        )


def measure(
    args: argparse.Namespace, rules: Path, cadence: float, program: list[str]
) -> dict[str, float]:
    server = subprocess.Popen(
        [
            sys.executable,
            *program,
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
        banner = server.stdout.readline().split()
        if len(banner) < 3 or not banner[2].startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the mock did not start: {' '.join(banner)!r}")
        url = banner[2]
        with httpx.Client(base_url=url) as http:
            token = http.post("/__mock/tokens", json={"credits": 10**9}).json()["data"]["token"]
            sid = http.post(
                "/api/tasks/me/with-session/nemo_agent",
                headers={"Authorization": f"Bearer {token}"},
                json={"task_name": "bench"},
            ).json()["data"]["session_id"]
        time.sleep(0.5)
        baseline = rss_kb(server.pid)
        broken: Counter[str] = Counter()
        figures = asyncio.run(
            load(url, token, sid, args.streams, args.hold, server.pid, cadence, broken)
        )
        per_stream = (figures["server_rss_kb"] - baseline) / max(1, figures["held"])
        judged = "; quick: not judged" if args.quick else ""
        print(f"streams opened       {args.streams}  (ramp {figures['ramp']:.1f} s)")
        print(
            f"streams held         {figures['held']:.0f}  (still receiving heartbeats "
            f"after {args.hold:g} s)"
        )
        print(f"streams broken       {broken.total()}")
        for reason, count in broken.most_common():
            print(f"  {count:>6}  {reason}")
        print(
            f"server RSS           {baseline / 1024:.0f} MB idle → "
            f"{figures['server_rss_kb'] / 1024:.0f} MB holding them"
        )
        print(f"RSS per stream       {per_stream:.1f} KB   (goal <= 32 KB{judged})")
        print(
            f"heartbeat lateness   p50 {figures['p50']:.1f} ms, p99 {figures['p99']:.1f} ms over "
            f"{figures['samples']:.0f} intervals of {cadence * 1000:.0f} ms "
            f"(goal p99 <= 50 ms{judged})"
        )
        failures = [f"{broken.total()} streams broke"] if broken else []
        if args.quick and figures["silent"]:
            # 50 streams are far from any limit: one that got no heartbeat while held is broken
            failures.append(f"{figures['silent']:.0f} streams got no heartbeat while held")
        if failures:
            print("FAIL: " + ", ".join(failures))
        return {**figures, "per_stream_kb": per_stream, "failed": float(bool(failures))}
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    raise SystemExit(main())
