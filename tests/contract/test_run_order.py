"""The catalogue runs its longest scenarios first (runner.run_order), so that none starts last
and runs on alone, and still reports in the order asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.adapters import InProcessAdapter, Manifest
from contract.catalogue import CATALOGUE
from contract.catalogue.scenario import ClientScenario
from contract.runner import ScenarioResult, run_catalogue, run_order, select
from mock_backend.agent.stream_config import StreamFaults

ROOT = Path(__file__).resolve().parents[2]


def test_a_quiet_stream_is_its_heartbeats_only_time_and_its_stall() -> None:
    assert StreamFaults().quiet_seconds == 0.0
    faults = StreamFaults(heartbeats_only_for=60.0, stall_after=1.0, stall_for=240.0)
    assert faults.quiet_seconds == 300.0
    assert StreamFaults(stall_for=240.0).quiet_seconds == 0.0  # a stall that never begins


def test_a_scenario_knows_how_long_its_setup_keeps_a_stream_quiet() -> None:
    # a rule of its own, a named scenario of the mock's, and no stream fault at all
    assert CATALOGUE["sse-still-working"].quiet_stream == 300.0
    named = CATALOGUE["sse-heartbeat-timeout"]
    assert named.setup == ({"name": "heartbeats-only-timeout"},)
    assert named.quiet_stream > 600.0  # past the client's 10-minute heartbeat timeout
    assert CATALOGUE["credits-display"].quiet_stream == 0.0
    assert CATALOGUE["err-429"].quiet_stream == 0.0  # a rule, but not on a stream


def test_quiet_streams_go_first_then_renders_then_the_rest_in_the_order_given() -> None:
    chosen = select(["credits-display", "happy-extract", "sse-stall", "sse-heartbeat-timeout"])
    ids = [s.id for s in run_order(chosen)]
    assert ids == ["sse-heartbeat-timeout", "sse-stall", "happy-extract", "credits-display"]
    ties = select(["err-1002-chat", "err-1002-rest", "err-1002-status"])
    assert run_order(ties) == ties  # equal estimates keep their order


def test_the_longest_runs_first_and_the_results_come_back_in_catalogue_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    adapter = InProcessAdapter(
        Manifest.load(ROOT / "clients_under_test" / "reference" / "client.yaml")
    )
    started: list[str] = []

    def progress(result: ScenarioResult, done: int, total: int) -> None:
        started.append(result.scenario.id)  # one at a time: finished in the order started

    wanted = ["credits-display", "sse-heartbeat-timeout", "err-429"]
    results = run_catalogue(adapter, only=wanted, jobs=1, progress=progress)
    assert started[0] == "sse-heartbeat-timeout"
    catalogue_order = [s.id for s in CATALOGUE.values() if s.id in wanted]
    assert [r.scenario.id for r in results] == catalogue_order
    assert all(isinstance(r.scenario, ClientScenario) for r in results)
    assert {r.outcome for r in results} == {"pass"}, [(r.scenario.id, r.reason) for r in results]
