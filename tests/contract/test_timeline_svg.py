"""The HTML report's pictures: the per-scenario timeline and the verdict icons."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from contract.catalogue import CATALOGUE
from contract.evidence import Timing, Verdict
from contract.report import MARK, summary, write_html, write_markdown
from contract.runner import ScenarioResult
from contract.timeline import timeline_svg

SVG = "{http://www.w3.org/2000/svg}"
START = 1000.0  # the scenario's virtual start: entries carry absolute virtual times
RED = "#c62828"
EMOJI = re.compile("[\u2700-\u27bf\U0001f300-\U0001faff]")


def entry(
    id: int,
    operation: str | None,
    at: float,
    until: float | None = None,
    *,
    method: str = "GET",
    path: str = "/api/x",
    status: int | None = 200,
    code: int | None = 0,
    rule: str | None = None,
    events: tuple[float, ...] = (),
    heartbeats: tuple[float, ...] = (),
) -> dict[str, Any]:
    """A journal entry as `Entry.public()` shows it, at ``at`` seconds after the start."""
    return {
        "id": id,
        "method": method,
        "path": path,
        "operation": operation,
        "status": status,
        "code": code,
        "virtual_start": START + at,
        "virtual_end": None if until is None else START + until,
        "real_start": 0.0,
        "real_end": 0.0,
        "rule": rule,
        "notes": [],
        "response": {"code": code, "data": {"status": "rendering"}},
        "events": [{"virtual": START + t, "data": {"type": "text"}} for t in events],
        "heartbeats": [START + t for t in heartbeats],
    }


def render_journal() -> list[dict[str, Any]]:
    """A client that uploads, chats over a stream, submits a render and polls it four times."""
    return [
        entry(1, "createAnonymousToken", 0.0, 0.2, method="POST", path="/api/auth/anonymous"),
        entry(2, "createSession", 0.3, 0.5, method="POST", path="/api/sessions"),
        entry(3, "uploadFiles", 0.6, 1.4, method="POST", status=429, code=429, rule="rate:1"),
        entry(4, "uploadFiles", 3.0, 3.6, method="POST"),
        entry(5, "runSse", 4.0, 40.0, method="POST", events=(5, 6, 30), heartbeats=(15, 30)),
        entry(6, "submitRender", 41.0, 41.3, method="POST", path="/api/renders"),
        *(entry(7 + n, "getRender", 42.0 + 31 * n, 42.1 + 31 * n) for n in range(4)),
        entry(11, None, 170.0, 171.0, path="/cdn/out.mp4"),
    ]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def marks(root: ET.Element, css: str) -> list[ET.Element]:
    return [el for el in root.iter() if css in (el.get("class") or "").split()]


def test_the_timeline_is_xml_with_one_mark_per_request_and_per_poll() -> None:
    journal = render_journal()
    root = parse(timeline_svg(journal, START, duration=175.0))

    assert root.tag == f"{SVG}svg"
    drawn = [el.get("data-entry") for el in root.iter() if el.get("data-entry")]
    product = [str(e["id"]) for e in journal if e["operation"] is not None]
    assert sorted(d for d in drawn if d in product) == sorted(product)  # each exactly once
    polls = marks(root, "tl-poll")
    assert [p.get("data-entry") for p in polls] == ["7", "8", "9", "10"]
    assert len(marks(root, "tl-req")) == 5  # token, session, 2 uploads, submit
    assert [s.get("data-entry") for s in marks(root, "tl-stream")] == ["5"]
    # the CDN download has no operation: it goes to the "other" lane
    assert [o.get("data-entry") for o in marks(root, "tl-other")] == ["11"]


def test_marks_are_coloured_by_status_and_tell_what_happened() -> None:
    root = parse(timeline_svg(render_journal(), START))

    refused = next(el for el in marks(root, "tl-req") if el.get("data-entry") == "3")
    assert "tl-429" in (refused.get("class") or "")
    title = refused.find(f"{SVG}title")
    assert title is not None
    assert title.text is not None
    assert title.text.startswith("#3 POST /api/x → 429 code 429 @t+0.6s")
    assert [r.find(f"{SVG}title") is not None for r in marks(root, "tl-rule")] == [True]
    assert len(marks(root, "tl-events")) == 1
    assert len(marks(root, "tl-beats")) == 1


def test_a_failed_timing_verdict_draws_its_allowed_band_and_is_red() -> None:
    gap = Timing(value=12.0, low=30.0, high=None, noise=0.5, lag=0.2, start=42.0, end=54.0,
                 what="poll gap")  # fmt: skip
    held = Timing(value=36.0, low=0.0, high=600.0, noise=0.5, lag=0.0, start=4.0, end=40.0,
                  what="stream held")  # fmt: skip
    verdicts = [
        Verdict("polls_30s_apart", "fail", "polled 12 s apart", timing=gap),
        Verdict("sse_keeps_stream", "pass", "held", timing=held),
        Verdict("at_most_10_polls", "pass", "4 polls"),  # not a timing verdict: no row
    ]
    root = parse(timeline_svg(render_journal(), START, verdicts))

    rows = {g.get("data-obligation"): g for g in marks(root, "tl-timing")}
    assert set(rows) == {"polls_30s_apart", "sse_keeps_stream"}
    failed = rows["polls_30s_apart"]
    assert "tl-fail" in (failed.get("class") or "")
    (band,) = marks(failed, "tl-allowed")
    (span,) = marks(failed, "tl-span")
    assert span.get("stroke") == RED
    # the band starts where a 30 s gap would have ended, right of the measured end
    span_end = float(re.findall(r"H([\d.]+)", span.get("d") or "")[0])
    assert float(band.get("x") or 0) > span_end
    assert float(band.get("width") or 0) > 0
    assert marks(failed, "tl-noise")
    assert marks(rows["sse_keeps_stream"], "tl-span")[0].get("stroke") != RED


def test_a_fifteen_minute_run_stays_small_and_is_labelled_in_minutes() -> None:
    beats = tuple(15.0 * n for n in range(1, 61))
    journal = [entry(1, "runSse", 0.0, 905.0, method="POST", heartbeats=beats)]
    journal += [entry(2 + n, "getSessionState", 3.0 * n, 3.0 * n + 0.1) for n in range(300)]
    svg = timeline_svg(journal, START)
    root = parse(svg)

    assert len(marks(root, "tl-req")) == 300
    (beat_path,) = marks(root, "tl-beats")
    assert (beat_path.get("d") or "").count("M") <= 60
    labels = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert "10 min" in labels
    assert len(svg) < 150_000


def test_text_from_the_journal_is_escaped() -> None:
    journal = [entry(1, "getCredits", 0.0, 1.0, path='/api/<script>&x="1"', rule="a<b>")]
    svg = timeline_svg(journal, START)

    assert "<script>" not in svg
    assert parse(svg) is not None


def test_an_empty_journal_still_draws_an_axis() -> None:
    root = parse(timeline_svg([], START))

    assert any(t.text == "no requests recorded" for t in root.iter(f"{SVG}text"))


def result(scenario: str, outcome: Any, verdicts: list[Verdict], **kw: Any) -> ScenarioResult:
    return ScenarioResult(CATALOGUE[scenario], verdicts, outcome, "why", 1.0, 175.0, **kw)


def results() -> list[ScenarioResult]:
    gap = Timing(12.0, 30.0, None, 0.5, 0.2, 42.0, 54.0, "poll gap")
    near = Timing(29.8, 30.0, None, 0.5, 0.2, 42.0, 71.8, "poll gap")
    return [
        result(
            "render-slow",
            "fail",
            [Verdict("polls_30s_apart", "fail", "polled 12 s apart", ("#8 GET",), gap)],
            entries=render_journal(),
            virtual_start=START,
        ),
        result(
            "render-retry",
            "pass",
            [Verdict("polls_30s_apart", "noisy", "29.8 s, inside the noise", timing=near)],
            entries=render_journal(),
            virtual_start=START,
            noise=0.5,
            scales_tried=[100.0, 30.0],
        ),
        result("err-429", "not_exercised", [Verdict("retry_429_once", "not_exercised", "no")]),
    ]


def test_the_html_page_draws_icons_without_emoji(tmp_path: Path) -> None:
    write_html(results(), tmp_path / "matrix.html", "demo")
    page = (tmp_path / "matrix.html").read_text(encoding="utf-8")

    assert not EMOJI.findall(page)
    for label in ("holds", "broken", "not exercised", "inside the noise"):
        assert f'aria-label="{label}"' in page
    assert page.count('href="#icon-noisy"') >= 2  # the legend and the noisy verdict
    for svg in re.findall(r"<svg.*?</svg>", page, re.S):
        parse(svg)  # every picture is well-formed


def test_every_scenario_gets_a_timeline_even_with_an_empty_journal(tmp_path: Path) -> None:
    write_html(results(), tmp_path / "matrix.html", "demo")
    page = (tmp_path / "matrix.html").read_text(encoding="utf-8")

    sections = re.findall(r"<section id='([^']+)'>(.*?)</section>", page, re.S)
    assert [s for s, _ in sections] == ["render-slow", "render-retry", "err-429"]
    assert all('class="timeline"' in body for _, body in sections)
    assert "no requests recorded" in sections[2][1]
    assert "scales tried: 100×, 30×" in sections[1][1]


def test_markdown_and_the_summary_know_the_noisy_status(tmp_path: Path) -> None:
    write_markdown(results(), tmp_path / "matrix.md", "demo")
    markdown = (tmp_path / "matrix.md").read_text(encoding="utf-8")

    assert set(MARK) == {"pass", "fail", "not_exercised", "noisy"}
    assert f"{MARK['noisy']} inside the noise" in markdown
    assert "| render-retry | render | " + MARK["noisy"] in markdown
    assert summary(results())["fail"] == 1
