"""Requests per second of the mock's GET /api/credits/balance/simple against a bare FastAPI route.

    .venv/bin/python benchmarks/bench_credits.py [--requests 20000] [--connections 32]
                                                  [--rounds 3] [--warmup 1000] [--quick]

The issue's goal: the mock answers the credits call (with a valid token) at least as fast as a
bare FastAPI app answers one hello-world route, both under uvicorn with one worker on 127.0.0.1.

Each server runs in a subprocess of its own (this script with ``--serve mock|bare``), so neither
shares a GIL with the load generator or the other server. The load generator is a minimal
HTTP/1.1 keep-alive client on raw asyncio streams rather than httpx: on a 2-core machine a
heavier client would be the bottleneck and hide the difference between the servers. The servers
take turns for ``--rounds`` rounds (bare, mock, bare, mock, ...) so that drift of the machine hits
both; the median round is reported. Every response must be a 200 with the expected body length,
and one response of each server is checked in full with httpx before the load starts.

``--quick`` runs the same code on tiny sizes (300 requests, 1 round, 50 warm-up, 8 connections):
a smoke run that the test suite makes so the script keeps working. Its ratio is printed but not
judged; a server that does not start or a wrong answer still ends it with an error.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI

HOST = "127.0.0.1"
CREDITS = "/api/credits/balance/simple"
HELLO = "/hello"
GOAL = 1.0


# -- the servers (run in subprocesses) ----------------------------------------------------------


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.get(HELLO)
    async def hello() -> dict[str, str]:
        return {"message": "hello world"}

    return app


def mock_app() -> FastAPI:
    from mock_backend.settings import Settings
    from mock_backend.web.app import create_app

    return create_app(Settings(seed=0, clock="real"))


def serve(kind: str) -> None:
    """Bind a free port, print it, and serve ``kind`` with uvicorn (one worker) until killed."""
    import uvicorn

    app = mock_app() if kind == "mock" else bare_app()
    # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on accepted sockets whose
    # proto is IPPROTO_TCP, and without it each response written in two parts (headers, body)
    # waits ~40 ms for the client's delayed ACK (Nagle), which measures the kernel, not the app.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    print(sock.getsockname()[1], flush=True)
    # both servers as `nemo-mock serve` runs: start-up objects moved out of the GC's way
    gc.freeze()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


@dataclass
class Server:
    kind: str
    process: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start(kind: str) -> Server:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.strip().isdigit():
        process.kill()
        raise RuntimeError(f"the {kind} server did not start (exit code {process.wait()})")
    server = Server(kind, process, int(line))
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(server.url + "/", timeout=1)
            return server
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                server.stop()
                raise RuntimeError(f"the {kind} server did not start") from None
            time.sleep(0.05)


# -- the load generator -------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    port: int
    request: bytes
    body_length: int


@dataclass
class Round:
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def raw_request(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def connection(target: Target, budget: list[int], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection(HOST, target.port)
    try:
        while budget[0] > 0:
            budget[0] -= 1
            started = time.perf_counter()
            writer.write(target.request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12]
            if status != b"200":
                raise RuntimeError(f"{target.name}: status {status.decode()}: {head!r}")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length != target.body_length:
                raise RuntimeError(
                    f"{target.name}: body of {length} bytes, expected {target.body_length}"
                )
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
    finally:
        writer.close()
        await writer.wait_closed()


async def load(target: Target, requests: int, connections: int) -> Round:
    budget = [requests]
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(connection(target, budget, latencies) for _ in range(connections)))
    return Round(len(latencies), time.perf_counter() - started, latencies)


def prepare(server: Server) -> Target:
    """Check the route answers what it should; build the raw request the load will repeat."""
    if server.kind == "bare":
        response = httpx.get(server.url + HELLO)
        assert response.json() == {"message": "hello world"}, response.text
        return Target(
            "bare FastAPI " + HELLO, server.port, raw_request(HELLO, {}), len(response.content)
        )
    token_response = httpx.post(
        server.url + "/api/auth/anonymous-token", headers={"X-Client-Id": "bench-credits"}
    )
    token = token_response.json()["data"]["token"]
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.get(server.url + CREDITS, headers=headers)
    body = response.json()
    assert body["code"] == 0, body
    assert body["data"] == {"available": 100, "frozen": 0, "total": 100}, body
    return Target(
        "mock " + CREDITS, server.port, raw_request(CREDITS, headers), len(response.content)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, help="requests per round (20000; quick 300)")
    parser.add_argument(
        "--connections", type=int, help="concurrent keep-alive connections (32; quick 8)"
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds per server, median reported (3; quick 1)"
    )
    parser.add_argument("--warmup", type=int, help="requests before the rounds (1000; quick 50)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run on the same code: the quick sizes above, the goal not judged",
    )
    parser.add_argument("--serve", choices=["mock", "bare"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    for name, full, quick in (
        ("requests", 20000, 300),
        ("connections", 32, 8),
        ("rounds", 3, 1),
        ("warmup", 1000, 50),
    ):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)

    servers = [start("bare"), start("mock")]
    try:
        targets = {server.kind: prepare(server) for server in servers}
        results: dict[str, list[Round]] = {kind: [] for kind in targets}
        for target in targets.values():
            asyncio.run(load(target, args.warmup, args.connections))
        for _ in range(args.rounds):
            for kind, target in targets.items():
                results[kind].append(asyncio.run(load(target, args.requests, args.connections)))
    finally:
        for server in servers:
            server.stop()

    print(
        f"{args.requests} requests x {args.rounds} rounds, {args.connections} connections, "
        f"uvicorn 1 worker, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    header = f"{'server':<34} {'median req/s':>12} {'best':>7}   {'rounds':<30}"
    print(f"{header} {'p50 ms':>7} {'p99 ms':>7}")
    medians: dict[str, float] = {}
    bests: dict[str, float] = {}
    for kind, rounds in results.items():
        rates = [r.rate for r in rounds]
        medians[kind], bests[kind] = statistics.median(rates), max(rates)
        middle = sorted(rounds, key=lambda r: r.rate)[len(rounds) // 2]
        spread = " ".join(f"{rate:.0f}" for rate in rates)
        print(
            f"{targets[kind].name:<34} {medians[kind]:>12.0f} {bests[kind]:>7.0f}   {spread:<30} "
            f"{middle.percentile(50):>7.2f} {middle.percentile(99):>7.2f}"
        )
    ratio = medians["mock"] / medians["bare"]
    verdict = "meets" if ratio >= GOAL else "misses"
    goal = f"the goal of >= {GOAL:.1f}x"
    judged = f"{goal}; quick: not judged" if args.quick else f"{verdict} {goal}"
    print(
        f"ratio mock / bare: {ratio:.2f}x median, {bests['mock'] / bests['bare']:.2f}x best "
        f"({judged})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
