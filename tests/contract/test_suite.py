"""The compatibility suite itself: its catalogue, its checks, its command line and reports."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from contract.catalogue import ALWAYS, CATALOGUE
from contract.cli import main
from contract.evidence import Evidence
from contract.obligations import OBLIGATIONS, judge
from mock_backend.control.scenarios import CATALOGUE as MOCK_SCENARIOS

REFERENCE = Path(__file__).resolve().parents[2] / "clients_under_test" / "reference" / "client.yaml"
DOCUMENTED = {
    "error:1001",
    "error:1002",
    "error:2001",
    "error:4001",
    "error:4002",
    "error:400",
    "error:402",
    "error:429",
    "token",
    "attribution",
    "render",
    "sse",
    "delivery",
}


def test_the_catalogue_has_at_least_forty_scenarios_covering_every_documented_rule() -> None:
    assert len(CATALOGUE) >= 40
    rules = {s.rule for s in CATALOGUE.values()}
    judged = {OBLIGATIONS[o].rule for s in CATALOGUE.values() for o in s.all_obligations}
    assert rules | judged >= DOCUMENTED, DOCUMENTED - rules - judged


@pytest.mark.parametrize("scenario", CATALOGUE.values(), ids=list(CATALOGUE))
def test_each_scenario_is_well_formed(scenario) -> None:  # type: ignore[no-untyped-def]
    assert set(scenario.obligations) <= set(OBLIGATIONS)
    assert set(ALWAYS) <= set(scenario.all_obligations)
    assert scenario.steps
    for request in scenario.setup:
        if "name" in request:
            assert request["name"] in MOCK_SCENARIOS
    if scenario.trigger:
        named = {r.get("name") for r in scenario.setup} | {
            (r.get("rule") or {}).get("name") for r in scenario.setup
        }
        assert scenario.trigger in named, (
            f"{scenario.id}: trigger {scenario.trigger} is never set up"
        )


def _empty(exit_code: int = 0) -> Evidence:
    return Evidence(
        entries=[],
        stdout="",
        stderr="",
        exit_code=exit_code,
        output_file=None,
        tokens=[],
        user_ids=[],
        web_url="https://w",
        virtual_start=0.0,
    )


@pytest.mark.parametrize("name", sorted(OBLIGATIONS))
def test_no_check_passes_without_evidence(name: str) -> None:
    verdict = judge(name, _empty(), {"expect": "failure"})
    assert verdict.status != "pass", f"{name} passed on an empty run: {verdict.detail}"


def test_a_check_that_crashes_fails_with_the_reason() -> None:
    broken = _empty()
    broken.entries = [{"id": 1}]  # missing every field a check reads
    verdict = judge("attribution_headers", broken)
    assert verdict.status == "fail"
    assert "the check itself failed" in verdict.detail


def test_list_shows_scenarios_and_obligations(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "err-429" in out
    assert "retry_429_once" in out


def test_a_bad_manifest_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "client.yaml"
    manifest.write_text("name: x\njobs: {}\n")
    assert main(["client", "--manifest", str(manifest)]) == 2
    assert "'jobs' maps job names" in capsys.readouterr().err


def test_an_unknown_scenario_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["client", "--manifest", str(REFERENCE), "--only", "nope"]) == 2
    assert "no scenario or rule named ['nope']" in capsys.readouterr().err


def test_a_run_writes_junit_markdown_and_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "client",
            "--manifest",
            str(REFERENCE),
            "--only",
            "error:429",
            "--only",
            "credits-display",
            "--out",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "reference: 4 passed, 0 failed" in out
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert suite.get("tests") == "4"
    assert suite.get("failures") == "0"
    assert {c.get("name") for c in suite.iter("testcase")} == {
        "err-429",
        "err-429-twice",
        "err-429-ip",
        "credits-display",
    }
    matrix = (tmp_path / "matrix.md").read_text()
    assert "| err-429 | error:429 |" in matrix
    html = (tmp_path / "matrix.html").read_text()
    assert 'id="err-429"' in html or "id='err-429'" in html
    assert "retry_429_once" in html
