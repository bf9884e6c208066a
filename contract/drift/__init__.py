"""`nemo-contract drift`: does a recorded backend still match the contract and the mock?

`schema` judges each recorded exchange against openapi.yaml, `behaviour` compares what the
backend did with what the mock assumes, `report` writes Markdown and JUnit XML.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mock_backend.openapi.spec import load_spec
from mock_backend.recording.cassette import CassetteError, load_recording

from ..report import MARK
from .behaviour import Assumptions, Behaviour, compare_behaviour
from .report import DriftResult, write_junit, write_markdown
from .schema import Drift, check_exchange

__all__ = [
    "Assumptions",
    "Behaviour",
    "Drift",
    "DriftResult",
    "find_drift",
    "run_drift",
    "write_junit",
    "write_markdown",
    "write_reports",
]


def find_drift(recording_dir: Path, assumed: Assumptions | None = None) -> DriftResult:
    """Every drift in a recording (raises `CassetteError` for a folder that is not one)."""
    recording = load_recording(recording_dir)
    spec = load_spec()
    result = DriftResult(recording_dir, recording.upstream, 0)
    ordered = []
    for session, exchanges in recording.sessions.items():
        for exchange in exchanges:
            ref = f"sessions/{session}.yaml #{exchange.get('seq')}"
            ordered.append((int(exchange.get("seq", 0)), ref, exchange))
    ordered.sort(key=lambda item: item[0])
    for _, ref, exchange in ordered:
        result.exchanges += 1
        request = exchange["request"]
        if spec.match(request["method"], request["path"]) is None:
            result.outside[f"{request['method']} {_shape(request['path'])}"] += 1
            continue
        result.checked[str(exchange.get("operation"))] += 1
        result.events += len(exchange.get("response", {}).get("events", []))
        result.drifts += check_exchange(spec, exchange, ref)
    result.behaviours = compare_behaviour([(ref, e) for _, ref, e in ordered], assumed)
    return result


def _shape(path: str) -> str:
    """/cdn/renders/render_1/output.mp4 → /cdn/renders/…: a family, not every address."""
    parts = path.split("/")
    return "/".join(parts[:3]) + ("/…" if len(parts) > 3 else "")


def write_reports(result: DriftResult, out: Path) -> list[Path]:
    markdown, junit = out / "drift.md", out / "drift-junit.xml"
    write_markdown(result, markdown)
    write_junit(result, junit)
    return [markdown, junit]


def run_drift(recording_dir: Path, out: Path) -> int:
    """The ``nemo-contract drift`` command: reports written, a summary printed, 1 on drift."""
    try:
        result = find_drift(recording_dir)
    except CassetteError as exc:
        print(f"nemo-contract drift: {exc}", file=sys.stderr)
        return 2
    paths = write_reports(result, out)
    groups = result.grouped()
    print(
        f"{result.exchanges} exchanges ({sum(result.checked.values())} against the contract, "
        f"{result.events} SSE events) recorded from {result.upstream}"
    )
    for drift, count, refs in groups:
        print(
            f"  {MARK['fail']} {drift.kind} {drift.operation} {drift.where}: {drift.detail} "
            f"({count}x, first {refs[0]})"
        )
    for b in result.behaviours:
        mark = (
            MARK["fail"]
            if b.drift
            else MARK["not_exercised"]
            if "not judged" in b.confidence
            else MARK["pass"]
        )
        print(f"  {mark} {b.name}: assumed {b.assumed}; recorded {b.seen} ({b.confidence})")
    moved = sum(b.drift for b in result.behaviours)
    print(
        f"drift: {len(groups)} against the contract, {moved} against the mock's assumptions"
        if result.drifted
        else "no drift"
    )
    print("reports: " + ", ".join(str(p) for p in paths))
    return 1 if result.drifted else 0
