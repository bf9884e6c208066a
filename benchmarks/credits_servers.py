"""The servers bench_credits.py measures: how each starts, tells it is up, and is loaded.

- ``fastapi``, ``starlette``: hello_server.py, uvicorn as `nemo-mock serve` runs it.
- ``mock``: ``python -m mock_backend serve --port 0``, so its server settings (protocol, limits)
  are the project's own, whatever they are.
- ``prism``: Prism mocking openapi.yaml, which answers GET credits from the contract's example.
- ``wiremock``: WireMock standalone (java) with one stub answering the mock's credits JSON.

Prism and WireMock come from install-peers.sh, in benchmarks/.peers/.
"""

from __future__ import annotations

import compileall
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "benchmarks" / ".peers"
INSTALL_HINT = "not installed (benchmarks/install-peers.sh)"
HOST = "127.0.0.1"
CREDITS = "/api/credits/balance/simple"
HELLO = "/hello"
# what the mock answers a fresh anonymous token; WireMock's stub answers the same bytes
CREDITS_ANSWER = {"code": 0, "message": "ok", "data": {"available": 100, "frozen": 0, "total": 100}}
PEER_TOKEN = {"Authorization": "Bearer bench-credits"}  # Prism and WireMock only ask for one


@dataclass
class Target:
    name: str
    port: int
    request: bytes
    body_length: int


def raw_request(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class Running:
    """One started server process; ``folder`` holds its files (a log, WireMock's stub)."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    folder: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log(self) -> str:
        path = self.folder / "log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def pause(self) -> None:
        """Stop the server's processes (SIGSTOP) while another one is measured: an idle JVM
        still compiles and collects, and took a quarter of a FastAPI round on this machine."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, number: int) -> None:
        for pid in family(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, number)

    def stop(self) -> None:
        self.resume()  # a stopped process would not see the SIGTERM until continued
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


class Server:
    """A kind of server: how to start it, how to tell it is up, what to load it with."""

    key = ""
    name = ""
    # the start-up request, path and headers: its first 200 stops the clock
    probe: ClassVar[tuple[str, dict[str, str]]] = ("/", {})
    prints_port = False  # True: the process prints its port; else it is given a free one

    def missing(self) -> str | None:
        """Why this server cannot run here, or None."""
        return None

    def prime(self) -> None:
        """Make what every start reads once and for all, before the starts are timed."""

    def command(self, port: int, folder: Path) -> list[str]:
        raise NotImplementedError

    def read_port(self, line: str) -> int:
        return int(line)

    def target(self, client: httpx.Client, running: Running) -> Target:
        """Check one answer in full; the raw request the load repeats, and its body length."""
        raise NotImplementedError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def peer_version(package: Path) -> str:
    with contextlib.suppress(OSError, ValueError, KeyError):
        return str(json.loads((package / "package.json").read_text())["version"])
    return ""


def contract_example() -> Any:
    """The example Prism answers GET credits with: the contract's first one."""
    import yaml

    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    content = spec["paths"][CREDITS]["get"]["responses"]["200"]["content"]["application/json"]
    return next(iter(content["examples"].values()))["value"]


def expect(name: str, response: httpx.Response, body: object) -> None:
    if response.status_code != 200 or response.json() != body:
        raise RuntimeError(
            f"{name}: expected 200 {body}, got {response.status_code} {response.text}"
        )


class Hello(Server):
    probe = (HELLO, {})
    prints_port = True

    def __init__(self, key: str, name: str) -> None:
        self.key, self.name = key, name

    def command(self, port: int, folder: Path) -> list[str]:
        return [sys.executable, str(ROOT / "benchmarks" / "hello_server.py"), self.key]

    def target(self, client: httpx.Client, running: Running) -> Target:
        response = client.get(running.url + HELLO)
        expect(self.name, response, {"message": "hello world"})
        return Target(self.name, running.port, raw_request(HELLO, {}), len(response.content))


class Mock(Server):
    key, name = "mock", "nemo-mock GET credits"
    probe = ("/__mock/health", {})
    prints_port = True

    def prime(self) -> None:
        # the bytecode an installed wheel has: FastAPI's came with its wheel, while an editable
        # install under PYTHONDONTWRITEBYTECODE (set on this machine) compiled the mock's
        # modules from source at every start, ~70 ms of its start-up (measured 2026-12-03)
        compileall.compile_dir(ROOT / "mock_backend", quiet=1)

    def command(self, port: int, folder: Path) -> list[str]:
        # as `nemo-mock serve` runs it: the mock's own server settings, not a copy of them
        return [sys.executable, "-m", "mock_backend", "serve", "--port", "0", "--seed", "0"]

    def read_port(self, line: str) -> int:
        # "nemo-mock serving http://127.0.0.1:PORT  (seed ...)"
        return int(line.split()[2].rsplit(":", 1)[1])

    def target(self, client: httpx.Client, running: Running) -> Target:
        minted = client.post(
            running.url + "/api/auth/anonymous-token", headers={"X-Client-Id": "bench-credits"}
        )
        headers = {"Authorization": f"Bearer {minted.json()['data']['token']}"}
        response = client.get(running.url + CREDITS, headers=headers)
        expect(self.name, response, CREDITS_ANSWER)
        return Target(self.name, running.port, raw_request(CREDITS, headers), len(response.content))


class Prism(Server):
    key = "prism"
    probe = (CREDITS, PEER_TOKEN)
    binary = PEERS / "node_modules" / ".bin" / "prism"

    def __init__(self) -> None:
        self.name = f"Prism {peer_version(PEERS / 'node_modules/@stoplight/prism-cli')}".rstrip()

    def missing(self) -> str | None:
        return None if self.binary.exists() else INSTALL_HINT

    def command(self, port: int, folder: Path) -> list[str]:
        spec = str(ROOT / "openapi.yaml")
        return [str(self.binary), "mock", "-h", HOST, "-p", str(port), "-v", "error", spec]

    def target(self, client: httpx.Client, running: Running) -> Target:
        response = client.get(running.url + CREDITS, headers=PEER_TOKEN)
        expect(self.name, response, contract_example())
        return Target(
            self.name, running.port, raw_request(CREDITS, PEER_TOKEN), len(response.content)
        )


class WireMock(Server):
    key = "wiremock"
    probe = (CREDITS, PEER_TOKEN)

    @property
    def jar(self) -> Path | None:
        return next(iter(sorted((PEERS / "node_modules" / "wiremock").glob("build/*.jar"))), None)

    def __init__(self) -> None:
        self.name = f"WireMock {peer_version(PEERS / 'node_modules/wiremock')}".rstrip()

    def missing(self) -> str | None:
        if self.jar is None:
            return INSTALL_HINT
        return None if shutil.which("java") else "not runnable: no java on PATH"

    def command(self, port: int, folder: Path) -> list[str]:
        body = json.dumps(CREDITS_ANSWER, separators=(",", ":"))
        stub = {
            "request": {
                "method": "GET",
                "urlPath": CREDITS,
                "headers": {"Authorization": {"matches": "Bearer .+"}},
            },
            "response": {
                "status": 200,
                # a length of its own, or Jetty answers chunked
                "headers": {"Content-Type": "application/json", "Content-Length": str(len(body))},
                "body": body,
            },
        }
        (folder / "mappings").mkdir()
        (folder / "mappings" / "credits.json").write_text(json.dumps(stub))
        options = ["--port", str(port), "--bind-address", HOST, "--root-dir", str(folder)]
        return ["java", "-jar", str(self.jar), *options, "--disable-banner"]

    def target(self, client: httpx.Client, running: Running) -> Target:
        response = client.get(running.url + CREDITS, headers=PEER_TOKEN)
        expect(self.name, response, CREDITS_ANSWER)
        return Target(
            self.name, running.port, raw_request(CREDITS, PEER_TOKEN), len(response.content)
        )


SERVERS: list[Server] = [
    Hello("fastapi", "FastAPI hello /hello"),
    Hello("starlette", "Starlette one route /hello"),
    Mock(),
    Prism(),
    WireMock(),
]
PEER_KEYS = ("prism", "wiremock")


def family(pid: int) -> list[int]:
    """``pid`` and every process descending from it (Prism's node may start others)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo.extend(children.get(found[-1], []))
    return found


def spawn(server: Server, client: httpx.Client, pin: set[int] | None) -> tuple[Running, float]:
    """Start ``server``; return it and the seconds from the spawn to its first 200."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-credits-{server.key}-"))
    port = 0 if server.prints_port else free_port()
    command = server.command(port, folder)
    log = (folder / "log").open("wb")
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE if server.prints_port else log,
        stderr=log,
        preexec_fn=(lambda: os.sched_setaffinity(0, pin)) if pin else None,
    )
    log.close()
    running = Running(server.name, process, port, folder)
    try:
        if server.prints_port:
            assert process.stdout is not None
            line = process.stdout.readline().decode()
            try:
                running.port = server.read_port(line)
            except (ValueError, IndexError):
                raise RuntimeError(f"{server.name}: no port in {line!r}") from None
        path, headers = server.probe
        deadline = started + 120
        status = "no answer"
        while True:
            with contextlib.suppress(httpx.TransportError):
                response = client.get(running.url + path, headers=headers)
                if response.status_code == 200:
                    return running, time.perf_counter() - started
                status = f"{response.status_code} {response.text[:200]}"
            if process.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError(f"{server.name} did not start ({status}):\n{running.log()}")
            time.sleep(0.005)
    except BaseException:
        running.stop()
        raise
