"""The drift report: Markdown for people, JUnit XML for CI (one test case per operation, the
SSE events and each behaviour), both from one `DriftResult`."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..report import MARK
from .behaviour import Behaviour
from .schema import Drift

__all__ = ["DriftResult", "write_junit", "write_markdown"]


@dataclass
class DriftResult:
    recording: Path
    upstream: str
    exchanges: int
    checked: Counter[str] = field(default_factory=Counter)  # exchanges per operation
    events: int = 0
    outside: Counter[str] = field(default_factory=Counter)  # calls outside the contract
    drifts: list[Drift] = field(default_factory=list)
    behaviours: list[Behaviour] = field(default_factory=list)

    def grouped(self) -> list[tuple[Drift, int, list[str]]]:
        """Each distinct drift once (kind, operation, where), with how often and where seen."""
        groups: dict[tuple[str, str, str], list[Drift]] = defaultdict(list)
        for drift in self.drifts:
            groups[drift.key].append(drift)
        return [(found[0], len(found), [d.ref for d in found]) for found in groups.values()]

    @property
    def drifted(self) -> bool:
        return bool(self.drifts) or any(b.drift for b in self.behaviours)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_markdown(result: DriftResult, path: Path) -> None:
    groups = result.grouped()
    moved = [b for b in result.behaviours if b.drift]
    verdict = (
        f"{MARK['fail']} **drift**: {len(groups)} contract finding(s), {len(moved)} behaviour(s)"
        if result.drifted
        else f"{MARK['pass']} **no drift**"
    )
    lines = [
        "# Drift report",
        "",
        f"Recording `{result.recording}` of `{result.upstream}`: {result.exchanges} exchanges, "
        f"{sum(result.checked.values())} against the contract, {result.events} SSE events.",
        "",
        verdict,
        "",
        "## Against openapi.yaml",
        "",
    ]
    if groups:
        lines += [
            "| kind | operation | where | detail | seen | first at |",
            "|---|---|---|---|---|---|",
        ]
        for drift, count, refs in groups:
            lines.append(
                f"| {drift.kind} | {drift.operation} | `{_cell(drift.where)}` | "
                f"{_cell(drift.detail)} | {count} | {_cell(refs[0])} |"
            )
    else:
        lines.append("Every request, response and event matches the contract.")
    lines += [
        "",
        "Checked: "
        + (", ".join(f"{op} {n}" for op, n in sorted(result.checked.items())) or "none"),
        "",
        "Values that vary from run to run (ids, timestamps, tokens) are judged by the schemas "
        "only, never compared, so they are never drift.",
    ]
    if result.outside:
        lines += [
            "",
            "Outside the contract (not operations; recorded, not judged): "
            + ", ".join(f"{p} {n}" for p, n in sorted(result.outside.items())),
        ]
    lines += [
        "",
        "## Against the mock's assumptions (x-assumed)",
        "",
        "| behaviour | the mock assumes | recorded | count | confidence | |",
        "|---|---|---|---|---|---|",
    ]
    for b in result.behaviours:
        mark = (
            MARK["fail"]
            if b.drift
            else MARK["pass"]
            if "not judged" not in b.confidence
            else MARK["not_exercised"]
        )
        lines.append(
            f"| {b.name} | {_cell(b.assumed)} | {_cell(b.seen)} | {b.count} | "
            f"{_cell(b.confidence)} | {mark} |"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_junit(result: DriftResult, path: Path) -> None:
    groups = result.grouped()
    by_operation: dict[str, list[tuple[Drift, int, list[str]]]] = defaultdict(list)
    for group in groups:
        by_operation[group[0].operation].append(group)
    names = sorted(set(result.checked) | set(by_operation))
    suite = ET.Element(
        "testsuite",
        name=f"nemo-contract drift: {result.upstream}",
        tests=str(len(names) + len(result.behaviours)),
        failures=str(len(by_operation) + sum(b.drift for b in result.behaviours)),
    )
    for name in names:
        case = ET.SubElement(suite, "testcase", classname="nemo_contract.drift", name=name)
        found = by_operation.get(name, [])
        text = "\n".join(
            f"[{d.kind}] {d.where}: {d.detail} ({n}x, first {refs[0]})" for d, n, refs in found
        )
        if found:
            ET.SubElement(case, "failure", message=text.splitlines()[0][:500]).text = text
        ET.SubElement(case, "system-out").text = text or f"{result.checked[name]} exchanges match"
    for b in result.behaviours:
        case = ET.SubElement(
            suite, "testcase", classname="nemo_contract.drift.behaviour", name=b.name
        )
        text = f"assumed {b.assumed}; recorded {b.seen}; {b.confidence}"
        if b.drift:
            ET.SubElement(case, "failure", message=text[:500]).text = text + "".join(
                f"\n    {r}" for r in b.refs
            )
        elif "not judged" in b.confidence:
            ET.SubElement(case, "skipped", message=text[:500])
        ET.SubElement(case, "system-out").text = text
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
