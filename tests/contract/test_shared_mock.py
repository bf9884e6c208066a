"""The suite on a shared mock (``nemo-contract client --mock-url``): each scenario in a namespace
of its own on one ``nemo-mock serve`` that many CI jobs share, judged as on a private mock.

Real servers throughout: ``nemo-mock serve`` in a child process (one process in memory, or
``--workers 2`` on the session's real redis-server) and the reference client as a subprocess.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from clients_under_test.mutants import REFERENCE
from contract.adapters import Manifest, SubprocessAdapter
from contract.runner import Inputs, ScenarioResult, run_catalogue
from contract.targets import SharedMock

from ..mock_backend.test_cli import NEMO_MOCK, first_line
from ..mock_backend.web.test_workers import two_workers

NEMO_CONTRACT = str(Path(sys.executable).with_name("nemo-contract"))
# one of each kind of scenario setup: a render (and one whose settings lengthen it), a registered
# token, a scripted rule, the REST error profile, an SSE fault
CHOSEN = [
    "happy-extract",
    "render-stuck",
    "nemo-token",
    "err-2001-registered",
    "err-1002-rest",
    "sse-silent-close",
]


@pytest.fixture(scope="module")
def shared_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``nemo-mock serve`` (one process, in memory) on a free port, on a real-time clock: each
    namespace chooses its own."""
    folder = tmp_path_factory.mktemp("shared-mock")
    command = [NEMO_MOCK, "serve", "--port", "0", "--data-dir", str(folder)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as server:
        try:
            line = first_line(server, timeout=60)
            found = re.search(r"http://127\.0\.0\.1:\d+", line)
            assert found, line
            yield found[0]
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)


def judged(results: list[ScenarioResult]) -> dict[str, tuple[str, dict[str, str]]]:
    """Each scenario's outcome and its obligations' statuses."""
    return {
        r.scenario.id: (r.outcome, {v.obligation: v.status for v in r.verdicts}) for r in results
    }


def test_a_shared_mock_judges_the_reference_client_as_private_mocks_do(
    shared_url: str, tmp_path: Path
) -> None:
    adapter = SubprocessAdapter(Manifest.load(REFERENCE))
    inputs = Inputs.generate(tmp_path / "inputs")
    shared = run_catalogue(
        adapter, only=CHOSEN, jobs=3, inputs=inputs, shared=SharedMock(shared_url)
    )
    private = run_catalogue(adapter, only=CHOSEN, jobs=3, inputs=inputs)
    assert judged(shared) == judged(private)
    assert {r.outcome for r in shared} == {"pass"}, [(r.scenario.id, r.reason) for r in shared]
    # the client was sent to its namespace, and every namespace was closed after its scenario
    assert all("/__ns/nc-" in e["url"] for r in shared for e in r.entries if e.get("url"))
    opened = httpx.get(f"{shared_url}/__mock/namespaces").json()["data"]["namespaces"]
    assert opened == []


def test_the_cli_runs_a_shard_on_two_workers_on_redis(tmp_path: Path, redis_url: str) -> None:
    """What a CI matrix job does: its slice of the catalogue, on one shared mock of two workers,
    each scenario's records gone from Redis when it ends."""
    (tmp_path / "mock").mkdir()
    with two_workers(tmp_path / "mock", redis_url, "real") as url:
        done = subprocess.run(
            [NEMO_CONTRACT, "client", "--manifest", str(REFERENCE), "--mock-url", url]
            + [arg for sid in CHOSEN[:4] for arg in ("--only", sid)]
            + ["--shard", "1/2", "--out", str(tmp_path / "report"), "--jobs", "2"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"on the shared mock at {url}" in done.stderr
    matrix = json.loads((tmp_path / "report" / "matrix.json").read_text())
    ran = [r["scenario"] for r in matrix["results"]]
    assert ran, "shard 1/2 of four scenarios ran none"
    assert {r["outcome"] for r in matrix["results"]} == {"pass"}
    # what the namespaces held is gone; a namespace keeps only its clock's and rules' counters
    # (time and rule versions never go back) until the idle sweep releases it
    left = redis.Redis.from_url(redis_url, decode_responses=True).keys("nemo:nc-*")
    assert all(key.endswith((":clock:state", ":rules:version")) for key in left), left


def refused(tmp_path: Path, *options: str) -> str:
    """What ``nemo-contract client`` says on a usage error (exit 2) against an unused port."""
    done = subprocess.run(
        [
            *(NEMO_CONTRACT, "client", "--manifest", str(REFERENCE), *options),
            *("--mock-url", "http://127.0.0.1:9", "--out", str(tmp_path / "report")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    return done.stderr


def test_an_unreachable_shared_mock_is_a_usage_error_that_says_what_to_do(tmp_path: Path) -> None:
    said = refused(tmp_path, "--only", "nemo-token")
    assert "no mock answers at http://127.0.0.1:9" in said
    assert "nemo-mock serve" in said


def test_a_shared_mock_cannot_serve_an_in_process_client(tmp_path: Path) -> None:
    assert "leave out --mode inprocess" in refused(tmp_path, "--mode", "inprocess")
