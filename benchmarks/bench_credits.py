"""Requests per second and start-up of the mock's GET credits beside a FastAPI hello route, a
Starlette route, Prism and WireMock, every figure a ratio to the FastAPI hello route.

    .venv/bin/python benchmarks/bench_credits.py [--requests 20000] [--connections 32]
        [--rounds 3] [--warmup 5000] [--starts 5] [--only mock,prism,...] [--no-pin] [--quick]

Issue 15's goals: nemo-mock answers GET /api/credits/balance/simple (a valid token) at least 1.5x
as fast as a FastAPI hello route, at least 2x Prism and WireMock, and starts within 1.1x of the
FastAPI hello route's start-up.

The servers (credits_servers.py), each a subprocess of its own:
- ``fastapi``, ``starlette``: benchmarks/hello_server.py, uvicorn as `nemo-mock serve` runs it.
- ``mock``: ``python -m mock_backend serve --port 0``, so its server settings (protocol, limits)
  are the project's own, whatever they are.
- ``prism``: Prism mocking openapi.yaml, which answers GET credits from the contract's example.
- ``wiremock``: WireMock standalone (java) with one stub answering the mock's credits JSON.
Prism and WireMock come from benchmarks/install-peers.sh (into benchmarks/.peers/); one that is
not installed is listed as such and skipped. FastAPI hello always runs: it is the unit.

Start-up: the time from spawning the process to its first 200 (the route under load; the mock's
``/__mock/health``, as no token exists yet), the median of ``--starts`` starts taken in turns,
each turn beginning with the next server; the mock's modules are byte-compiled first, as an
installed wheel's are. Throughput: the servers of the last start stay up;
each is warmed in loads of 5,000 requests until its rate holds (within 5% of the load before,
twice running; at most 30 loads: WireMock's JIT was still speeding up after 20,000), then they
take turns for ``--rounds`` rounds so that drift of the machine hits all, and the median round
is reported. While one server is warmed or measured the others are paused (SIGSTOP): an idle
JVM still compiles and collects, and once cost a FastAPI round a third of its rate. The load
generator is a minimal HTTP/1.1 keep-alive client on raw asyncio streams
(on uvloop when installed): a heavier client would be the bottleneck on two cores. Every
response must be a 200 with the expected body length; one answer of each server is checked in
full before the load.
With two CPUs or more, the servers are pinned to the last CPU and the load generator to the
others (one core per server, as the issue measured); ``--no-pin`` leaves both to the scheduler.

``--quick`` runs the same code on tiny sizes (300 requests, 1 round, 50 warm-up, 8 connections,
1 start) without Prism and WireMock unless ``--only`` names them: a smoke run that the test suite
makes so the script keeps working. Its figures are printed, the goals not judged; a server that
does not start or a wrong answer still ends it with an error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from credits_servers import HOST, PEER_KEYS, SERVERS, Running, Server, Target, spawn

T = TypeVar("T")


# -- the load generator -------------------------------------------------------------------------


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
            length = -1
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


def client_loop() -> str:
    return "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run the load on uvloop when installed: less of the client's time in each round."""
    if client_loop() == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coroutine)
    return asyncio.run(coroutine)


# -- the report ---------------------------------------------------------------------------------


@dataclass
class Figures:
    server: Server
    starts: list[float] = field(default_factory=list)
    rounds: list[Round] = field(default_factory=list)
    warmups: int = 0  # warm-up rounds until its rate held

    @property
    def rate(self) -> float:
        return statistics.median(r.rate for r in self.rounds)

    @property
    def start_up(self) -> float:
        return statistics.median(self.starts)


def settings_line() -> str:
    import uvicorn

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return (
        f"uvicorn {uvicorn.__version__}, 1 worker, loop {loop}, http {http} "
        f"(nemo-mock: {mock_protocol()}, as `nemo-mock serve` sets it)"
    )


def mock_protocol() -> str:
    """The uvicorn protocol the mock's server settings build on (h11 or httptools)."""
    try:
        from mock_backend.openapi.limits import Limits
        from mock_backend.openapi.spec import load_spec
        from mock_backend.web.server import server_limits

        http = server_limits(Limits.from_spec(load_spec()))["http"]
        if isinstance(http, str):
            return http
        names = [cls.__name__ for cls in http.__mro__ if cls.__module__.startswith("uvicorn.")]
        return f"{http.__name__} on {names[0]}" if names else http.__name__
    except Exception as exc:  # a report line, not a reason to stop the benchmark
        return f"unknown ({type(exc).__name__})"


def goal_line(what: str, ratio: float | None, goal: float, at_most: bool, quick: bool) -> str:
    if ratio is None:
        return f"goal: {what}: not judged (not measured in this run)"
    met = ratio <= goal if at_most else ratio >= goal
    verdict = "quick: not judged" if quick else ("meets" if met else "MISSES")
    return f"goal: {what}: {ratio:.2f}x ({verdict})"


def report(
    figures: dict[str, Figures], skipped: dict[str, str], pinned: str, args: argparse.Namespace
) -> None:
    base = figures["fastapi"]
    print(
        f"GET credits (valid token) vs hello routes: {args.requests} requests x {args.rounds} "
        f"rounds, {args.connections} connections, start-up median of {args.starts}; "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    print(settings_line())
    print(f"load: raw keep-alive client on {client_loop()}; {pinned}")
    header = f"{'server':<28} {'median req/s':>12}  {'x FastAPI':>9}   {'rounds':<22}"
    print(f"{header} {'p50 ms':>7} {'p99 ms':>7} {'start-up s':>10}  {'x FastAPI':>9}  warm-ups")
    for server in SERVERS:
        if server.key in skipped:
            print(f"{server.name:<28} {skipped[server.key]}")
            continue
        if server.key not in figures:
            continue
        got = figures[server.key]
        middle = sorted(got.rounds, key=lambda r: r.rate)[len(got.rounds) // 2]
        spread = " ".join(f"{r.rate:.0f}" for r in got.rounds)
        print(
            f"{server.name:<28} {got.rate:>12.0f}  {got.rate / base.rate:>8.2f}x   {spread:<22} "
            f"{middle.percentile(50):>7.2f} {middle.percentile(99):>7.2f} "
            f"{got.start_up:>10.2f}  {got.start_up / base.start_up:>8.2f}x  {got.warmups:>8}"
        )
    mock = figures.get("mock")

    def over(key: str) -> float | None:
        other = figures.get(key)
        return None if mock is None or other is None else mock.rate / other.rate

    start_up = None if mock is None else mock.start_up / base.start_up
    for what, ratio, goal, at_most in (
        ("nemo-mock >= 1.5x FastAPI hello", over("fastapi"), 1.5, False),
        ("nemo-mock >= 2x Prism", over("prism"), 2.0, False),
        ("nemo-mock >= 2x WireMock", over("wiremock"), 2.0, False),
        ("nemo-mock start-up <= 1.1x FastAPI hello's", start_up, 1.1, True),
    ):
        print(goal_line(what, ratio, goal, at_most, args.quick))


# -- main ---------------------------------------------------------------------------------------


def choose(args: argparse.Namespace) -> tuple[list[Server], dict[str, str]]:
    """The servers this run starts, and why each other one is left out."""
    keys = {server.key for server in SERVERS}
    wanted = set(args.only.split(",")) if args.only else keys
    if wanted - keys:
        raise SystemExit(f"--only: unknown {sorted(wanted - keys)}; known: {sorted(keys)}")
    wanted.add("fastapi")  # the unit of every ratio
    chosen, skipped = [], {}
    for server in SERVERS:
        if server.key not in wanted:
            continue
        if args.quick and not args.only and server.key in PEER_KEYS:
            skipped[server.key] = "skipped in --quick (name it in --only to run it)"
        elif why := server.missing():
            skipped[server.key] = why
        else:
            chosen.append(server)
    return chosen, skipped


def pinning(wanted: bool) -> tuple[set[int] | None, str]:
    """Pin the load generator to all CPUs but the last; the servers' CPU, and a line saying so."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not wanted or len(cpus) < 2:
        return None, "servers and load generator not pinned"
    os.sched_setaffinity(0, cpus[:-1])
    return {cpus[-1]}, f"servers on CPU {cpus[-1]}, load generator on CPU {cpus[:-1]}"


WARM_ROUNDS = 30  # at most, per server


def warm(target: Target, args: argparse.Namespace) -> int:
    """Load ``target`` with ``--warmup`` requests at a time until its rate holds (within 5%
    of the round before, twice running): a JIT (WireMock's) may still be speeding up long after
    the first thousands, and a median of its rounds would then be a warm-up figure. Returns
    the warm-up rounds it took."""
    rates: list[float] = []
    while len(rates) < WARM_ROUNDS:
        rates.append(run(load(target, args.warmup, args.connections)).rate)
        if len(rates) >= 3 and all(
            abs(rates[-i] - rates[-i - 1]) <= 0.05 * rates[-i - 1] for i in (1, 2)
        ):
            break
    return len(rates)


@contextlib.contextmanager
def alone(key: str, running: dict[str, Running]) -> Iterator[None]:
    """Only ``key``'s server runs meanwhile: the others are paused (SIGSTOP), so that one's
    background work (a JVM's compiler and collector, node's timers) costs another's round
    nothing."""
    others = [up for other, up in running.items() if other != key]
    for up in others:
        up.pause()
    try:
        yield
    finally:
        for up in others:
            up.resume()


def measure(
    servers: list[Server], pin: set[int] | None, args: argparse.Namespace
) -> dict[str, Figures]:
    figures = {server.key: Figures(server) for server in servers}
    running: dict[str, Running] = {}
    for server in servers:
        server.prime()
    with httpx.Client(timeout=30) as client:
        try:
            # start-ups in turns, each led by the next server (the first start after another's
            # pays for what that one evicted from the caches); the last of each stays up
            for turn in range(args.starts):
                for server in servers[turn % len(servers) :] + servers[: turn % len(servers)]:
                    up, seconds = spawn(server, client, pin)
                    figures[server.key].starts.append(seconds)
                    if turn == args.starts - 1:
                        running[server.key] = up
                    else:
                        up.stop()
            targets = {key: figures[key].server.target(client, up) for key, up in running.items()}
            for key, target in targets.items():
                with alone(key, running):
                    figures[key].warmups = warm(target, args)
            for _ in range(args.rounds):
                for key, target in targets.items():
                    gc.collect()
                    with alone(key, running):
                        rate = run(load(target, args.requests, args.connections))
                    figures[key].rounds.append(rate)
        finally:
            for up in running.values():
                up.stop()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, help="requests per round (20000; quick 300)")
    parser.add_argument(
        "--connections", type=int, help="concurrent keep-alive connections (32; quick 8)"
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds per server, median reported (3; quick 1)"
    )
    parser.add_argument(
        "--warmup", type=int, help="requests before the rounds, each server (5000; quick 50)"
    )
    parser.add_argument("--starts", type=int, help="starts per server, median (5; quick 1)")
    parser.add_argument(
        "--only",
        metavar="KEYS",
        help=f"comma-separated servers to run, of {','.join(s.key for s in SERVERS)} "
        "(fastapi always runs: it is the unit)",
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="leave servers and load generator unpinned"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run on the same code: the quick sizes above, no Prism or WireMock "
        "unless --only names them, the goals not judged",
    )
    args = parser.parse_args()
    for name, full, quick in (
        ("requests", 20000, 300),
        ("connections", 32, 8),
        ("rounds", 3, 1),
        ("warmup", 5000, 50),
        ("starts", 5, 1),
    ):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    servers, skipped = choose(args)
    pin, pinned = pinning(not args.no_pin)
    figures = measure(servers, pin, args)
    report(figures, skipped, pinned, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
