"""The suite passes the reference client and catches each mutant on the rule it breaks.

Every client runs the whole catalogue once, with no re-runs: a verdict that needed a second
chance would be noise deciding it. The results are cached for the module. The reference must
pass every scenario; a mutant (`clients_under_test.mutants`) must fail exactly the scenarios its
table entry lists, each on the obligation of the rule it breaks and on no obligation outside
that rule's consequences (``ALSO``), and pass all the others. A scenario that should catch a
mutant and does not (``GAPS``) is an expected failure until the suite is fixed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from clients_under_test import mutants
from clients_under_test.mutants import ALSO, BREAKS, ESCAPES, GAPS, MUTANTS
from contract.adapters import InProcessAdapter, Manifest
from contract.catalogue import CATALOGUE, ClientScenario
from contract.obligations import OBLIGATIONS
from contract.runner import Inputs, ScenarioResult, run_scenario

REFERENCE = mutants.REFERENCE
# The scenarios of all clients share two pools, so clients run side by side: one for scenarios
# that render (real encodes, 1080p on 2 cores; a render's lifecycle follows the mock's clock, and
# the download waits for the file), one for those that mostly wait on the mock's scaled clock.
RENDERING = 3
WAITING = 4


def _renders(scenario: ClientScenario) -> bool:
    return any(step.job in ("convert", "extract", "export") for step in scenario.steps)


class Runs:
    """The catalogue's results per client manifest; each client runs once."""

    def __init__(self, inputs: Inputs) -> None:
        self.inputs = inputs
        self._cache: dict[str, dict[str, ScenarioResult]] = {}  # by client name

    def run(self, manifests: Iterable[Manifest]) -> None:
        """Run the whole catalogue against each client not yet run, all clients side by side."""
        todo = list({m.name: m for m in manifests if m.name not in self._cache}.values())
        adapters = {m.name: InProcessAdapter(m) for m in todo}
        with (
            ThreadPoolExecutor(RENDERING, thread_name_prefix="rendering") as rendering,
            ThreadPoolExecutor(WAITING, thread_name_prefix="waiting") as waiting,
        ):
            futures: dict[str, list[Future[ScenarioResult]]] = {
                m.name: [
                    (rendering if _renders(s) else waiting).submit(
                        run_scenario, s, adapters[m.name], self.inputs
                    )
                    for s in CATALOGUE.values()
                ]
                for m in todo
            }
            for name, pending in futures.items():
                results = [f.result() for f in pending]
                self._cache[name] = {r.scenario.id: r for r in results}

    def of(self, manifest: Manifest) -> dict[str, ScenarioResult]:
        self.run([manifest])
        return self._cache[manifest.name]


def _clients(items: Iterable[pytest.Item], module: object) -> list[Manifest]:
    """The clients the selected tests of this module judge, so that they run side by side."""
    wanted: list[Manifest] = []
    for item in items:
        if not isinstance(item, pytest.Function) or item.module is not module:
            continue
        if "runs" not in item.fixturenames:
            continue
        name = item.callspec.params.get("name") if hasattr(item, "callspec") else None
        if name in MUTANTS:
            wanted.append(MUTANTS[name][0])
        elif name in ESCAPES:
            wanted.append(ESCAPES[name][0])
        else:
            wanted.append(Manifest.load(REFERENCE))
    return wanted


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    runs = Runs(Inputs.generate(tmp_path_factory.mktemp("inputs")))
    runs.run(_clients(request.session.items, request.module))
    return runs


def _describe(results: dict[str, ScenarioResult], ids: Iterable[str]) -> str:
    return "\n".join(
        f"  {sid}: {results[sid].outcome} (scales {results[sid].scales_tried}): "
        f"{results[sid].reason}"
        for sid in sorted(ids)
    )


def _failing_obligations(result: ScenarioResult) -> set[str]:
    return {v.obligation for v in result.verdicts if v.status == "fail"}


def test_reference_passes_every_scenario(runs: Runs) -> None:
    results = runs.of(Manifest.load(REFERENCE))
    assert set(results) == set(CATALOGUE)
    not_passed = {sid for sid, r in results.items() if r.outcome != "pass"}
    assert not not_passed, "the reference client should pass:\n" + _describe(results, not_passed)


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_fails_exactly_its_scenarios_on_its_rule(runs: Runs, name: str) -> None:
    manifest, expected = MUTANTS[name]
    results = runs.of(manifest)
    failed = {sid for sid, r in results.items() if r.outcome == "fail"}
    missed = expected - failed
    assert not missed, f"{name} should fail, yet:\n" + _describe(results, missed)
    extra = failed - expected
    assert not extra, f"{name} should pass (a bug of the mutant or the suite):\n" + _describe(
        results, extra
    )
    idle = {sid for sid, r in results.items() if r.outcome == "not_exercised"}
    assert not idle, f"{name} left scenarios not exercised:\n" + _describe(results, idle)
    wrong_rule = {sid for sid in expected if BREAKS[name] not in _failing_obligations(results[sid])}
    assert not wrong_rule, f"{name} should fail on {BREAKS[name]}:\n" + _describe(
        results, wrong_rule
    )
    allowed = {BREAKS[name], *ALSO.get(name, ())}
    beyond = {
        sid: sorted(_failing_obligations(results[sid]) - allowed)
        for sid in expected
        if _failing_obligations(results[sid]) - allowed
    }
    assert not beyond, (
        f"{name} breaks only {sorted(allowed)}, yet also failed: {beyond}\n"
        + _describe(results, set(beyond))
    )


def test_no_mutant_escapes_the_suite() -> None:
    """Every broken variant is caught: one the suite misses would sit in ESCAPES, and none may.
    The three found so far (token in a query string, endless polling, an unreported silent
    close) are caught now and live in MUTANTS, where each must fail its scenarios."""
    assert not ESCAPES, f"mutants the suite misses: {sorted(ESCAPES)}"
    assert set(MUTANTS) == set(BREAKS)


@pytest.mark.parametrize(
    ("name", "scenario"),
    [
        pytest.param(*key, marks=pytest.mark.xfail(reason=f"suite weakness: {why}", strict=True))
        for key, why in sorted(GAPS.items())
    ],
)
def test_gap_scenario_catches_the_mutant(runs: Runs, name: str, scenario: str) -> None:
    result = runs.of(MUTANTS[name][0])[scenario]
    assert BREAKS[name] in _failing_obligations(result), _describe({scenario: result}, [scenario])


@pytest.mark.parametrize("name", sorted([*MUTANTS, *ESCAPES]))
def test_mutant_module_and_manifest(name: str) -> None:
    path = Path(mutants.__file__).parent / f"{name}.py"
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    assert doc.startswith("Mutant"), f"{path.name}: the docstring names the broken rule"
    assert f"``{BREAKS[name]}``" in doc, f"{path.name}: the docstring names {BREAKS[name]}"
    manifest = mutants.manifest(name)
    assert (manifest.name, manifest.python) == (name, f"clients_under_test.mutants.{name}:run")
    assert manifest.jobs == Manifest.load(REFERENCE).jobs
    assert not manifest.command  # in-process only: nemo-client is the reference
    InProcessAdapter(manifest)  # the entry point loads


def test_every_mutant_is_listed() -> None:
    modules = {p.stem for p in Path(mutants.__file__).parent.glob("*.py")} - {"__init__"}
    assert modules == set(MUTANTS) | set(ESCAPES) == set(BREAKS)
    assert not set(MUTANTS) & set(ESCAPES)
    for name, (_, expected) in MUTANTS.items():
        assert expected <= set(CATALOGUE), f"{name}: unknown scenarios {expected - set(CATALOGUE)}"
    for name, also in ALSO.items():
        assert name in MUTANTS
        assert also <= set(OBLIGATIONS), f"{name}: unknown obligations {also - set(OBLIGATIONS)}"
    for name, scenario in GAPS:
        assert name in MUTANTS
        assert scenario in CATALOGUE
        assert scenario not in MUTANTS[name][1]
