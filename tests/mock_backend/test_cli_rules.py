"""Reproducing an edge case from the command line: --scenario, --rules FILE, `scenarios`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mock_backend.control.scenarios import CATALOGUE


def test_scenarios_command_lists_every_scenario_with_a_description() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mock_backend", "scenarios"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    lines = done.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(CATALOGUE)
    assert all(len(line.split(maxsplit=1)[1]) > 15 for line in lines)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    rules = tmp_path / "edge.yaml"
    rules.write_text(
        "- name: rate-limited\n"
        "  scope: {client_id: unlucky}\n"
        "- rule:\n"
        "    match: {operation: getCredits, nth: 2}\n"
        "    respond: {code: 1001, message: scripted expiry}\n",
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mock_backend",
            "serve",
            "--port",
            "0",
            "--clock",
            "manual",
            "--rules",
            str(rules),
            "--scenario",
            "legacy-event-shape",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    try:
        assert "serving http://" in line, line + (process.stderr.read() if process.stderr else "")
        yield line.split()[2]
    finally:
        process.terminate()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_a_rules_file_reproduces_an_edge_case(served: str) -> None:
    with httpx.Client(base_url=served, timeout=10) as http:
        limited = http.post("/api/auth/anonymous-token", headers={"X-Client-Id": "unlucky"})
        assert limited.status_code == 429
        token = http.post("/api/auth/anonymous-token", headers={"X-Client-Id": "lucky"}).json()
        bearer = {"Authorization": f"Bearer {token['data']['token']}"}
        first = http.get("/api/credits/balance/simple", headers=bearer).json()
        second = http.get("/api/credits/balance/simple", headers=bearer).json()
        active = http.get("/__mock/scenarios").json()["data"]["active"]
    assert first["code"] == 0
    assert second == {"code": 1001, "message": "scripted expiry", "data": None}
    assert any(r["name"] == "legacy-event-shape" for r in active)


def test_a_bad_rules_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    rules = tmp_path / "bad.yaml"
    rules.write_text("- rule: {match: {operation: noSuchOp}, respond: {code: 1001}}\n")
    done = subprocess.run(
        [sys.executable, "-m", "mock_backend", "serve", "--port", "0", "--rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "noSuchOp" in done.stderr
    assert "getCredits" in done.stderr  # the known operations are listed


def test_tokens_never_reach_the_server_log_even_from_a_careless_client() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_backend", "serve", "--port", "0", "--log-level", "info"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        url = process.stdout.readline().split()[2]
        with httpx.Client(base_url=url, timeout=10) as http:
            token = http.post("/api/auth/anonymous-token", headers={"X-Client-Id": "c"}).json()
            token = token["data"]["token"]
            http.get(f"/api/credits/balance/simple?token={token}")  # a token in a URL: a bug
            http.get("/api/credits/balance/simple", headers={"Authorization": f"Bearer {token}"})
    finally:
        process.terminate()
        process.wait(timeout=10)
        log = process.stderr.read() + process.stdout.read()
        process.stdout.close()
        process.stderr.close()
    assert "/api/credits/balance/simple?token=nmv_usr_…" in log  # logged, fingerprinted
    assert token not in log
