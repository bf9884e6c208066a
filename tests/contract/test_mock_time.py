"""``time: mock``: a subprocess client that takes its sleeps on the mock's clock has them known
to the suite exactly, as an in-process client's are (adapters.py, targets.py)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from contract.adapters import Manifest, RunResult, SubprocessAdapter
from contract.catalogue import CATALOGUE
from contract.runner import run_catalogue
from contract.targets import MockTarget, PrivateMock, SharedNamespace
from contract.timing import Sleep
from mock_backend.settings import Settings
from mock_backend.web.app import create_app
from mock_backend.web.server import LiveServer

ROOT = Path(__file__).resolve().parents[2]

# a client of a few lines: sleeps 30 s, then 60 s, each as its manifest's time says
SLEEPER = textwrap.dedent(
    """
    import os, sys, time, httpx
    url = os.environ.get("NEMO_MOCK_SLEEP_URL")
    scale = float(os.environ.get("NEMO_TIME_SCALE", "1"))
    token = os.environ.get("NEMO_MOCK_ADMIN_TOKEN")
    headers = {"X-Mock-Admin-Token": token} if token else {}
    for seconds in (30, 60):
        if url:
            answer = httpx.post(url, json={"seconds": seconds}, headers=headers, timeout=None)
            answer.raise_for_status()
        else:
            time.sleep(seconds / scale)
    print("slept" if url else "slept here")
    """
)


def run_sleeper(
    tmp_path: Path, time_mode: str, target: MockTarget | None = None
) -> tuple[RunResult, list[dict[str, Any]]]:
    """The sleeper as a subprocess client with ``time: time_mode``, on ``target`` (a private
    mock at 1000x unless given): what the run gave, and the client's evidence."""
    script = tmp_path / "sleeper.py"
    script.write_text(SLEEPER)
    raw = {"name": "sleeper", "command": [sys.executable, str(script)], "time": time_mode}
    adapter = SubprocessAdapter(Manifest.from_dict({**raw, "jobs": {"credits": []}}))
    if target is None:
        target = PrivateMock(CATALOGUE["credits-display"], seed=1, scale=1000.0, live=True)
    try:
        result = adapter.run([], env={"HOME": str(tmp_path)}, target=target, scale=1000.0)
        return result, target.entries()
    finally:
        target.close()


def test_the_mock_lists_each_sleep_where_it_lies_in_virtual_time(tmp_path: Path) -> None:
    result, entries = run_sleeper(tmp_path, "mock")
    assert result.exit_code == 0, result.stderr
    assert "slept" in result.stdout
    assert result.sleeps is not None
    assert all(isinstance(s, Sleep) for s in result.sleeps)
    first, second = result.sleeps  # type: ignore[misc]
    assert (first.asked, second.asked) == (30.0, 60.0)
    # each began where the client asked, on the mock's clock: the second after the first's end
    assert second.since >= first.since + 30.0
    assert first[0] <= first[1] <= second[0] <= second[1]
    # the sleeps are the client's control calls: not in its evidence
    assert not [e for e in entries if e["path"].startswith("/__mock/")]


def test_a_shared_mock_that_asks_for_its_admin_token_gets_it_from_the_client(
    tmp_path: Path,
) -> None:
    """On a shared mock started with an admin token every control call needs it, the client's
    sleeps too: the suite hands it over as NEMO_MOCK_ADMIN_TOKEN."""
    app = create_app(Settings(admin_token="s3cret", data_dir=tmp_path / "data"))
    with LiveServer(app) as server:
        target = SharedNamespace(
            server.url, CATALOGUE["credits-display"], 1, 1000.0, admin_token="s3cret"
        )
        result, _ = run_sleeper(tmp_path, "mock", target)
    assert result.exit_code == 0, result.stderr
    assert result.sleeps is not None
    assert [s.asked for s in result.sleeps] == [30.0, 60.0]


def test_with_time_env_the_client_sleeps_on_its_own_and_nothing_is_known(tmp_path: Path) -> None:
    result, _ = run_sleeper(tmp_path, "env")
    assert "slept here" in result.stdout
    assert result.sleeps is None


def test_the_reference_client_on_the_mocks_clock_keeps_its_verdicts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its render polls and its 429 wait, judged from sleeps the mock listed: the same verdicts
    as in-process (every obligation held)."""
    monkeypatch.syspath_prepend(str(ROOT))
    manifest = Manifest.load(ROOT / "clients_under_test" / "reference" / "client.yaml")
    assert manifest.time == "mock"
    results = run_catalogue(
        SubprocessAdapter(manifest), only=["render-slow", "err-429"], scale=100.0, jobs=2
    )
    for result in results:
        assert result.outcome == "pass", (result.scenario.id, result.reason)
        polls = [
            v for v in result.verdicts if v.obligation in ("polls_30s_apart", "retry_429_once")
        ]
        assert polls, result.scenario.id
        assert all(v.status == "pass" for v in polls), [(v.obligation, v.detail) for v in polls]
