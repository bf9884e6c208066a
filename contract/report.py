"""Reports of a client run: JUnit XML for CI, a Markdown and an HTML compatibility matrix, and
``matrix.json``, the machine-readable record of the run.

The matrix has one row per scenario and one column per documented rule family; each cell is the
scenario's verdict on the obligations of that family, linked (HTML) to the evidence: what was
expected, what happened, and where in the journal (request ids and virtual times).

``matrix.json`` holds the matrix and every result in full (verdicts, timings, the journal), plus
what a merge of shard runs checks: the client, a fingerprint of the catalogue, the run's options,
the selection (every scenario ``--only`` chose, before sharding) and the shard with the scenarios
it covered. `contract.merge` reads it back and writes the other reports from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalogue import CATALOGUE
from .evidence import Timing, Verdict
from .obligations import OBLIGATIONS
from .runner import DEFAULT_SCALE, ScenarioResult
from .sharding import WHOLE, Shard
from .timeline import timeline_svg

__all__ = [
    "FORMAT",
    "LABEL",
    "MARK",
    "VERSION",
    "RunInfo",
    "catalogue_fingerprint",
    "icon",
    "result_as_json",
    "summary",
    "write_html",
    "write_json",
    "write_junit",
    "write_markdown",
    "write_reports",
]

FORMAT = "nemo-contract client report"
VERSION = 1

# Markdown and the terminal keep emoji: GitHub and terminals render them. The HTML page does not
# (headless Chromium on Debian has no emoji font and draws boxes): it uses `icon`.
MARK = {"pass": "✅", "fail": "❌", "not_exercised": "➖", "noisy": "〰"}
LABEL = {
    "pass": "holds",
    "fail": "broken",
    "not_exercised": "not exercised",
    "noisy": "inside the noise",
}
# One symbol per status, defined once per page and drawn with <use>: a coloured disc with a
# white glyph stroked as a path, so no font is involved.
_GLYPH = {
    "pass": ("#2e7d32", "M4.5 8.5l2.4 2.4 4.6-5.1"),
    "fail": ("#c62828", "M5.2 5.2l5.6 5.6M10.8 5.2l-5.6 5.6"),
    "not_exercised": ("#8a8a8a", "M4.6 8h6.8"),
    "noisy": ("#e08e00", "M3.6 8.6c1.5-2.2 2.9-2.2 4.4 0s2.9 2.2 4.4 0"),
}
_SPRITE = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="0" height="0" aria-hidden="true" '
    'style="position:absolute">'
    + "".join(
        f'<symbol id="icon-{status}" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7.5" '
        f'fill="{colour}"/><path d="{d}" fill="none" stroke="#fff" stroke-width="2" '
        f'stroke-linecap="round" stroke-linejoin="round"/></symbol>'
        for status, (colour, d) in _GLYPH.items()
    )
    + "</svg>"
)


def icon(status: str) -> str:
    """The verdict icon for the HTML page: an inline SVG, labelled for tooltips and readers."""
    label = html.escape(LABEL[status])
    return (
        f'<svg class="icon" width="16" height="16" viewBox="0 0 16 16" role="img" '
        f'aria-label="{label}"><title>{label}</title><use href="#icon-{status}"/></svg>'
    )


def summary(results: Sequence[ScenarioResult]) -> dict[str, int]:
    counts = {"pass": 0, "fail": 0, "not_exercised": 0, "noisy": 0}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    return counts


def _families(results: Sequence[ScenarioResult]) -> list[str]:
    seen: dict[str, None] = {}
    for result in results:
        for verdict in result.verdicts:
            seen[OBLIGATIONS[verdict.obligation].rule.split(":")[0]] = None
    return list(seen)


def _cell(result: ScenarioResult, family: str) -> str | None:
    """The status of a scenario's verdicts on one rule family (None: it judged none of them)."""
    verdicts = [
        v for v in result.verdicts if OBLIGATIONS[v.obligation].rule.split(":")[0] == family
    ]
    if not verdicts:
        return None
    if any(v.status == "fail" for v in verdicts):
        return "fail"
    # a family is only as sure as its least sure verdict: one inside the noise makes it noisy
    if any(v.status == "noisy" for v in verdicts):
        return "noisy"
    if all(v.status == "not_exercised" for v in verdicts):
        return "not_exercised"
    return "pass"


def catalogue_fingerprint() -> str:
    """A digest of every scenario and obligation as defined here: runs whose fingerprints differ
    judged by different rules, and their reports cannot be merged."""
    scenarios = [dataclasses.asdict(s) for s in CATALOGUE.values()]
    obligations = [(o.name, o.rule, o.source) for o in OBLIGATIONS.values()]
    text = json.dumps([scenarios, obligations], sort_keys=True, default=repr)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RunInfo:
    """What a run was: recorded in ``matrix.json`` so shard runs can be checked and merged."""

    client: str
    selection: tuple[str, ...]  # every scenario selected (after --only), before sharding
    shard: Shard = WHOLE
    seed: int = 0
    scale: float = DEFAULT_SCALE  # as asked for; each result records the scale it ran at
    min_scale: float = 1.0
    mode: str = "inprocess"  # inprocess | subprocess

    @property
    def run(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "scale": self.scale,
            "min_scale": self.min_scale,
            "mode": self.mode,
        }


def write_reports(results: Sequence[ScenarioResult], out: Path, info: RunInfo) -> list[Path]:
    """Every report of a run into ``out``; the paths written."""
    shard = info.shard if info.shard.count > 1 else None
    paths = [out / "junit.xml", out / "matrix.md", out / "matrix.html", out / "matrix.json"]
    write_junit(results, paths[0], info.client, shard=shard)
    write_markdown(results, paths[1], info.client, shard=shard)
    write_html(results, paths[2], info.client, shard=shard)
    write_json(results, paths[3], info)
    return paths


def _shard_text(shard: Shard | None, results: Sequence[ScenarioResult]) -> str:
    if shard is None:
        return ""
    return (
        f"Shard {shard} of the selected scenarios: {len(results)} here "
        "(`nemo-contract merge` joins the shards into the whole run's reports)."
    )


def write_json(results: Sequence[ScenarioResult], path: Path, info: RunInfo) -> None:
    families = _families(results)
    counts = summary(results)
    document = {
        "format": FORMAT,
        "version": VERSION,
        "client": info.client,
        "catalogue": catalogue_fingerprint(),
        "run": info.run,
        "selection": list(info.selection),
        "shard": {"index": info.shard.index, "count": info.shard.count},
        "scenarios": [r.scenario.id for r in results],
        "summary": {**counts, "total": len(results)},
        "matrix": {
            "families": families,
            "rows": [
                {
                    "scenario": r.scenario.id,
                    "rule": r.scenario.rule,
                    "cells": {f: _cell(r, f) for f in families},
                    "outcome": r.outcome,
                }
                for r in results
            ],
        },
        "results": [result_as_json(r) for r in results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def result_as_json(result: ScenarioResult) -> dict[str, Any]:
    """Every field of the result, the scenario by its id (`contract.merge` reads it back)."""
    out: dict[str, Any] = {"scenario": result.scenario.id}
    for item in dataclasses.fields(result):
        if item.name == "scenario":
            continue
        value = getattr(result, item.name)
        if item.name == "verdicts":
            value = [dataclasses.asdict(v) for v in value]
        out[item.name] = value
    return out


def _noisy_text(counts: dict[str, int]) -> str:
    return f", {counts['noisy']} inside the noise" if counts.get("noisy") else ""


def write_junit(
    results: Sequence[ScenarioResult], path: Path, client: str, *, shard: Shard | None = None
) -> None:
    counts = summary(results)
    suite = ET.Element(
        "testsuite",
        name=f"nemo-contract client: {client}" + (f" (shard {shard})" if shard else ""),
        tests=str(len(results)),
        failures=str(counts["fail"]),
        skipped=str(counts["not_exercised"]),
        time=f"{sum(r.wall for r in results):.2f}",
    )
    if shard is not None:
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="shard", value=str(shard))
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


def write_markdown(
    results: Sequence[ScenarioResult], path: Path, client: str, *, shard: Shard | None = None
) -> None:
    families = _families(results)
    counts = summary(results)
    lines = [
        f"# Compatibility of `{client}`",
        "",
        *([_shard_text(shard, results), ""] if shard else []),
        f"{counts['pass']} passed, {counts['fail']} failed, {counts['not_exercised']} not "
        f"exercised{_noisy_text(counts)}, of {len(results)} scenarios. "
        + " · ".join(f"{MARK[s]} {LABEL[s]}" for s in MARK)
        + ".",
        "",
        "| scenario | rule | " + " | ".join(families) + " | outcome |",
        "|---|---|" + "---|" * len(families) + "---|",
    ]
    for result in results:
        cells = " | ".join(MARK.get(_cell(result, f) or "", "") for f in families)
        lines.append(
            f"| {result.scenario.id} | {result.scenario.rule} | {cells} | {MARK[result.outcome]} |"
        )
    # a verdict inside the noise is worth a look even when the scenario passed
    failing = [
        r for r in results if r.outcome != "pass" or any(v.status == "noisy" for v in r.verdicts)
    ]
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


def write_html(
    results: Sequence[ScenarioResult], path: Path, client: str, *, shard: Shard | None = None
) -> None:
    e = html.escape
    families = _families(results)
    counts = summary(results)
    rows = []
    for result in results:
        anchor = e(result.scenario.id)
        cells = "".join(
            f'<td><a href="#{anchor}">{icon(status)}</a></td>' if status else "<td></td>"
            for status in (_cell(result, f) for f in families)
        )
        rows.append(
            f"<tr class='{result.outcome}'><td><a href='#{anchor}'>{anchor}</a></td>"
            f"<td>{e(result.scenario.rule)}</td>{cells}<td>{icon(result.outcome)}</td></tr>"
        )
    details = "".join(_section(result) for result in results)
    head = "".join(f"<th>{e(f)}</th>" for f in families)
    legend = " · ".join(f"{icon(s)} {e(LABEL[s])}" for s in LABEL)
    note = f"\n<p>{e(_shard_text(shard, results))}</p>" if shard else ""
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>nemo-contract: {e(client)}</title><style>
body{{font-family:system-ui,sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:center}} td:first-child{{text-align:left}}
tr.fail{{background:#fee}} tr.not_exercised{{background:#ffd}} tr.noisy{{background:#fff3e0}}
li.fail{{color:#a00}} li.noisy{{color:#8a5a00}} li{{list-style:none;margin:2px 0}}
svg.icon{{width:1.1em;height:1.1em;vertical-align:-0.2em}}
svg.timeline{{max-width:100%;height:auto;display:block;margin:0.5em 0}}
section{{border-top:1px solid #ddd;margin-top:1em}}</style></head><body>{_SPRITE}
<h1>Compatibility of <code>{e(client)}</code></h1>{note}
<p>{counts["pass"]} passed, {counts["fail"]} failed, {counts["not_exercised"]} not \
exercised{_noisy_text(counts)}, of {len(results)} scenarios. {legend}.</p>
<table><tr><th>scenario</th><th>rule</th>{head}<th>outcome</th></tr>{"".join(rows)}</table>
<h2>Evidence</h2>{details}</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")


def _section(result: ScenarioResult) -> str:
    """A scenario's evidence: the run, its timeline, and every verdict with its references."""
    e = html.escape
    items = "".join(_verdict_item(v) for v in result.verdicts)
    tried = ", ".join(f"{s:g}×" for s in result.scales_tried)
    run = (
        f"clock {result.scale:g}× (scales tried: {tried})" if tried else f"clock {result.scale:g}×"
    )
    if result.noise:
        run += f", timing noise {result.noise:.2f} s"
    picture = timeline_svg(
        result.entries, result.virtual_start, result.verdicts, duration=result.virtual
    )
    return (
        f"<section id='{e(result.scenario.id)}'><h3>{icon(result.outcome)} "
        f"{e(result.scenario.id)}: {e(result.scenario.title)}</h3>"
        f"<p>{e(result.reason)} · exit codes {result.exit_codes} · {result.wall:.1f} s wall, "
        f"{result.virtual:.0f} s virtual · {result.journal_size} journal entries · "
        f"{e(run)}</p>{picture}<ul>{items}</ul></section>"
    )


def _verdict_item(v: Verdict) -> str:
    e = html.escape
    timing = f"<br><small>{e(_timing_text(v.timing))}</small>" if v.timing else ""
    refs = "".join(f"<br><small><code>{e(r)}</code></small>" for r in v.refs)
    return (
        f"<li class='{v.status}'>{icon(v.status)} <code>{e(v.obligation)}</code>: "
        f"{e(v.detail)}{timing}{refs}</li>"
    )


def _timing_text(t: Timing) -> str:
    allowed = f"{t.low:g}–{t.high:g} s" if t.high is not None else f"≥ {t.low:g} s"
    return (
        f"{t.what}: {t.value:.1f} s measured t+{t.start:.1f}s → t+{t.end:.1f}s, allowed "
        f"{allowed}, noise {t.noise:.2f} s, lag {t.lag:.2f} s"
    )
