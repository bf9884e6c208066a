"""Running the catalogue against a client: a mock of its own per scenario, in parallel.

Each scenario gets its own mock (seeded, on a clock scaled by ``scale``), its own ``HOME`` and
client id, so scenarios never see each other: an in-process one (a subprocess client reaches
it through a live server on a free 127.0.0.1 port), or a namespace of its own on a shared
``nemo-mock serve`` (``--mock-url``; contract/targets.py). After the client's steps, the
mock's journal and the client's output are judged by the scenario's obligations.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .adapters import InProcessAdapter, Limits, SubprocessAdapter
from .catalogue import ALWAYS, CATALOGUE, ClientScenario
from .encodes import EncodeCache
from .errors import NemoContractError
from .evidence import Evidence, Verdict
from .obligations import judge
from .sharding import Shard, cost
from .targets import MockTarget, PrivateMock, SharedMock, SharedNamespace, check_shared_mock
from .timing import NICE_SCALES, RESOLUTION, Clocking, next_scale

__all__ = ["Inputs", "ScenarioResult", "run_catalogue", "run_order", "run_scenario"]

WEB_URL = "https://nemovideo.test"
# Virtual seconds per wall second to start at. A render's lifecycle follows the mock's clock
# alone (its file is waited for when downloaded), so any scale works; timing verdicts inside the
# measured noise are re-run lower (see contract.timing).
DEFAULT_SCALE = 100.0
Outcome = Literal["pass", "fail", "not_exercised"]
MAX_RERUNS = 4
# Half the documents' shortest interval (30 s between polls): a run whose client reacted later
# than this, in virtual seconds, may have met its edge case differently, and is run lower.
SHIFTING_NOISE = 15.0


@dataclass(frozen=True)
class Inputs:
    """Real media files the jobs use, generated once per run."""

    song: Path
    clip: Path
    notes: Path
    durations: dict[str, float]

    @classmethod
    def generate(cls, folder: Path, seconds: float = 4.0) -> Inputs:
        folder.mkdir(parents=True, exist_ok=True)
        song, clip, notes = folder / "song.mp3", folder / "clip.mp4", folder / "notes.txt"
        from mock_backend.media.samples import make_clip, make_song  # the media stack, when needed

        if not song.exists():
            make_song(song, seconds)
        if not clip.exists():
            make_clip(clip, seconds, 320, 240, 10)
        notes.write_text("not a media file\n", encoding="utf-8")
        return cls(song, clip, notes, {"song": seconds, "clip": seconds})

    def path(self, name: str) -> Path:
        return {"song": self.song, "clip": self.clip, "notes": self.notes}[name]


@dataclass
class ScenarioResult:
    scenario: ClientScenario
    verdicts: list[Verdict]
    outcome: Outcome
    reason: str
    wall: float
    virtual: float
    exit_codes: list[int] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    journal_size: int = 0
    entries: list[dict[str, Any]] = field(default_factory=list)  # the journal, redacted
    virtual_start: float = 0.0  # entries' virtual times are relative to this
    scale: float = DEFAULT_SCALE  # the clock scale of the run these verdicts come from
    noise: float = 0.0  # virtual seconds of measured timing noise in that run
    work: float = 0.0  # wall seconds: the most the client worked between two requests
    work_spread: float = 0.0  # wall seconds: how much that work varied
    shift: float = 0.0  # virtual seconds: how late a request may have come (see Clocking.shift)
    scales_tried: list[float] = field(default_factory=list)  # re-runs at lower scales
    rerun_reasons: list[str] = field(default_factory=list)  # the noisy verdicts behind them


def _outcome(scenario: ClientScenario, verdicts: list[Verdict], fired: bool) -> tuple[Outcome, str]:
    failed = [v for v in verdicts if v.status == "fail"]
    if failed:
        return "fail", "; ".join(f"{v.obligation}: {v.detail}" for v in failed[:3])
    noisy = [v for v in verdicts if v.status == "noisy"]
    if noisy:  # never a pass: the noise, not the client, would have decided it
        return "fail", "undecided within the measured noise even at the lowest scale: " + (
            "; ".join(f"{v.obligation}: {v.detail}" for v in noisy[:3])
        )
    if scenario.trigger and not fired:
        return (
            "not_exercised",
            f"the edge case ({scenario.trigger}) never happened: the client "
            "did not reach the step it targets",
        )
    idle = [v for v in verdicts if v.status == "not_exercised" and v.obligation not in ALWAYS]
    if idle:
        return "not_exercised", "; ".join(f"{v.obligation}: {v.detail}" for v in idle[:3])
    return "pass", f"{len(verdicts)} obligations hold"


def run_scenario(
    scenario: ClientScenario,
    adapter: InProcessAdapter | SubprocessAdapter,
    inputs: Inputs,
    *,
    seed: int = 0,
    scale: float = DEFAULT_SCALE,
    min_scale: float = 1.0,
    limits: Limits | None = None,
    encodes: EncodeCache | None = None,
    shared: SharedMock | None = None,
) -> ScenarioResult:
    """Run ``scenario`` at ``scale`` (on a private mock, or in a namespace of ``shared``'s);
    while a timing verdict is inside the measured noise, run it again at a scale where that
    noise would be half the resolution (see `contract.timing`)."""
    tried: list[float] = []
    reasons: list[str] = []
    wall = 0.0
    while True:
        result = _run_once(
            scenario,
            adapter,
            inputs,
            seed=seed,
            scale=scale,
            limits=limits or Limits(),
            encodes=encodes,
            shared=shared,
        )
        tried.append(scale)
        wall += result.wall
        noisy = [v for v in result.verdicts if v.status == "noisy"]
        reasons += [f"{scale:g}x: {v.obligation}: {v.detail}" for v in noisy]
        lower = None
        if noisy:
            noise = max((v.timing.noise if v.timing else result.noise) for v in noisy)
            lower = next_scale(scale, noise)
        elif result.shift > SHIFTING_NOISE:
            # every reaction of the client may have come that much late: enough to move a
            # poll across a render's completion, or past the request a rule waits for, so
            # what reached the client (and every verdict) could be the noise's doing
            reasons.append(
                f"{scale:g}x: the client's requests came up to {result.shift:.0f} s late "
                f"(over {SHIFTING_NOISE:g} s: the scenario's events could shift)"
            )
            lower = next_scale(scale, result.shift, resolution=2 * SHIFTING_NOISE)
        if lower is None or lower < min_scale or len(tried) > MAX_RERUNS:
            break
        scale = lower
    result.scales_tried = tried
    result.rerun_reasons = reasons
    result.wall = wall
    return result


def _run_once(
    scenario: ClientScenario,
    adapter: InProcessAdapter | SubprocessAdapter,
    inputs: Inputs,
    *,
    seed: int,
    scale: float,
    limits: Limits,
    encodes: EncodeCache | None = None,
    shared: SharedMock | None = None,
) -> ScenarioResult:
    started = time.monotonic()
    target: MockTarget
    if shared is not None:
        target = SharedNamespace(shared.url, scenario, seed, scale, admin_token=shared.admin_token)
    else:
        target = PrivateMock(scenario, seed, scale, isinstance(adapter, SubprocessAdapter), encodes)
    started_wall = target.clock.wall()
    home = Path(tempfile.mkdtemp(prefix=f"nemo-contract-{scenario.id}-"))
    try:
        for request in scenario.setup:
            target.apply(request)
        env = {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "NEMO_API_URL": target.base_url,
            "NEMO_WEB_URL": WEB_URL,
            # the mock's randomness is keyed by client id: a fixed id per scenario makes every
            # run of the catalogue see the same agent replies, silent closes and timings
            "NEMO_CLIENT_ID": str(
                uuid.uuid5(uuid.NAMESPACE_URL, f"nemo-contract:{seed}:{scenario.id}")
            ),
        }
        if scenario.registered is not None:
            env["NEMO_TOKEN"] = target.mint_registered(
                scenario.registered.get("credits"), scenario.registered.get("plan", "pro")
            )
        virtual_start = target.clock.now()
        codes: list[int] = []
        stdout, stderr = [], []
        steps: list[tuple[float, str]] = []
        # the client's sleeps: in-process, its clock is the suite's; a subprocess client whose
        # manifest says ``time: mock`` sleeps on the mock's clock, which lists them
        sleeps: list[tuple[float, float]] | None = (
            [] if isinstance(adapter, InProcessAdapter) or adapter.manifest.time == "mock" else None
        )
        reads: list[tuple[float, float]] = []
        deliveries: list[tuple[float, float]] = []
        killed: str | None = None
        killed_virtual: float | None = None
        killed_noise = 0.0
        output_file: Path | None = None
        duration = None
        for n, step in enumerate(scenario.steps):
            values = {"text": step.text, "format": step.format, "output": "", "input": ""}
            if step.input:
                values["input"] = str(inputs.path(step.input))
                duration = inputs.durations.get(step.input, duration)
            if step.job in ("convert", "extract", "export"):
                suffix = "mp3" if step.job == "extract" or step.format == "mp3" else "mp4"
                output_file = home / f"out-{n}.{suffix}"
                values["output"] = str(output_file)
            job = (
                "convert_portrait"
                if step.job == "convert" and step.text == "portrait"
                else step.job
            )
            argv = adapter.manifest.argv(job, values)
            if argv is None:
                return _skipped(scenario, f"the client's manifest has no '{job}' job", started)
            step_start = target.clock.now()
            result = adapter.run(
                argv, env=env, target=target, scale=scale, limits=limits.at_scale(scale)
            )
            steps.append((step_start, result.stdout + "\n" + result.stderr))
            if sleeps is not None:
                sleeps += result.sleeps or []
                reads += result.reads or []
                deliveries += result.deliveries or []
            if result.killed and not killed:
                killed, killed_virtual = result.killed, result.killed_virtual
                # the most of that virtual time real work may account for: every wall second
                # of the step the client was not seen sleeping, times the scale
                slept = sum(end - start for start, end in result.sleeps or [])
                since = target.clock.wall() - result.wall
                held = sum(e - s for s, e in target.clock.held_since(since))
                killed_noise = max(0.0, scale - 1.0) * max(0.0, result.wall - slept - held)
            codes.append(result.exit_code)
            stdout.append(result.stdout)
            stderr.append(result.stderr)
        # let a run the client walked away from finish server-side before judging
        target.settle(scale)
        entries = target.entries()
        tokens, user_ids = target.tokens()
        clocking = Clocking.measure(
            entries,
            scale,
            lag=target.clock.lateness,
            sleeps=sleeps,
            reads=reads if sleeps is not None else None,
            deliveries=deliveries if sleeps is not None else None,
            steps=[start for start, _ in steps],
            held=target.clock.held_since(started_wall),
        )
        evidence = Evidence(
            entries=entries,
            stdout="\n".join(stdout),
            stderr="\n".join(stderr),
            exit_code=next((c for c in codes if c != 0), 0),
            output_file=output_file,
            tokens=tokens,
            user_ids=user_ids,
            web_url=WEB_URL,
            virtual_start=virtual_start,
            job_inputs={"duration": duration} if duration else {},
            steps=steps,
            clocking=clocking,
            killed=killed,
            killed_virtual=killed_virtual,
            killed_noise=killed_noise,
        )
        verdicts = []
        for name in scenario.all_obligations:
            params = dict(scenario.params.get(name, {}))
            if name == "actionable_failure":
                params.setdefault("expect", scenario.expect)
                params.setdefault("about", scenario.about)
            verdicts.append(judge(name, evidence, params))
        fired = bool(scenario.trigger and evidence.rule_fired(scenario.trigger))
        outcome, reason = _outcome(scenario, verdicts, fired)
        return ScenarioResult(
            scenario,
            verdicts,
            outcome,
            reason,
            time.monotonic() - started,
            target.clock.now() - virtual_start,
            codes,
            evidence.stdout,
            evidence.stderr,
            len(entries),
            entries=entries,
            virtual_start=virtual_start,
            scale=scale,
            noise=clocking.noise,
            work=clocking.work_bound,
            work_spread=clocking.work_spread,
            shift=clocking.shift,
        )
    finally:
        target.close()
        shutil.rmtree(home, ignore_errors=True)


def _skipped(scenario: ClientScenario, why: str, started: float) -> ScenarioResult:
    return ScenarioResult(scenario, [], "not_exercised", why, time.monotonic() - started, 0.0)


def run_catalogue(
    adapter: InProcessAdapter | SubprocessAdapter,
    *,
    only: Iterable[str] | None = None,
    jobs: int = 4,
    seed: int = 0,
    scale: float = DEFAULT_SCALE,
    min_scale: float = 1.0,
    inputs: Inputs | None = None,
    progress: Callable[[ScenarioResult, int, int], None] | None = None,
    shard: Shard | None = None,
    shared: SharedMock | None = None,
) -> list[ScenarioResult]:
    """Run the catalogue (or the scenarios/rules named in ``only``; of those, ``shard``'s
    slice), ``jobs`` at a time, the longest first (`run_order`), and return the results in
    catalogue order. Each scenario runs on a private mock, or (``shared``) in a namespace of its
    own on a shared one.

    A subprocess client is first calibrated: its overhead per request, measured on a short
    scenario, sets the scale it runs at (``scale`` at most), so that its own CPU time stays
    well inside the timing rules' resolution and few verdicts need a re-run."""
    chosen = select(only)
    if shard is not None:
        chosen = shard.pick(chosen)
    if not chosen:  # a shard can be empty when there are more shards than scenarios
        return []
    if shared is not None:
        if isinstance(adapter, InProcessAdapter):
            raise NemoContractError(
                "a shared mock (--mock-url) serves clients over HTTP: run the client as a "
                "subprocess (--mode subprocess, and a 'command' in its manifest)"
            )
        check_shared_mock(shared.url, shared.admin_token)
    folder = Path(tempfile.mkdtemp(prefix="nemo-contract-inputs-"))
    try:
        media = inputs or Inputs.generate(folder)
        encodes = EncodeCache(folder / "encodes")
        if isinstance(adapter, SubprocessAdapter):
            scale = max(
                min_scale,
                calibrate(adapter, media, seed=seed, scale=scale, encodes=encodes, shared=shared),
            )
        lock = threading.Lock()
        done: list[ScenarioResult] = []

        def one(scenario: ClientScenario) -> ScenarioResult:
            result = run_scenario(
                scenario,
                adapter,
                media,
                seed=seed,
                scale=scale,
                min_scale=min_scale,
                encodes=encodes,
                shared=shared,
            )
            with lock:
                done.append(result)
                if progress:
                    progress(result, len(done), len(chosen))
            return result

        # the longest first, so that no long one starts last and runs on alone
        with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="scenario") as pool:
            ran = {r.scenario.id: r for r in pool.map(one, run_order(chosen))}
        return [ran[s.id] for s in chosen]  # in the order asked for
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_order(scenarios: list[ClientScenario]) -> list[ClientScenario]:
    """The longest first, as far as a scenario's definition tells: a chat stream its setup keeps
    quiet (a client in another process waits those virtual seconds out at the clock's scale),
    then the sharding estimate (render jobs, then steps); ties keep the order given."""
    return sorted(scenarios, key=lambda s: (-s.quiet_stream, *(-c for c in cost(s))))


CALIBRATION = ("err-1002-chat", "sse-silent-close", "err-1002-status")


def calibrate(
    adapter: InProcessAdapter | SubprocessAdapter,
    inputs: Inputs,
    *,
    seed: int = 0,
    scale: float = DEFAULT_SCALE,
    rounds: int = 2,
    encodes: EncodeCache | None = None,
    shared: SharedMock | None = None,
) -> float:
    """The scale (``scale`` at most) at which the client's measured overhead per request
    varies by at most half the timing resolution: ``(scale - 1) x spread <= RESOLUTION / 2``.

    A constant overhead inflates every gap alike and is taken off each (see `Clocking.span`);
    what the scale must keep small is how much one gap's overhead may differ from another's.
    """
    usable = [
        CATALOGUE[sid]
        for sid in CALIBRATION
        if all(adapter.manifest.argv(step.job, _BLANK) is not None for step in CATALOGUE[sid].steps)
    ]
    if not usable:
        return scale
    runs = [
        _run_once(
            usable[0],
            adapter,
            inputs,
            seed=seed,
            scale=scale,
            limits=Limits(),
            encodes=encodes,
            shared=shared,
        )
        for _ in range(rounds)
    ]
    spread = max(max(r.work for r in runs) - min(r.work - r.work_spread for r in runs), 0.0)
    if spread <= 0:
        return scale
    fitting = 1.0 + (RESOLUTION / 2) / spread
    return float(min(scale, next((n for n in NICE_SCALES if n <= fitting), 1.0)))


_BLANK = {"text": "", "format": "mp4", "output": "", "input": ""}


def select(only: Iterable[str] | None) -> list[ClientScenario]:
    """Scenarios by id, by rule (``error:429``) or by rule family (``error``)."""
    if not only:
        return list(CATALOGUE.values())
    wanted = list(only)
    chosen = [
        s
        for s in CATALOGUE.values()
        if any(w in (s.id, s.rule, s.rule.split(":")[0]) for w in wanted)
    ]
    unknown = [
        w
        for w in wanted
        if not any(w in (s.id, s.rule, s.rule.split(":")[0]) for s in CATALOGUE.values())
    ]
    if unknown:
        raise KeyError(f"no scenario or rule named {unknown}; `nemo-contract list` shows them")
    return chosen


def as_dict(result: ScenarioResult) -> dict[str, Any]:
    return {
        "id": result.scenario.id,
        "rule": result.scenario.rule,
        "outcome": result.outcome,
        "reason": result.reason,
        "verdicts": [v.__dict__ for v in result.verdicts],
    }
