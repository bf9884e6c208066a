"""No scenario passes a client that never met its edge case.

Three broken clients of the suite's own, each skipping a whole part of the job: one gives up
with a vague error before its first render poll, one leaves as soon as the chat stream opens,
one polls a lost render forever. Run over the whole catalogue, none may pass a scenario that
needs the part it skips: such a scenario fails, or is reported not exercised, never passed.
"""

from __future__ import annotations

import uuid
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from clients_under_test.reference import embed
from clients_under_test.reference.chat import ChatOutcome, ChatRun
from clients_under_test.reference.client import NemoClient
from clients_under_test.reference.errors import NemoClientError
from clients_under_test.reference.export import Exporter, ExportError
from clients_under_test.reference.models import ProjectState, RenderStatus
from contract.adapters import InProcessAdapter, Manifest
from contract.catalogue import CATALOGUE, ClientScenario
from contract.runner import Inputs, ScenarioResult, run_catalogue

REFERENCE = Path(__file__).parents[2] / "clients_under_test" / "reference" / "client.yaml"


class _GivesUp(Exporter):
    def _poll(self, render_id: str) -> RenderStatus:
        raise ExportError("Something went wrong.")


class _Leaves(ChatRun):
    def _read(self, response: Any, before: ProjectState) -> ChatOutcome:
        return ChatOutcome()


class _PollsForever(Exporter):
    def _poll(self, render_id: str) -> RenderStatus:
        while True:  # a lost render (404) is polled again, and again
            try:
                return super()._poll(render_id)
            except NemoClientError:
                continue


class GivesUpBeforePolling(NemoClient):
    exporter_class = _GivesUp


class LeavesWhenStreamOpens(NemoClient):
    chat_run_class = _Leaves


class PollsLostRenderForever(NemoClient):
    exporter_class = _PollsForever


def _renders(scenario: ClientScenario) -> bool:
    return any(step.job in ("convert", "extract", "export") for step in scenario.steps)


def _run(client: type[NemoClient], only: list[str], inputs: Inputs) -> list[ScenarioResult]:
    manifest = Manifest.load(REFERENCE)
    adapter = InProcessAdapter(manifest)
    adapter.entry = partial(embed.run, client_class=client)
    return run_catalogue(adapter, only=only, inputs=inputs, jobs=3)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    return Inputs.generate(tmp_path_factory.mktemp("inputs"))


def _passed(results: list[ScenarioResult]) -> dict[str, str]:
    return {r.scenario.id: r.reason for r in results if r.outcome == "pass"}


def test_a_client_that_never_polls_passes_no_render_scenario(inputs: Inputs) -> None:
    # a scenario refused before any render (bad file, no credits, no plan) is not about polling
    wanted = [s.id for s in CATALOGUE.values() if _renders(s) and s.expect != "failure"]
    wanted += ["render-orphaned", "render-stuck", "render-fails-twice"]
    results = _run(GivesUpBeforePolling, wanted, inputs)
    assert not _passed(results), _passed(results)
    orphaned = next(r for r in results if r.scenario.id == "render-orphaned")
    assert orphaned.outcome == "not_exercised", orphaned.reason


def test_a_client_that_leaves_the_stream_passes_no_stream_scenario(inputs: Inputs) -> None:
    wanted = [s.id for s in CATALOGUE.values() if s.rule == "sse"]
    results = _run(LeavesWhenStreamOpens, wanted, inputs)
    assert not _passed(results), _passed(results)
    stall = next(r for r in results if r.scenario.id == "sse-stall")
    assert stall.outcome == "not_exercised", stall.reason


def test_a_client_that_polls_a_lost_render_forever_fails_on_its_endless_loop(
    inputs: Inputs,
) -> None:
    (result,) = _run(PollsLostRenderForever, ["render-orphaned"], inputs)
    assert result.outcome == "fail", result.reason
    failing = {v.obligation for v in result.verdicts if v.status == "fail"}
    assert {"no_endless_loop", "lost_render_reported"} <= failing, result.reason
    # the adapter's own "killed after" line is never taken for the client's message
    actionable = next(v for v in result.verdicts if v.obligation == "actionable_failure")
    assert actionable.status == "fail", actionable.detail


def test_a_client_that_ignores_the_suites_client_id_meets_the_same_draws(inputs: Inputs) -> None:
    """The mock's draws follow the order of calls, not an id the client may not use: a client
    that makes up its own client id meets the same agent replies and the same silent close."""
    only = ["sse-silent-close", "happy-extract"]
    mine = _run(NemoClient, only, inputs)
    manifest = Manifest.load(REFERENCE)
    adapter = InProcessAdapter(manifest)
    own = str(uuid.uuid4())  # its own id, kept across its steps, never the suite's

    def with_own_id(argv: list[str], *, env: dict[str, str], **kw: Any) -> int:
        return embed.run(argv, env={**env, "NEMO_CLIENT_ID": own}, **kw)

    adapter.entry = with_own_id
    theirs = run_catalogue(adapter, only=only, inputs=inputs, jobs=2)

    def seen(results: list[ScenarioResult]) -> dict[str, Any]:
        return {
            r.scenario.id: (
                r.outcome,
                sorted((v.obligation, v.status) for v in r.verdicts),
                [(e["operation"], e["status"], e["code"]) for e in r.entries],
                [e.get("session_id") for e in r.entries],
            )
            for r in results
        }

    assert seen(theirs) == seen(mine)
    clients = {e["client_id"] for r in theirs for e in r.entries if e.get("client_id")}
    assert clients  # the client sent ids of its own…
    assert not clients & {e["client_id"] for r in mine for e in r.entries}  # …not the suite's
