"""Every provider mutant fails the provider's behaviour checks on exactly its check, for its
reason, and the unbroken mock passes them all (servers_under_test/mutants.py)."""

from __future__ import annotations

import pytest

from contract.provider import CheckResult, behaviour_checks
from mock_backend.settings import Settings
from mock_backend.web.app import create_app
from mock_backend.web.server import LiveServer
from servers_under_test.mutants import MUTANTS

# 50x: the provider polls a render every 0.2 s (10 virtual s), so a 30-90 s render is seen
# processing several times: a mutant that breaks the lifecycle on its second processing poll
# is always reached
SETTINGS = Settings(clock="scaled:50", tokens_per_ip=10**6)


def _checks(app: object) -> dict[str, CheckResult]:
    with LiveServer(app, raise_app_exceptions=False) as server:  # type: ignore[arg-type]
        return {r.name: r for r in behaviour_checks(server.url, None, render_timeout=60)}


def test_the_mock_passes_every_behaviour_check() -> None:
    results = _checks(create_app(SETTINGS))
    failed = {name: r.detail for name, r in results.items() if not r.passed}
    assert not failed, failed
    assert set(results) == {
        "credits_consistent",
        "stream_events",
        "render_lifecycle",
        "documented_refusals",
    }


def test_there_are_enough_mutants_for_every_check() -> None:
    assert len(MUTANTS) >= 8
    assert {m.breaks for m in MUTANTS.values()} == {
        "credits_consistent",
        "stream_events",
        "render_lifecycle",
        "documented_refusals",
    }


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_each_mutant_fails_exactly_its_check_for_its_reason(name: str) -> None:
    mutant = MUTANTS[name]
    results = _checks(mutant.app(SETTINGS))
    failed = {check: r.detail for check, r in results.items() if not r.passed}
    assert set(failed) == {mutant.breaks}, (
        f"{name} ({mutant.about}) should fail {mutant.breaks} only; failed: {failed}"
    )
    assert mutant.says in failed[mutant.breaks], failed[mutant.breaks]
