"""The mock scaled out: GET credits with 1 and 2 workers on Redis against 1 worker in memory, and
clients racing for one account's credits across 2 workers.

    .venv/bin/python benchmarks/bench_workers.py [--requests 20000] [--connections 32]
                                                 [--rounds 3] [--racers 500] [--quick]

Starts a ``redis-server`` of its own (on a free port, nothing saved) and three real
``nemo-mock serve`` processes in turn: ``--state memory``, ``--state redis://…`` and
``--state redis://… --workers 2``. Each gets the same load (bench_credits.py's raw keep-alive
client, ``--rounds`` rounds, the median reported) and its rate is printed as a ratio to the one
worker in memory.

Then the race (issue 16): one registered account with 1,000 credits, ``--racers`` sessions
each with a song uploaded, and that many clients starting a 50-credit edit at once, each on a
fresh connection (so the two workers share them), while a watcher reads the balance through
both workers. Never oversold means: at most 1,000 / 50 runs start, every reading has
available + frozen = total and total <= 1,000, and the end balance is 1,000 - 50 x started.
Exit status 1 if any of that fails or a server does not start.

``--quick``: 300 requests, 1 round, 8 connections, 40 racers; figures printed, not judged.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_credits import Round, load
from credits_servers import CREDITS, Target, raw_request

HOST = "127.0.0.1"
CREDITS_EACH_RUN = 50  # the waveform edit
ACCOUNT = 1000
EDIT = (
    "convert this audio track into a shareable video with a waveform visualizer and album art "
    "background"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("bench_workers needs redis-server (apt-get install redis-server)")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [*command, "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return process, f"redis://{HOST}:{port}/0"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("redis-server did not start")


class Mock:
    def __init__(self, name: str, options: list[str], folder: Path) -> None:
        self.name = name
        command = [sys.executable, "-m", "mock_backend", "serve", "--port", "0"]
        command += ["--log-level", "error", "--data-dir", str(folder), *options]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        banner = self.process.stdout.readline().split()
        if len(banner) < 3 or not banner[2].startswith("http://"):
            self.stop()
            raise SystemExit(f"{name}: the mock did not start ({' '.join(banner)!r})")
        self.url = banner[2]
        self.port = int(self.url.rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while True:  # every worker up: the health answers (a bound, not a measurement)
            try:
                httpx.get(self.url + "/__mock/health", timeout=5).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise SystemExit(f"{name}: the mock did not answer") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def credits_target(mock: Mock) -> Target:
    made = httpx.post(mock.url + "/api/auth/anonymous-token", headers={"X-Client-Id": "bench-w"})
    token = made.json()["data"]["token"]
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.get(mock.url + CREDITS, headers=headers)
    assert response.json()["code"] == 0, response.text
    return Target(mock.name, mock.port, raw_request(CREDITS, headers), len(response.content))


async def race(url: str, racers: int, song: bytes) -> dict[str, Any]:
    """``racers`` clients start a 50-credit run each on one 1,000-credit account at once."""
    async with httpx.AsyncClient(base_url=url, timeout=120) as control:
        minted = await control.post("/__mock/tokens", json={"credits": ACCOUNT})
        headers = {"Authorization": f"Bearer {minted.json()['data']['token']}"}

        async def prepared(n: int) -> str:
            async with httpx.AsyncClient(base_url=url, timeout=120) as client:
                made = await client.post(
                    "/api/tasks/me/with-session/nemo_agent",
                    json={"task_name": f"race {n}"},
                    headers=headers,
                )
                session_id: str = made.json()["data"]["session_id"]
                files = [("files", ("song.mp3", song))]
                uploaded = await client.post(
                    f"/api/upload-video/nemo_agent/me/{session_id}", files=files, headers=headers
                )
                assert uploaded.json()["code"] == 0, uploaded.text
                return session_id

        sessions: list[str] = []
        for first in range(0, racers, 50):  # bounded: 50 uploads at a time
            batch = range(first, min(racers, first + 50))
            sessions += await asyncio.gather(*map(prepared, batch))

        go = asyncio.Event()

        async def run(session_id: str) -> Any:
            body = {
                "app_name": "nemo_agent",
                "user_id": "me",
                "session_id": session_id,
                "new_message": {"parts": [{"text": EDIT}]},
            }
            async with httpx.AsyncClient(base_url=url, timeout=300) as client:
                await go.wait()
                async with client.stream("POST", "/run_sse", json=body, headers=headers) as sse:
                    if sse.headers["content-type"].startswith("text/event-stream"):
                        async for _ in sse.aiter_bytes():
                            pass
                        return "started"
                    return json.loads(await sse.aread())["code"]

        readings: list[dict[str, int]] = []
        done = asyncio.Event()

        async def watch() -> None:
            async with (
                httpx.AsyncClient(base_url=url, timeout=60) as a,
                httpx.AsyncClient(base_url=url, timeout=60) as b,
            ):
                while not done.is_set():
                    for client in (a, b):
                        got = await client.get(CREDITS, headers=headers)
                        readings.append(got.json()["data"])
                    await asyncio.sleep(0.005)

        runs = [asyncio.create_task(run(s)) for s in sessions]
        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0.5)  # every racer connected and waiting
        started_at = time.perf_counter()
        go.set()
        outcomes = await asyncio.gather(*runs)
        seconds = time.perf_counter() - started_at
        done.set()
        await watcher
        final = (await control.get(CREDITS, headers=headers)).json()["data"]
    started = outcomes.count("started")
    return {
        "racers": racers,
        "started": started,
        "refused": sum(1 for o in outcomes if o == 2001),
        "other": sorted({str(o) for o in outcomes} - {"started", "2001"}),
        "readings": len(readings),
        "bad_readings": sum(
            1
            for r in readings
            if r["available"] + r["frozen"] != r["total"]
            or r["total"] > ACCOUNT
            or r["available"] < 0
        ),
        "final": final,
        "seconds": seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, help="GET credits per round (20000; quick 300)")
    parser.add_argument("--connections", type=int, help="keep-alive connections (32; quick 8)")
    parser.add_argument("--rounds", type=int, help="rounds per server, median (3; quick 1)")
    parser.add_argument("--racers", type=int, help="clients in the credits race (500; quick 40)")
    parser.add_argument("--quick", action="store_true", help="the quick sizes; not judged")
    args = parser.parse_args()
    for name, full, quick in (
        ("requests", 20000, 300),
        ("connections", 32, 8),
        ("rounds", 3, 1),
        ("racers", 500, 40),
    ):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)

    from mock_backend.media.samples import make_song

    with tempfile.TemporaryDirectory(prefix="bench-workers-") as scratch:
        folder = Path(scratch)
        song = make_song(folder / "song.mp3", 3.0).read_bytes()
        redis_server, redis_url = start_redis(folder)
        configs = {
            "1 worker, memory": ["--state", "memory"],
            "1 worker, Redis": ["--state", redis_url],
            "2 workers, Redis": ["--state", redis_url, "--workers", "2"],
        }
        results: dict[str, list[Round]] = {}
        try:
            for name, options in configs.items():
                print(f"==> GET credits: {name}", flush=True)
                mock = Mock(name, [*options, "--clock", "scaled:100"], folder / name[0])
                try:
                    target = credits_target(mock)
                    asyncio.run(load(target, min(1000, args.requests), args.connections))
                    results[name] = [
                        asyncio.run(load(target, args.requests, args.connections))
                        for _ in range(args.rounds)
                    ]
                    if name.startswith("2 workers"):
                        print(f"==> the race: {args.racers} clients, {name}", flush=True)
                        raced = asyncio.run(race(mock.url, args.racers, song))
                finally:
                    mock.stop()
        finally:
            redis_server.terminate()
            redis_server.wait()

    print()
    print(f"{args.requests} GET credits x {args.rounds} rounds, {args.connections} connections")
    print(f"{'server':<20} {'median req/s':>12} {'x memory':>9} {'p50 ms':>7} {'p99 ms':>7}")
    base = statistics.median(r.rate for r in results["1 worker, memory"])
    for name, rounds in results.items():
        rate = statistics.median(r.rate for r in rounds)
        middle = sorted(rounds, key=lambda r: r.rate)[len(rounds) // 2]
        print(
            f"{name:<20} {rate:>12.0f} {rate / base:>8.2f}x {middle.percentile(50):>7.2f} "
            f"{middle.percentile(99):>7.2f}"
        )
    print()
    most = ACCOUNT // CREDITS_EACH_RUN
    expected = ACCOUNT - CREDITS_EACH_RUN * raced["started"]
    print(f"race: {raced['racers']} clients, one account of {ACCOUNT} credits, 2 workers")
    print(f"runs started           {raced['started']} (at most {most})")
    print(f"refused (2001)         {raced['refused']}")
    print(f"balance readings       {raced['readings']}, inconsistent {raced['bad_readings']}")
    print(f"end balance            {raced['final']} (expected available {expected})")
    print(f"race wall time         {raced['seconds']:.1f} s")
    failures = []
    if raced["started"] > most:
        failures.append(f"{raced['started']} runs started: oversold")
    if raced["bad_readings"]:
        failures.append(f"{raced['bad_readings']} inconsistent balance readings")
    if raced["other"]:
        failures.append(f"unexpected answers {raced['other']}")
    if raced["final"] != {"available": expected, "frozen": 0, "total": expected}:
        failures.append("the end balance does not add up")
    print("FAIL: " + "; ".join(failures) if failures else "never oversold: PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
