"""``nemo-mock`` / ``python -m mock_backend``: help, serving over TCP, and a bad --clock."""

from __future__ import annotations

import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

PYTHON = sys.executable
NEMO_MOCK = str(Path(sys.executable).with_name("nemo-mock"))


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def first_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The first line ``process`` prints, waiting at most ``timeout`` seconds for it."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([process.stdout], [], [], remaining)
        if readable:
            return process.stdout.readline()
        if process.poll() is not None:
            break
    raise AssertionError(f"no first line within {timeout} s (exit code {process.poll()})")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    command = [NEMO_MOCK, "serve", "--port", "0", "--clock", "manual", "--data-dir", str(tmp_path)]
    with (
        (tmp_path / "stderr.log").open("w") as log,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True) as process,
    ):
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def test_serve_help_explains_the_options() -> None:
    result = run(PYTHON, "-m", "mock_backend", "serve", "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--port", "--host", "--seed", "--clock", "--error-status", "--admin-token"):
        assert option in result.stdout
    for form in ("real", "manual", "scaled:N"):
        assert form in result.stdout


def test_serve_prints_its_url_first_and_serves(server: subprocess.Popen[str]) -> None:
    line = first_line(server, timeout=20)
    found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert found, f"the first line names no base URL: {line!r}"
    assert int(found.group(1)) != 0
    response = httpx.get(f"{found.group(0)}/api/credits/balance/simple", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"code", "message", "data"}
    assert body["code"] == 1001
    clock = httpx.get(f"{found.group(0)}/__mock/clock", timeout=10).json()["data"]
    assert clock["mode"] == "manual"


def test_a_bad_clock_exits_2_naming_the_valid_forms() -> None:
    result = run(NEMO_MOCK, "serve", "--clock", "nonsense")
    assert result.returncode == 2
    assert "nonsense" in result.stderr
    for form in ("real", "manual", "scaled:N"):
        assert form in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_redis_exits_1_saying_what_to_do() -> None:
    import socket

    with socket.socket() as unused:  # bound, never listening: nothing answers there
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        result = run(NEMO_MOCK, "serve", "--state", f"redis://127.0.0.1:{port}/0")
    assert result.returncode == 1
    assert f"cannot reach Redis at redis://127.0.0.1:{port}/0" in result.stderr
    assert "start redis-server or use --state memory" in result.stderr
    assert "Traceback" not in result.stderr
    nonsense = run(NEMO_MOCK, "serve", "--state", "postgres://x")
    assert nonsense.returncode == 2
    assert "expected memory or redis://HOST:PORT/DB" in nonsense.stderr


def test_serve_on_redis_keeps_its_tokens_there(tmp_path: Path, redis_url: str) -> None:
    from mock_backend.state.redis_store import RedisStore

    stale = RedisStore(redis_url)  # the server's namespace, "default"
    stale.put_session(stale_session := _session("ses_stale"))
    command = [NEMO_MOCK, "serve", "--port", "0", "--clock", "manual", "--state", redis_url]
    command += ["--data-dir", str(tmp_path)]
    with (
        (tmp_path / "stderr.log").open("w") as log,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True) as process,
    ):
        try:
            line = first_line(process, timeout=20)
            assert f"state {redis_url}" in line, line
            base = re.search(r"http://127\.0\.0\.1:\d+", line)
            assert base, line
            assert stale.get_session(stale_session.session_id) is None, "emptied at start"
            issued = httpx.post(
                f"{base.group(0)}/api/auth/anonymous-token",
                headers={"X-Client-Id": "cli-redis"},
                timeout=10,
            ).json()["data"]
            record = stale.get_token(issued["token"])
            assert record is not None
            assert (record.client_id, record.user_id) == ("cli-redis", issued["user_id"])
        finally:
            process.terminate()
            process.wait(timeout=10)
            stale.clear()
            stale.close()


def _session(session_id: str) -> Any:
    from mock_backend.state.store import SessionRecord

    return SessionRecord(session_id, "t", "n", "en", "u", 0.0)
