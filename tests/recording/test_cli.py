"""`nemo-mock record` and `nemo-mock serve --replay` as a user starts them."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from mock_backend.cli import main as mock_main
from mock_backend.settings import Settings
from mock_backend.web.app import create_app
from mock_backend.web.server import LiveServer

NEMO_MOCK = Path(sys.executable).parent / "nemo-mock"


@contextmanager
def started(*args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run ``nemo-mock ARGS --port 0``; yield the URL its first line names, then Ctrl-C it."""
    process = subprocess.Popen(
        [str(NEMO_MOCK), *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "http://127.0.0.1:" in line, line + (process.stderr.read() if process.stderr else "")
        url = line.split("http://", 1)[1].split()[0]
        yield f"http://{url}", process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_record_then_replay_from_the_command_line(tmp_path: Path) -> None:
    app = create_app(Settings(clock="scaled:100", data_dir=tmp_path / "data"))
    out = tmp_path / "rec"
    with LiveServer(app) as upstream:
        recorder = started("record", "--upstream", upstream.url, "--out", str(out))
        with recorder as (url, _), httpx.Client(base_url=url) as http:
            token = http.post(
                "/api/auth/anonymous-token", headers={"X-Client-Id": "cli-test"}
            ).json()["data"]["token"]
            credits = http.get(
                "/api/credits/balance/simple", headers={"Authorization": f"Bearer {token}"}
            )
        app.state.backend.close()
    assert credits.json()["data"]["available"] == 100
    assert token not in "".join(p.read_text() for p in out.rglob("*.yaml"))
    with started("serve", "--replay", str(out)) as (url, _), httpx.Client(base_url=url) as http:
        again = http.get("/api/credits/balance/simple", headers={"Authorization": "Bearer x"})
    assert again.json() == credits.json()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["record", "--upstream", "ftp://x", "--out", "{tmp}/r"], "expected an http(s) URL"),
        (["serve", "--replay", "{tmp}/none"], "is not a recording (no recording.yaml)"),
        (["record", "--upstream", "http://x", "--out", "{tmp}/r", "--clock", "fast"], "clock"),
    ],
)
def test_bad_input_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    assert mock_main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    assert says in capsys.readouterr().err


def test_replay_refuses_scenarios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "recording.yaml").write_text("format: nemo-recording/1\n")
    assert mock_main(["serve", "--replay", str(tmp_path), "--scenario", "silent-close"]) == 2
    assert "--scenario and --rules do not apply" in capsys.readouterr().err
