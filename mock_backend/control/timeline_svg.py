"""A run's timeline as an inline SVG: what the client did, when, and what the rules allowed.

Drawn from journal entries as the control API shows them, so both readers of the journal use
it: the compatibility report (`contract.report`, with its timing verdicts) and the mock's own
console (``GET /__mock/sessions/{id}/timeline.svg``, without verdicts). It lives here, beside
the journal, because the mock must not import the suite; the verdicts it draws are described by
the two protocols below, which `contract.evidence.Verdict` and `Timing` satisfy.

The horizontal axis is virtual seconds since the scenario started. Lanes, top to bottom:
product requests (every entry with an operation except polls and streams, as bars from start to
end, packed into up to three rows when they overlap), render polls (``getRender``, one mark
each), SSE streams (``runSse``, a bar with event ticks above its middle and heartbeat ticks
below), the scenario rules that fired, and "other" (entries with no operation: CDN downloads and
control calls). Then one row per timing verdict, labelled with its obligation: the measured
span (``start`` to ``end``), red when the verdict failed; shaded from ``start + low`` to
``start + high``, where the span's end had to fall; the noise band around the measured end
(``value - noise`` to ``value + lag``: where the client's intent may really lie); and a caption
with the numbers. Tooltips (``<title>``) give each mark's journal reference.

The picture is a pure function of the journal and the verdicts, self-contained (colours are
attributes, not CSS, so nothing leaks into or out of the page that embeds it) and cheap: ticks
that would land on the same pixel are drawn once, in one path per stream.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["timeline_svg"]

WIDTH = 960
GUTTER = 160  # lane labels and obligation names
RIGHT = 16
PLOT = WIDTH - GUTTER - RIGHT
ROW = 12  # one row of request bars
LANE_GAP = 6
OWN_LANES = ("getRender", "runSse")  # operations drawn in lanes of their own

# by what a reader must tell apart at a glance: fine, refused, slowed down, crashed, cut off
KIND_COLOUR = {
    "ok": "#43a047",
    "error": "#e53935",
    "429": "#fb8c00",
    "5xx": "#8e24aa",
    "cut": "#9e9e9e",
}
STATUS_COLOUR = {
    "pass": "#2e7d32",
    "fail": "#c62828",
    "noisy": "#e08e00",
    "not_exercised": "#757575",
}
STREAM_FILL = "#eceff1"  # neutral: green is taken by the allowed bands
EVENT_COLOUR = "#1565c0"
BEAT_COLOUR = "#d81b60"
RULE_COLOUR = "#6d4c41"
ALLOWED_FILL = "#c8e6c9"
NOISE_FILL = "#ffe082"
GRID = "#e0e0e0"
_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)

e = html.escape


class Timing(Protocol):
    """How a timing verdict was decided (`contract.evidence.Timing`), in virtual seconds."""

    @property
    def value(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def high(self) -> float | None: ...
    @property
    def noise(self) -> float: ...
    @property
    def lag(self) -> float: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def what(self) -> str: ...


class Verdict(Protocol):
    """A verdict as the picture needs it (`contract.evidence.Verdict`)."""

    @property
    def obligation(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def timing(self) -> Timing | None: ...


@dataclass(frozen=True)
class _Axis:
    end: float  # virtual seconds at the right edge of the plot

    def x(self, t: float) -> float:
        # times outside the run (setup before the start, a bound far after it) hug the edges
        return GUTTER + PLOT * min(max(t, 0.0), self.end) / self.end


def timeline_svg(
    entries: Sequence[dict[str, Any]],
    virtual_start: float,
    verdicts: Sequence[Verdict] = (),
    *,
    duration: float = 0.0,
) -> str:
    """The SVG picture of one scenario run (``duration``: its virtual length, if known)."""
    rel = sorted((_Entry.of(entry, virtual_start) for entry in entries), key=lambda r: r.t0)
    timed = [(v, v.timing) for v in verdicts if v.timing is not None]
    axis = _Axis(_extent(rel, [t for _, t in timed], duration))
    ops = [r for r in rel if r.operation is not None]
    lanes = [
        _Lane("requests", [r for r in ops if r.operation not in OWN_LANES], "bar", 3),
        _Lane("render polls", [r for r in ops if r.operation == "getRender"], "dot"),
        _Lane("streams", [r for r in ops if r.operation == "runSse"], "stream", 4),
        _Lane("rules fired", [r for r in rel if r.raw.get("rule")], "flag"),
        _Lane("other", [r for r in rel if r.operation is None], "bar", 3, "tl-other"),
    ]
    body: list[str] = []
    y = 22.0  # below the tick labels
    for index, lane in enumerate(lanes):
        if index > 0 and not lane.items:
            continue  # the requests lane always shows, to say when there were none
        height, parts = lane.draw(axis, y)
        body.append(_lane_label(lane.label, y, height))
        body += parts
        y += height + LANE_GAP
    for verdict, timing in timed:
        body += _timing_row(verdict, timing, axis, y)
        y += ROW + 20  # the span, and its caption under it
    grid = _grid(axis, 16.0, y)
    legend = _legend(y + 8)
    height = y + 30
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{WIDTH}" '
        f'height="{height:.0f}" viewBox="0 0 {WIDTH} {height:.0f}" font-size="11" '
        f'font-family="system-ui, sans-serif" aria-label="timeline of the run">'
        + "".join(grid + body + legend)
        + "</svg>"
    )


# -- times -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """A journal entry placed on the axis: seconds since the scenario started."""

    raw: dict[str, Any]
    t0: float
    t1: float | None  # None: never finished (still open when the journal was read)
    events: tuple[float, ...]
    beats: tuple[float, ...]

    @classmethod
    def of(cls, entry: dict[str, Any], origin: float) -> _Entry:
        end = entry.get("virtual_end")
        return cls(
            entry,
            float(entry["virtual_start"]) - origin,
            None if end is None else float(end) - origin,
            tuple(float(ev["virtual"]) - origin for ev in entry.get("events") or []),
            tuple(float(h) - origin for h in entry.get("heartbeats") or []),
        )

    @property
    def operation(self) -> str | None:
        op = self.raw.get("operation")
        return op if isinstance(op, str) else None

    @property
    def last(self) -> float:
        return max([self.t0, self.t1 or 0.0, *self.events, *self.beats])


def _extent(rel: Sequence[_Entry], timings: Sequence[Timing], duration: float) -> float:
    end = max([duration, *(r.last for r in rel), *(t.end for t in timings)])
    # a missed lower bound must be visible even when the client stopped long before it
    end = max([end, *(t.start + t.low for t in timings)])
    for t in timings:
        # an upper bound far past the run would squash everything else into a corner: it runs
        # off the right edge instead
        if t.high is not None and t.start + t.high <= 1.5 * end:
            end = max(end, t.start + t.high)
    return max(end * 1.03, 1.0)


def _step(end: float) -> float:
    return next((s for s in _STEPS if end / s <= 10), _STEPS[-1])


def _secs(t: float) -> str:
    return f"{t:.1f} s" if abs(t) < 120 else f"{t / 60:.1f} min"


def _grid(axis: _Axis, top: float, bottom: float) -> list[str]:
    step = _step(axis.end)
    parts = []
    n = 0
    while n * step <= axis.end:
        t = n * step
        x = axis.x(t)
        label = f"{t:g} s" if step < 60 else f"{t / 60:g} min"
        parts.append(
            f'<line class="tl-grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom:.1f}" '
            f'stroke="{GRID}"/><text x="{x:.1f}" y="12" text-anchor="middle" '
            f'fill="#555">{e(label)}</text>'
        )
        n += 1
    return parts


# -- lanes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Lane:
    """A lane's marks; drawn once the axis and its place on the page are known."""

    label: str
    items: Sequence[_Entry]
    shape: str  # "bar" | "dot" | "flag" | "stream"
    rows: int = 1  # overlapping bars stack into this many rows at most
    css: str = "tl-req"

    def draw(self, axis: _Axis, y: float) -> tuple[float, list[str]]:
        if self.shape == "dot":
            return ROW + 4, [_dot(r, axis, y) for r in self.items]
        if self.shape == "flag":
            return ROW + 2, [_flag(r, axis, y) for r in self.items]
        height = ROW + 4 if self.shape == "stream" else ROW
        spans = [(axis.x(r.t0), _right(r, axis)) for r in self.items]
        packed = _pack(spans, self.rows)
        used = max(packed, default=0) + 1
        if self.shape == "stream":
            parts = [
                _stream(r, axis, y + row * height)
                for r, row in zip(self.items, packed, strict=True)
            ]
        else:
            parts = [
                _bar(r, span, y + row * ROW, self.css)
                for r, span, row in zip(self.items, spans, packed, strict=True)
            ]
        if not self.items:
            parts = [
                f'<text x="{GUTTER + 4}" y="{y + 9:.1f}" fill="#777">no requests recorded</text>'
            ]
        return used * height, parts


def _right(r: _Entry, axis: _Axis) -> float:
    if r.t1 is None:  # still open when the journal was read: it lasted to the end
        return axis.x(axis.end)
    # a bar is at least 2 px wide: a 50 ms request in a 15-minute run must still show
    return max(axis.x(r.last), axis.x(r.t0) + 2)


def _pack(spans: Sequence[tuple[float, float]], rows: int) -> list[int]:
    """Rows for overlapping bars: each goes to the first row free at its start (in pixels),
    or, when all ``rows`` are busy, to the one that frees first (bars may then overlap)."""
    ends = [float("-inf")] * rows
    out = []
    for start, end in spans:
        free = [i for i, last in enumerate(ends) if last + 1 <= start]
        row = free[0] if free else min(range(rows), key=ends.__getitem__)
        ends[row] = max(ends[row], end)
        out.append(row)
    return out


def _kind(entry: dict[str, Any]) -> str:
    status, code = entry.get("status"), entry.get("code")
    if status is None:
        return "cut"
    if 429 in (status, code):
        return "429"
    if status >= 500:
        return "5xx"
    if status >= 400 or code not in (None, 0):
        return "error"
    return "ok"


def _ref(r: _Entry) -> str:
    """The tooltip: "#12 GET /api/renders/r1 → 200 @t+30.0s", as the verdicts' refs read."""
    code = f" code {r.raw['code']}" if r.raw.get("code") not in (None, 0) else ""
    status = "no response" if r.raw.get("status") is None else r.raw["status"]
    text = f"#{r.raw['id']} {r.raw['method']} {str(r.raw['path']).split('?')[0]} → {status}{code} "
    text += f"@t+{r.t0:.1f}s"
    if r.t1 is not None and r.t1 - r.t0 >= 0.05:
        text += f" (for {_secs(r.t1 - r.t0)})"
    if r.raw.get("rule"):
        text += f" · rule {r.raw['rule']}"
    return e(text)


def _bar(r: _Entry, span: tuple[float, float], y: float, css: str) -> str:
    kind = _kind(r.raw)
    return (
        f'<rect class="{css} tl-{kind}" data-entry="{e(str(r.raw["id"]))}" x="{span[0]:.1f}" '
        f'y="{y + 1:.1f}" width="{span[1] - span[0]:.1f}" height="{ROW - 2}" '
        f'fill="{KIND_COLOUR[kind]}" fill-opacity="0.85"><title>{_ref(r)}</title></rect>'
    )


def _dot(r: _Entry, axis: _Axis, y: float) -> str:
    kind = _kind(r.raw)
    response = r.raw.get("response")
    data = response.get("data") if isinstance(response, dict) else None
    state = f" · render {data['status']}" if isinstance(data, dict) and "status" in data else ""
    return (
        f'<circle class="tl-poll tl-{kind}" data-entry="{e(str(r.raw["id"]))}" '
        f'cx="{axis.x(r.t0):.1f}" cy="{y + 8:.1f}" r="4" fill="{KIND_COLOUR[kind]}" '
        f'stroke="#fff"><title>{_ref(r)}{e(str(state))}</title></circle>'
    )


def _flag(r: _Entry, axis: _Axis, y: float) -> str:
    x = axis.x(r.t0)
    return (
        f'<path class="tl-rule" d="M{x - 5:.1f} {y:.1f}h10l-5 9z" fill="{RULE_COLOUR}">'
        f"<title>{e(str(r.raw['rule']))} fired on {_ref(r)}</title></path>"
    )


def _stream(r: _Entry, axis: _Axis, y: float) -> str:
    x0, x1 = axis.x(r.t0), _right(r, axis)
    kind = _kind(r.raw)
    # a stream that never ended is dashed: the client or the mock cut it
    dash = ' stroke-dasharray="4 2"' if r.t1 is None else ""
    title = f"{_ref(r)} · {len(r.events)} events, {len(r.beats)} heartbeats" + "".join(
        f" · {e(str(n))}" for n in r.raw.get("notes") or []
    )
    mid = y + (ROW + 2) / 2
    return (
        f'<g class="tl-stream" data-entry="{e(str(r.raw["id"]))}"><title>{title}</title>'
        f'<rect x="{x0:.1f}" y="{y + 1:.1f}" width="{x1 - x0:.1f}" height="{ROW}" '
        f'fill="{STREAM_FILL}" stroke="{KIND_COLOUR[kind]}"{dash}/>'
        + _ticks("tl-events", r.events, axis, y + 2, mid - y - 2, EVENT_COLOUR)
        + _ticks("tl-beats", r.beats, axis, mid, mid - y - 1, BEAT_COLOUR)
        + "</g>"
    )


def _ticks(css: str, times: Iterable[float], axis: _Axis, y: float, h: float, colour: str) -> str:
    """One path for all the ticks, at most one per pixel: a 15-minute stream stays cheap."""
    columns = sorted({round(axis.x(t)) for t in times})
    if not columns:
        return ""
    d = "".join(f"M{x} {y:.1f}v{h:.1f}" for x in columns)
    return f'<path class="{css}" d="{d}" stroke="{colour}" stroke-width="1.5"/>'


def _lane_label(label: str, y: float, height: float) -> str:
    return (
        f'<text x="{GUTTER - 8}" y="{y + min(height, 16) / 2 + 4:.1f}" text-anchor="end" '
        f'fill="#333">{e(label)}</text>'
        f'<line x1="{GUTTER}" y1="{y + height + LANE_GAP / 2:.1f}" x2="{WIDTH - RIGHT}" '
        f'y2="{y + height + LANE_GAP / 2:.1f}" stroke="#f0f0f0"/>'
    )


# -- timing verdicts ---------------------------------------------------------------------------


def _timing_row(verdict: Verdict, t: Timing, axis: _Axis, y: float) -> list[str]:
    colour = STATUS_COLOUR[verdict.status]
    low = axis.x(t.start + t.low)
    high = axis.x(t.start + t.high) if t.high is not None else WIDTH - RIGHT
    # where the truth may lie: the client's own overhead inflates the value by up to ``noise``,
    # the mock's scheduling lag may hide up to ``lag`` of it
    n0, n1 = axis.x(t.start + t.value - t.noise), axis.x(t.start + t.value + t.lag)
    x0, x1 = axis.x(t.start), axis.x(t.end)
    mid = y + ROW / 2
    name = verdict.obligation if len(verdict.obligation) <= 24 else verdict.obligation[:23] + "…"
    text = (
        f"{t.what} {_secs(t.value)} · allowed {_allowed(t)}"
        + (f" · noise {_secs(t.noise)}" if t.noise else "")
        + f" · {verdict.status.replace('_', ' ')}"
    )
    parts = [
        f'<g class="tl-timing tl-{verdict.status}" data-obligation="{e(verdict.obligation)}">',
        f"<title>{e(verdict.obligation)}: {e(text)} · measured t+{t.start:.1f}s → "
        f"t+{t.end:.1f}s</title>",
        f'<text x="{GUTTER - 8}" y="{mid + 4:.1f}" text-anchor="end" fill="{colour}">'
        f"{e(name)}</text>",
        f'<rect class="tl-allowed" x="{low:.1f}" y="{y:.1f}" width="{max(high - low, 1):.1f}" '
        f'height="{ROW}" fill="{ALLOWED_FILL}" stroke="#81c784"/>',
    ]
    if t.noise or t.lag:  # at least 2 px: a noisy verdict must show where its noise is
        parts.append(
            f'<rect class="tl-noise" x="{n0:.1f}" y="{y - 2:.1f}" width="{max(n1 - n0, 2):.1f}" '
            f'height="{ROW + 4}" fill="{NOISE_FILL}" stroke="#e0a800" stroke-width="0.5"/>'
        )
    parts.append(
        f'<path class="tl-span" d="M{x0:.1f} {y + 1:.1f}v{ROW - 2}M{x0:.1f} {mid:.1f}'
        f'H{max(x1, x0 + 1):.1f}M{max(x1, x0 + 1):.1f} {y + 1:.1f}v{ROW - 2}" '
        f'stroke="{colour}" stroke-width="3" fill="none"/>'
    )
    parts.append(_caption(text, x0, y + ROW + 11, colour))
    return [*parts, "</g>"]


def _allowed(t: Timing) -> str:
    if t.high is None:
        return f"≥ {_secs(t.low)}"
    return f"≤ {_secs(t.high)}" if t.low <= 0 else f"{_secs(t.low)}–{_secs(t.high)}"


def _caption(text: str, left: float, y: float, colour: str) -> str:
    """The verdict's numbers on a line under its span, starting where the span does unless
    that would run off the right edge."""
    width = 6.0 * len(text)  # ~6 px a character at 11 px: a layout hint, not a measurement
    x = max(float(GUTTER), min(left, WIDTH - RIGHT - width))
    return f'<text x="{x:.1f}" y="{y:.1f}" fill="{colour}">{e(text)}</text>'


def _legend(y: float) -> list[str]:
    items = [
        ("rect", KIND_COLOUR["ok"], "ok"),
        ("rect", KIND_COLOUR["error"], "error code"),
        ("rect", KIND_COLOUR["429"], "429"),
        ("rect", KIND_COLOUR["5xx"], "5xx"),
        ("rect", KIND_COLOUR["cut"], "no response"),
        ("tick", EVENT_COLOUR, "SSE event"),
        ("tick", BEAT_COLOUR, "heartbeat"),
        ("flag", RULE_COLOUR, "rule fired"),
        ("rect", ALLOWED_FILL, "allowed"),
        ("rect", NOISE_FILL, "noise"),
        ("line", STATUS_COLOUR["pass"], "measured"),
        ("line", STATUS_COLOUR["fail"], "failed timing"),
    ]
    parts = []
    x = 8.0
    for shape, colour, label in items:
        if shape == "rect":
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="10" height="10" fill="{colour}"/>')
        elif shape == "tick":
            parts.append(f'<path d="M{x + 5:.1f} {y:.1f}v10" stroke="{colour}" stroke-width="2"/>')
        elif shape == "flag":
            parts.append(f'<path d="M{x:.1f} {y:.1f}h10l-5 9z" fill="{colour}"/>')
        else:
            parts.append(f'<path d="M{x:.1f} {y + 5:.1f}h10" stroke="{colour}" stroke-width="3"/>')
        parts.append(f'<text x="{x + 14:.1f}" y="{y + 9:.1f}" fill="#555">{e(label)}</text>')
        x += 24 + 6.5 * len(label)
    return ['<g class="tl-legend">', *parts, "</g>"]
