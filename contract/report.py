"""Reports of a client run: JUnit XML for CI, a Markdown and an HTML compatibility matrix.

The matrix has one row per scenario and one column per documented rule family; each cell is the
scenario's verdict on the obligations of that family, linked (HTML) to the evidence: what was
expected, what happened, and where in the journal (request ids and virtual times).
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from .obligations import OBLIGATIONS
from .runner import ScenarioResult

__all__ = ["summary", "write_html", "write_junit", "write_markdown"]

MARK = {"pass": "✅", "fail": "❌", "not_exercised": "➖"}


def summary(results: Sequence[ScenarioResult]) -> dict[str, int]:
    counts = {"pass": 0, "fail": 0, "not_exercised": 0}
    for result in results:
        counts[result.outcome] += 1
    return counts


def _families(results: Sequence[ScenarioResult]) -> list[str]:
    seen: dict[str, None] = {}
    for result in results:
        for verdict in result.verdicts:
            seen[OBLIGATIONS[verdict.obligation].rule.split(":")[0]] = None
    return list(seen)


def _cell(result: ScenarioResult, family: str) -> str:
    verdicts = [
        v for v in result.verdicts if OBLIGATIONS[v.obligation].rule.split(":")[0] == family
    ]
    if not verdicts:
        return ""
    if any(v.status == "fail" for v in verdicts):
        return MARK["fail"]
    if all(v.status == "not_exercised" for v in verdicts):
        return MARK["not_exercised"]
    return MARK["pass"]


def write_junit(results: Sequence[ScenarioResult], path: Path, client: str) -> None:
    counts = summary(results)
    suite = ET.Element(
        "testsuite",
        name=f"nemo-contract client: {client}",
        tests=str(len(results)),
        failures=str(counts["fail"]),
        skipped=str(counts["not_exercised"]),
        time=f"{sum(r.wall for r in results):.2f}",
    )
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"nemo_contract.{result.scenario.rule}",
            name=result.scenario.id,
            time=f"{result.wall:.2f}",
        )
        details = "\n".join(
            f"[{v.status}] {v.obligation}: {v.detail}" + "".join(f"\n    {r}" for r in v.refs)
            for v in result.verdicts
        )
        if result.outcome == "fail":
            failure = ET.SubElement(case, "failure", message=result.reason[:500])
            failure.text = details
        elif result.outcome == "not_exercised":
            ET.SubElement(case, "skipped", message=f"not exercised: {result.reason}"[:500])
        ET.SubElement(case, "system-out").text = details
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def write_markdown(results: Sequence[ScenarioResult], path: Path, client: str) -> None:
    families = _families(results)
    counts = summary(results)
    lines = [
        f"# Compatibility of `{client}`",
        "",
        f"{counts['pass']} passed, {counts['fail']} failed, {counts['not_exercised']} not "
        f"exercised, of {len(results)} scenarios. ✅ holds · ❌ broken · ➖ not exercised.",
        "",
        "| scenario | rule | " + " | ".join(families) + " | outcome |",
        "|---|---|" + "---|" * len(families) + "---|",
    ]
    for result in results:
        cells = " | ".join(_cell(result, f) for f in families)
        lines.append(
            f"| {result.scenario.id} | {result.scenario.rule} | {cells} | {MARK[result.outcome]} |"
        )
    failing = [r for r in results if r.outcome != "pass"]
    if failing:
        lines += ["", "## Evidence", ""]
        for result in failing:
            lines.append(
                f"### {MARK[result.outcome]} {result.scenario.id}: {result.scenario.title}"
            )
            lines.append("")
            for verdict in result.verdicts:
                if verdict.status == "pass":
                    continue
                source = OBLIGATIONS[verdict.obligation].source
                lines.append(
                    f"- {MARK[verdict.status]} `{verdict.obligation}` ({source}): {verdict.detail}"
                )
                lines += [f"  - `{ref}`" for ref in verdict.refs]
            lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_html(results: Sequence[ScenarioResult], path: Path, client: str) -> None:
    e = html.escape
    families = _families(results)
    counts = summary(results)
    rows = []
    for result in results:
        cells = "".join(
            f'<td><a href="#{e(result.scenario.id)}">{_cell(result, f)}</a></td>' for f in families
        )
        rows.append(
            f"<tr class='{result.outcome}'><td><a href='#{e(result.scenario.id)}'>"
            f"{e(result.scenario.id)}</a></td><td>{e(result.scenario.rule)}</td>{cells}"
            f"<td>{MARK[result.outcome]}</td></tr>"
        )
    details = []
    for result in results:
        items = "".join(
            f"<li class='{v.status}'>{MARK[v.status]} <code>{e(v.obligation)}</code>: "
            f"{e(v.detail)}"
            + "".join(f"<br><small><code>{e(r)}</code></small>" for r in v.refs)
            + "</li>"
            for v in result.verdicts
        )
        details.append(
            f"<section id='{e(result.scenario.id)}'><h3>{MARK[result.outcome]} "
            f"{e(result.scenario.id)}: {e(result.scenario.title)}</h3>"
            f"<p>{e(result.reason)} · exit codes {result.exit_codes} · {result.wall:.1f} s wall, "
            f"{result.virtual:.0f} s virtual · {result.journal_size} journal entries</p>"
            f"<ul>{items}</ul></section>"
        )
    head = "".join(f"<th>{e(f)}</th>" for f in families)
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>nemo-contract: {e(client)}</title><style>
body{{font-family:system-ui,sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:center}} td:first-child{{text-align:left}}
tr.fail{{background:#fee}} tr.not_exercised{{background:#ffd}} li.fail{{color:#a00}}
section{{border-top:1px solid #ddd;margin-top:1em}}</style></head><body>
<h1>Compatibility of <code>{e(client)}</code></h1>
<p>{counts["pass"]} passed, {counts["fail"]} failed, {counts["not_exercised"]} not exercised,
of {len(results)} scenarios.</p>
<table><tr><th>scenario</th><th>rule</th>{head}<th>outcome</th></tr>{"".join(rows)}</table>
<h2>Evidence</h2>{"".join(details)}</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
