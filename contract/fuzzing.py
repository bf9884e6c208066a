"""The schemathesis part of `nemo-contract provider`: set-up, the run, and what it reached.

Links alone cannot give schemathesis a render: a render needs a session with a real uploaded
file and a draft ready for export, which no generated request makes. So `prepare` builds them
first through the documented API (a session, a 3 s song, a `ReadyDraft`, a completed render,
and renders still running, for cancel), and the run's config hands their ids to the operations
that take them (``[[operations]]`` parameters), so render poll, download and cancel are fuzzed
against objects that exist instead of answering 404 every time.

Every exchange is recorded (schemathesis's HAR report) and counted per operation: how many
cases were sent and how many got a 2xx. An operation that never got one was not tested in any
depth, whatever "passed" says; the summary names it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mock_backend.openapi.spec import load_spec, spec_path

from .server_api import ATTRIBUTION, Api, CheckResult, ProviderFailure, ready_draft

__all__ = ["Fixtures", "Reach", "count_reach", "prepare", "run_schemathesis"]

CONFIG = Path(__file__).with_name("schemathesis.toml")
CANCEL_TARGETS = 8  # renders left running for cancel to find (each can be cancelled once)
# beyond the longest wait the contract allows an answer (info.x-limits.file_wait_seconds: a
# download waits for its file), what a loaded server may take to answer: schemathesis's own
# limit (10 s, ST112) failed our mock while two encodes ran on a busy machine
ANSWER_SECONDS = 30.0


def response_seconds() -> float:
    """The longest a server may take to answer any operation, by the contract."""
    limits = load_spec().extension("info", "x-limits")
    return float(limits["file_wait_seconds"]) + ANSWER_SECONDS


@dataclass(frozen=True)
class Fixtures:
    """Objects of the provider's own token that the fuzzed operations may use."""

    session_id: str
    task_id: str
    draft: dict[str, Any]  # ready for export, of the session's song
    completed: str  # a render that completed: poll and download answer 2xx
    running: list[str] = field(default_factory=list)  # renders submitted last, for cancel


def prepare(api: Api, *, timeout: float = 180.0, poll: float = 0.2) -> Fixtures:
    """A session with a song, a completed render of a ready draft, and renders left running."""
    sid, upload = api.session_with_song()
    draft = ready_draft(upload)

    def submit(label: str) -> str:
        render_id = f"render_{label}_{uuid.uuid4().hex[:10]}"
        api.call(
            "POST",
            "/api/render/proxy/lambda",
            json={"id": render_id, "sessionId": sid, "draft": draft},
        )
        return render_id

    completed = submit("fixture")
    deadline = time.monotonic() + timeout
    while (
        status := api.call("GET", f"/api/render/proxy/lambda/{completed}")["status"]
    ) != "completed":
        if status == "failed" or time.monotonic() > deadline:
            raise ProviderFailure(
                f"set-up: the fixture render {completed} is {status} after "
                f"{time.monotonic() - deadline + timeout:.0f} s; fuzzing needs a completed one"
            )
        time.sleep(poll)
    running = [submit(f"cancel{n}") for n in range(CANCEL_TARGETS)]
    return Fixtures(sid, api.task_ids[sid], draft, completed, running)


PINNABLE = ("getSessionState", "uploadFiles", "getRender", "downloadRender")


def _operations_config(fixtures: Fixtures, pinned: tuple[str, ...] = PINNABLE) -> str:
    """``[[operations]]`` entries that point each id parameter of `pinned` at a fixture."""
    by_operation: dict[str, dict[str, str]] = {
        "getSessionState": {"path.session_id": fixtures.session_id},
        "uploadFiles": {"path.session_id": fixtures.session_id},
        "getRender": {"path.render_id": fixtures.completed},
        "downloadRender": {"path.render_id": fixtures.completed},
    }
    lines = []
    for operation, values in by_operation.items():
        if operation not in pinned:
            continue
        pairs = ", ".join(f'"{k}" = "{v}"' for k, v in values.items())
        lines += [
            "",
            "[[operations]]",
            f'include-operation-id = "{operation}"',
            f"parameters = {{ {pairs} }}",
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Reach:
    """Per operation: cases sent and cases answered 2xx."""

    sent: Counter[str]
    ok: Counter[str]

    def never(self, operations: list[str]) -> list[str]:
        return [op for op in operations if not self.ok[op]]

    def line(self, operations: list[str]) -> str:
        return ", ".join(f"{op} {self.ok[op]}/{self.sent[op]}" for op in operations)


def count_reach(har: Path) -> Reach:
    """Count the recorded exchanges per operation of the contract (matched by method and
    path template)."""
    spec = load_spec()
    patterns = [
        (
            op.method,
            re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(op.path)) + "$"),
            op.operation_id,
        )
        for op in spec.operations.values()
    ]
    sent: Counter[str] = Counter()
    ok: Counter[str] = Counter()
    entries = json.loads(har.read_text(encoding="utf-8"))["log"]["entries"]
    for entry in entries:
        method = entry["request"]["method"]
        path = re.sub(r"^[a-z]+://[^/]+", "", entry["request"]["url"]).split("?", 1)[0]
        found = next((op for m, rx, op in patterns if m == method and rx.match(path)), None)
        if found is None:
            continue
        sent[found] += 1
        if 200 <= entry["response"]["status"] < 300 and _code(entry) in (None, 0):
            ok[found] += 1
    return Reach(sent, ok)


def _code(entry: dict[str, Any]) -> int | None:
    """The envelope's code of a 200 answer (a business error travels with HTTP 200)."""
    text = (entry["response"].get("content") or {}).get("text") or ""
    try:
        body = json.loads(text)
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, int) else None


# Where a stateful scenario starts: schemathesis (4.32, `classify_root_transitions`) starts one
# only at operations with a link leaving them inside the selection, and among those only at the
# "reliable" ones (a POST, or a GET without path parameters, that consumes nothing no selected
# operation produces) as long as there is any. With every operation selected, uploadFiles and
# submitRender are the only roots: the anonymous token ("consumes" an X-Client-Id nothing
# produces), the session ("consumes" a Task), the state and the poll (GETs of one object) never
# start a scenario, so the links leaving them are never walked. Smaller selections make them the
# roots: the session chain alone, and one pair per link that no chain from a root reaches.
SESSION_CHAIN = [
    "createAnonymousToken",
    "createSession",
    "getSessionState",
    "runSse",
    "createClaimToken",
    "getCredits",
]
# (name, operations, operations whose ids point at the fixtures): in each, the first operation is
# the only one with a link inside the selection, so every scenario starts there; a pinned state
# has a ready draft to render and a pinned poll a completed render to download. submit → download
# leaves a root of the whole selection, but there a download follows a submit that succeeded
# only by chance (a submit answered with a business error carries no id to follow): a change of
# the contract's request shapes moved schemathesis's draws and left it unwalked, so it has its
# own pass, where the hooks give every other submit the prepared session and a fresh id.
LINK_PAIRS = [
    ("upload-link", ["createSession", "uploadFiles"], ()),
    ("render-link", ["getSessionState", "submitRender"], ("getSessionState",)),
    ("download-link", ["getRender", "downloadRender"], ("getRender",)),
    ("submit-download-link", ["submitRender", "downloadRender"], ()),
    # in pass 2 a cancel follows a successful submit only by chance: a sweep missed it once
    ("submit-cancel-link", ["submitRender", "cancelRender"], ()),
]


@dataclass(frozen=True)
class _Pass:
    name: str
    phases: str | None  # None: every phase
    operations: list[str] | None = None  # None: every operation
    pinned: tuple[str, ...] = ()  # operations whose ids point at the fixtures ([[operations]])
    links: bool = False  # stateful: record which links were walked (NDJSON events)
    about: str = ""  # what the pass is for, in the progress line


def _passes(operations: list[str] | None, fixtures: Fixtures | None) -> list[_Pass]:
    if operations:  # links leave the selection: the stateful phase has nothing to walk
        pinned = PINNABLE if fixtures is not None else ()
        return [_Pass("fuzz", "examples,coverage,fuzzing", operations, pinned, about="fuzzing")]
    if fixtures is None:
        return [_Pass("all", None, links=True, about="every phase")]
    # pinned ids feed the fuzzing; in the stateful phase they would override the ids the links
    # carry, so the links run unpinned (the hooks still point half the cases at the fixtures)
    return [
        _Pass(
            "fuzz",
            "examples,coverage,fuzzing",
            pinned=PINNABLE,
            about="examples, coverage and fuzzing on the prepared objects",
        ),
        _Pass("links", "stateful", links=True, about="stateful along the links"),
        _Pass(
            "session-links",
            "stateful",
            SESSION_CHAIN,
            links=True,
            about="stateful from the session chain",
        ),
        *(
            _Pass(name, "stateful", ops, pins, links=True, about=f"stateful from {ops[0]}")
            for name, ops, pins in LINK_PAIRS
        ),
    ]


@dataclass
class _Outcome:
    passed: bool = True
    log: list[str] = field(default_factory=list)
    generated: int = 0
    failed_tail: str = ""
    sent: Counter[str] = field(default_factory=Counter)
    ok: Counter[str] = field(default_factory=Counter)
    walked: set[str] = field(default_factory=set)


def declared_links() -> list[str]:
    """Every link of the contract, named as schemathesis names a transition."""
    spec = load_spec()
    by_id = {op.operation_id: op for op in spec.operations.values()}
    names = []
    for op in spec.operations.values():
        for status, response in (op.raw.get("responses") or {}).items():
            for name, link in (spec.resolve(response).get("links") or {}).items():
                target = by_id[link["operationId"]]
                names.append(
                    f"{op.method.upper()} {op.path} -> [{status}] {name} -> "
                    f"{target.method.upper()} {target.path}"
                )
    return names


def walked_links(ndjson: Path) -> set[str]:
    """The transitions a stateful run applied (the link's values resolved and sent)."""
    walked: set[str] = set()
    with ndjson.open(encoding="utf-8") as events:
        for line in events:
            if '"ScenarioFinished"' not in line[:40]:
                continue
            cases = (json.loads(line)["ScenarioFinished"].get("recorder") or {}).get("cases")
            for case in (cases or {}).values():
                transition = case.get("transition")
                if transition and case.get("is_transition_applied"):
                    walked.add(transition["id"])
    return walked


def run_schemathesis(
    base_url: str,
    token: str,
    out: Path,
    max_examples: int,
    error_status: str,
    operations: list[str] | None = None,
    *,
    fixtures: Fixtures | None = None,
    seed: int = 1,
) -> CheckResult:
    """schemathesis over the contract, in passes (see `_passes`); one verdict for them all,
    with what they reached: 2xx per operation, and which of the contract's links were walked."""
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    outcome = _Outcome()
    passes = _passes(operations, fixtures)
    for number, step in enumerate(passes, 1):
        print(
            f"  pass {number} of {len(passes)}: {step.about} ({step.name})…",
            file=sys.stderr,
            flush=True,
        )
        _run_pass(step, base_url, token, out, max_examples, error_status, fixtures, seed, outcome)
    selected = operations or sorted(load_spec().operations)
    detail = outcome.failed_tail
    if outcome.sent:
        reach = Reach(outcome.sent, outcome.ok)
        never = reach.never(selected)
        detail += f"2xx per operation: {reach.line(selected)}\n"
        if never:
            detail += f"never answered with a 2xx (not tested in depth): {', '.join(never)}\n"
    if any(step.links for step in passes):
        declared = declared_links()
        missed = [name for name in declared if name not in outcome.walked]
        inferred = len(outcome.walked - set(declared))
        detail += (
            f"links walked: {len(declared) - len(missed)} of the contract's {len(declared)}"
            f" (and {inferred} inferred by schemathesis)\n"
        )
        if missed:
            detail += "links never walked: " + "; ".join(missed) + "\n"
    detail += f"{outcome.generated} generated, " + (
        f"{outcome.generated} passed" if outcome.passed else "some failed"
    )
    detail += f" (logs: {', '.join(outcome.log)})"
    return CheckResult("schemathesis", outcome.passed, detail, time.monotonic() - started)


def _run_pass(
    step: _Pass,
    base_url: str,
    token: str,
    out: Path,
    max_examples: int,
    error_status: str,
    fixtures: Fixtures | None,
    seed: int,
    outcome: _Outcome,
) -> None:
    stem = out / f"schemathesis-{step.name}"
    config = stem.with_suffix(".toml")
    config.write_text(
        CONFIG.read_text(encoding="utf-8")
        + '\n[headers]\nAuthorization = "Bearer ${NEMO_PROVIDER_TOKEN}"\n'
        + "".join(f'{k} = "{v}"\n' for k, v in ATTRIBUTION.items())
        + (_operations_config(fixtures, step.pinned) if fixtures and step.pinned else ""),
        encoding="utf-8",
    )
    har, ndjson = stem.with_suffix(".har"), stem.with_suffix(".ndjson")
    reports = "junit,har,ndjson" if step.links else "junit,har"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        str(spec_path()),
        "--url",
        base_url,
        "--checks",
        "all",
        "--max-examples",
        str(max_examples),
        "--report",
        reports,
        "--report-junit-path",
        str(stem.with_name(stem.name + "-junit.xml")),
        "--report-har-path",
        str(har),
        "--report-ndjson-path",
        str(ndjson),
        "--seed",
        str(seed),
        "--max-response-time",
        f"{response_seconds():g}",
        "--request-timeout",  # longer: a slow answer is reported as slow, not as a lost one
        f"{response_seconds() + 30:g}",
        "--no-color",
    ]
    for operation in step.operations or []:
        command += ["--include-operation-id", operation]
    if step.phases:
        command += ["--phases", step.phases]
    if error_status == "http200":
        command += [
            "--exclude-checks",
            "ignored_auth,missing_required_header,negative_data_rejection",
        ]
    env = {**os.environ, "NEMO_PROVIDER_TOKEN": token, "NEMO_PROVIDER_URL": base_url}
    if fixtures is not None:
        env["SCHEMATHESIS_HOOKS"] = "contract.fuzz_hooks"
        env["NEMO_PROVIDER_FIXTURE"] = json.dumps(
            {
                "session_id": fixtures.session_id,
                "task_id": fixtures.task_id,
                "draft": fixtures.draft,
            }
        )
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, check=False, timeout=3600
    )
    log = stem.with_suffix(".log")
    log.write_text(done.stdout + done.stderr, encoding="utf-8")
    outcome.log.append(str(log))
    lines = (done.stdout + done.stderr).strip().splitlines()
    counts = [line for line in lines if " generated, " in line]
    if counts and (number := re.search(r"(\d+) generated", counts[-1])):
        outcome.generated += int(number.group(1))
    if done.returncode:
        outcome.passed = False
        outcome.failed_tail += f"[{step.name}]\n" + "\n".join(lines[-12:]) + "\n"
    if har.exists():
        reach = count_reach(har)
        outcome.sent.update(reach.sent)
        outcome.ok.update(reach.ok)
    if step.links and ndjson.exists():
        outcome.walked |= walked_links(ndjson)
