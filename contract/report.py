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

from .evidence import Timing, Verdict
from .obligations import OBLIGATIONS
from .runner import ScenarioResult
from .timeline import timeline_svg

__all__ = ["LABEL", "MARK", "icon", "summary", "write_html", "write_junit", "write_markdown"]

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


def _noisy_text(counts: dict[str, int]) -> str:
    return f", {counts['noisy']} inside the noise" if counts.get("noisy") else ""


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


def write_html(results: Sequence[ScenarioResult], path: Path, client: str) -> None:
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
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>nemo-contract: {e(client)}</title><style>
body{{font-family:system-ui,sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:center}} td:first-child{{text-align:left}}
tr.fail{{background:#fee}} tr.not_exercised{{background:#ffd}} tr.noisy{{background:#fff3e0}}
li.fail{{color:#a00}} li.noisy{{color:#8a5a00}} li{{list-style:none;margin:2px 0}}
svg.icon{{width:1.1em;height:1.1em;vertical-align:-0.2em}}
svg.timeline{{max-width:100%;height:auto;display:block;margin:0.5em 0}}
section{{border-top:1px solid #ddd;margin-top:1em}}</style></head><body>{_SPRITE}
<h1>Compatibility of <code>{e(client)}</code></h1>
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
