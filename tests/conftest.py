"""Shared test settings: async tests run on asyncio (anyio's pytest plugin), and a real
``redis-server`` for the state tests.

The Redis server is Debian's ``redis-server``, started once per session on a free port of
127.0.0.1 in a temporary folder, with persistence off, and stopped at the end; each test gets
its own key namespace and clears it. Where ``redis-server`` is missing its tests skip, and
say so, unless ``$NEMO_REQUIRE_REDIS`` is set: then they fail. ``.ci/run`` sets it, and
installs the package when missing (as faketime), so CI never passes without running them.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REDIS_SERVER = shutil.which("redis-server")
_namespaces = itertools.count(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--mock-store",
        choices=["memory", "copies", "redis"],
        default="memory",
        help="where the mock tests' twins keep their records (tests/mock_backend/conftest.py)",
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:PORT/0`` of a ``redis-server`` of this test session's own."""
    if REDIS_SERVER is None:
        why = "needs redis-server (apt-get install redis-server; scripts/setup.sh does as root)"
        if os.environ.get("NEMO_REQUIRE_REDIS"):
            pytest.fail(f"$NEMO_REQUIRE_REDIS is set and {why}")
        pytest.skip(why)
    folder: Path = tmp_path_factory.mktemp("redis")
    for _attempt in range(3):  # another process may take the free port before redis does
        port = _free_port()
        command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(folder)]
        log = folder / f"redis-{port}.log"
        with log.open("wb") as out:
            server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
        # a start-up bound, not a measurement: a loaded machine may take seconds
        deadline = time.monotonic() + 30
        while server.poll() is None and not _answers(port) and time.monotonic() < deadline:
            time.sleep(0.02)
        if server.poll() is None and _answers(port):
            break
        server.kill()
        server.wait()
    else:
        said = log.read_text(errors="replace")[-500:]
        pytest.fail(f"redis-server did not start: {said}")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.kill()
        server.wait()


@pytest.fixture
def redis_namespace(redis_url: str) -> Iterator[str]:
    """A key namespace of this test's own, emptied after it."""
    from mock_backend.state.redis_store import RedisStore

    namespace = f"test{next(_namespaces)}"
    yield namespace
    store = RedisStore(redis_url, namespace=namespace)
    store.clear()
    store.close()
