"""The bash + curl client (clients_under_test/shell) judged by the whole catalogue, as a subprocess.

nemo.sh follows the two skill documents (the seeds) and nothing else, so the verdicts below are
the point: every scenario it fails judges a rule that only upstream SKILL.md v1.9 states (claim
link, render retry, download fallback, export pre-check, 10-minute heartbeat timeout, disconnect
recovery, trailing "temporary issue"). The test pins each verdict, so it fails when a verdict
changes, whether the script, the mock or an obligation changed.

The suite's private mocks key their random draws by the order of calls, not by the client id,
so the verdicts are repeatable whatever id the script sends. The script's overhead per request
(spawning curl and awk) is measured and sets the scale it runs at (see contract.timing).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest

from contract.adapters import Manifest, SubprocessAdapter
from contract.catalogue import CATALOGUE
from contract.runner import ScenarioResult, run_catalogue

ROOT = Path(__file__).resolve().parents[2]
SHELL = ROOT / "clients_under_test" / "shell"
MISSING = [tool for tool in ("bash", "curl", "awk", "sed") if shutil.which(tool) is None]
if MISSING:
    pytest.skip(f"the shell client needs {', '.join(MISSING)} on PATH", allow_module_level=True)


@dataclasses.dataclass(frozen=True)
class Expect:
    outcome: str  # pass | fail | not_exercised
    why: str
    # obligation -> the status it must have (the ones the verdict rests on)
    verdicts: dict[str, str] = dataclasses.field(default_factory=dict)
    stdout: str | None = None  # a text the client's output must contain


def ok(why: str, **verdicts: str) -> Expect:
    return Expect("pass", why, verdicts)


def broken(why: str, **verdicts: str) -> Expect:
    return Expect("fail", why, verdicts)


EXPECTED: dict[str, Expect] = {
    # -- delivery
    "happy-convert": ok(
        "song → MP4 delivered and valid", output_file_valid="pass", tool_events_hidden="pass"
    ),
    "happy-extract": ok(
        # a 4 s MP3 may be done at the first poll (wall-time dependent): polls_30s_apart is
        # pinned in render-slow instead, where a 250-290 s render needs several polls
        "video → MP3 delivered and valid",
        output_file_valid="pass",
    ),
    "delivery-claim-link": broken(
        "no claim link: POST /api/auth/claim-token is a v1.9 rule the seeds never mention",
        claim_link="fail",
        output_file_valid="pass",
    ),
    "happy-convert-portrait": ok("portrait prompt, render, download", output_file_valid="pass"),
    # -- tokens
    "token-reuse": ok("token persisted in ~/.config/nemovideo-sh", token_reused="pass"),
    "nemo-token": ok("NEMO_TOKEN used as is", nemo_token_used="pass"),
    "err-1001-expired": ok("1001: anonymous token again, same client id", reauth_on_1001="pass"),
    "err-1001-revoked": ok("1001: re-auth and retry", reauth_on_1001="pass"),
    "err-1001-mid-render": ok("1001 while polling: re-auth inside api()", reauth_on_1001="pass"),
    "err-1001-rest": ok("branches on the body code, not the HTTP status", reauth_on_1001="pass"),
    # -- sessions
    "err-1002-chat": ok("1002: new session, message sent to it", new_session_on_1002="pass"),
    "err-1002-status": ok("1002: new session", new_session_on_1002="pass"),
    "err-1002-rest": ok("1002 under HTTP 404", new_session_on_1002="pass"),
    # -- credits
    "err-2001-anonymous": ok("register?bind=<user_id>", register_link_on_2001="pass"),
    "err-2001-registered": ok("NEMO_TOKEN set: top up", top_up_on_2001="pass"),
    "credits-display": ok("available/frozen/total", credits_shown="pass"),
    # -- files
    "err-4001": ok("formats listed", formats_on_4001="pass"),
    "err-4001-local": ok("extension checked before upload", formats_on_4001="pass"),
    "err-4002": ok("compress or trim", compress_on_4002="pass"),
    "err-4002-rest": ok("4002 under HTTP 413", compress_on_4002="pass"),
    # -- client id, plan, rate limits
    "err-400": ok("new UUID, retry", new_client_id_on_400="pass"),
    "err-402-plan": ok("register or upgrade", upgrade_on_402="pass"),
    "err-402-attribution": ok("same 402 message", upgrade_on_402="pass"),
    "err-429": ok("sleep 30 (scaled), retry once", retry_429_once="pass"),
    "err-429-twice": ok("one retry, then a message", retry_429_once="pass"),
    "err-429-ip": ok("same for the per-IP limit", retry_429_once="pass"),
    # -- renders
    "render-slow": ok("10 polls 30 s apart are enough", polls_30s_apart="pass"),
    "render-stuck": ok(
        "stops after 10 polls 30 s apart and says so",
        at_most_10_polls="pass",
        polls_30s_apart="pass",
    ),
    "render-retry": broken(
        "no resubmission with a new id after a failed render (v1.9 rule)",
        retry_new_id_after_failure="fail",
    ),
    "render-fails-twice": broken(
        "no resubmission (v1.9); it does stop with a message",
        retry_new_id_after_failure="fail",
        actionable_failure="pass",
    ),
    "download-fallback": broken(
        "no GET /api/render/proxy/<id>/download fallback when output.url fails (v1.9)",
        download_fallback="fail",
    ),
    "render-orphaned": ok("a 404 poll ends the export with a message", lost_render_reported="pass"),
    "export-empty": broken(
        "no pre-check of an empty draft (v1.9): it submits, the mock answers 422",
        export_precheck="fail",
        actionable_failure="pass",
    ),
    "extract-render-retry": broken(
        "no resubmission after a failed MP3 render (v1.9)", retry_new_id_after_failure="fail"
    ),
    # -- the stream
    "sse-text-and-tools": ok(
        "only text parts printed", tool_events_hidden="pass", agent_text_shown="pass"
    ),
    "sse-gui-translation": ok("sed rewrites 'click the Export button'", gui_translated="pass"),
    "sse-gui-chinese": ok("sed rewrites 点击「导出」按钮", gui_translated="pass"),
    "sse-silent-close": ok("state read, '✅ updated' + summary", silent_close_reported="pass"),
    "sse-still-working": ok("read -t ticks: a notice per 2 quiet minutes"),
    "sse-heartbeat-timeout": broken(
        "no 10-minute heartbeat timeout (v1.9): curl --max-time 900 as the seeds say",
        heartbeat_timeout="fail",
    ),
    "sse-disconnect": broken(
        "no recovery loop (v1.9: state at 30 s, then every 60 s): it says so and exits 1",
        disconnect_recovery="fail",
        no_resend="pass",
    ),
    "sse-stall": ok(
        "waits through the stall without re-sending", no_resend="pass", stall_met="pass"
    ),
    "sse-error-event": ok('data: {"error"} reported, exit 1', run_error_reported="pass"),
    "sse-malformed-line": ok("the awk parser skips a line that is not JSON"),
    "sse-buffered": ok("curl -N reads whatever arrives"),
    "sse-legacy-shape": Expect(
        "fail",
        "legacy {type: text} events are never printed (the script reads ADK text parts only), "
        "so every run looks silent",
        {"agent_text_shown": "fail", "tool_events_hidden": "pass"},
        stdout="finished without a reply",
    ),
    "sse-trailing-issue": broken(
        "the trailing 'I encountered a temporary issue' is printed (v1.9 rule)",
        trailing_issue_ignored="fail",
    ),
}


@pytest.fixture(scope="module")
def results() -> dict[str, ScenarioResult]:
    manifest = Manifest.load(SHELL / "client.yaml")
    done = run_catalogue(SubprocessAdapter(manifest), jobs=4)
    return {r.scenario.id: r for r in done}


def test_every_scenario_has_an_expected_verdict() -> None:
    assert set(EXPECTED) == set(CATALOGUE)


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_verdict(results: dict[str, ScenarioResult], scenario: str) -> None:
    expect = EXPECTED[scenario]
    result = results[scenario]
    statuses = {v.obligation: v.status for v in result.verdicts}
    context = (
        f"{scenario}: expected {expect.outcome} ({expect.why}), got {result.outcome}: "
        f"{result.reason}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    assert result.outcome == expect.outcome, context
    for obligation, status in expect.verdicts.items():
        assert statuses.get(obligation) == status, f"{obligation}: {context}"
    if expect.stdout is not None:
        assert expect.stdout in result.stdout, context
    # whatever the scenario: a shell script must never print a token or a raw envelope
    # ("not exercised" when no token was issued, e.g. a file refused before any call)
    for always in ("no_token_in_output", "no_token_in_url", "no_raw_api_output"):
        assert statuses[always] != "fail", f"{always}: {context}"


def test_the_script_uses_no_other_interpreter() -> None:
    """bash + curl + POSIX tools: no jq, python, node, perl or ruby anywhere in the code."""
    code = [
        line
        for line in (SHELL / "nemo.sh").read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("#")
    ]
    found = [line for line in code if re.search(r"\b(jq|python3?|node|perl|ruby)\b", line)]
    assert not found, found
