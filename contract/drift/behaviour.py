"""What the recorded backend did, beside what the mock assumes where the documents are silent.

Four behaviours the mock had to guess (its ``x-assumed`` choices, kept in its settings): how
often a quiet stream sends a heartbeat, what share of runs close without any text, how long a
render takes, and how many polls it takes to finish. Each is measured on the recording's clock
(the upstream's virtual seconds when it was a mock on a scaled clock), with the count it rests
on and how far that count lets one trust it. A behaviour is judged only when enough was seen:
a drift here means the evidence says the assumption is wrong, not that it could be.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from typing import Any

from mock_backend.agent.planning import AgentTiming
from mock_backend.settings import Settings

from ..obligations.registry import POLL_LIMIT

__all__ = ["Assumptions", "Behaviour", "compare_behaviour"]

MIN_HEARTBEATS = 3  # fewer quiet-gap heartbeats than this: cadence not judged
MIN_RUNS = 10  # fewer runs than this: silent-close share not judged
CADENCE_TOLERANCE = 0.25  # the median gap may differ this much from the assumed cadence


@dataclass(frozen=True)
class Assumptions:
    """The mock's guesses, read from its own defaults so the two never disagree."""

    heartbeat_every: float
    silent_share: float
    render_seconds: tuple[float, float]
    max_polls: int = POLL_LIMIT  # getRender's x-polling in openapi.yaml

    @classmethod
    def of_mock(cls) -> Assumptions:
        settings = Settings()
        pending = settings.render_pending_seconds
        low, high = settings.render_seconds
        return cls(
            heartbeat_every=settings.heartbeat_every,
            silent_share=AgentTiming().silent_edit_probability,
            render_seconds=(low, max(high, pending[1] + 1.0)),
        )


@dataclass(frozen=True)
class Behaviour:
    name: str
    assumed: str
    seen: str
    count: int
    confidence: str  # why the count is or is not enough
    drift: bool
    refs: tuple[str, ...] = ()
    measured: float | None = None  # the judged figure (a median gap, a share), when judged


def _is_beat(data: str) -> bool:
    if not data.strip():
        return True
    try:
        value = json.loads(data)
    except ValueError:
        return False
    return isinstance(value, dict) and value.get("type") == "heartbeat"


def _has_text(data: str) -> bool:
    try:
        value = json.loads(data)
    except ValueError:
        return False
    if not isinstance(value, dict):
        return False
    if value.get("type") == "text":
        return True
    content = value.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return any(isinstance(p, dict) and p.get("text") for p in parts or [])


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    centre = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return max(0.0, centre - half), min(1.0, centre + half)


def _heartbeats(runs: list[tuple[str, dict[str, Any]]], assumed: Assumptions) -> Behaviour:
    gaps: list[float] = []
    refs = []
    for ref, exchange in runs:
        last = 0.0
        for event in exchange["response"].get("events", []):
            at = float(event.get("at", 0.0))
            if _is_beat(str(event.get("data", ""))):
                gaps.append(at - last)
                refs.append(ref)
            last = at
    every = assumed.heartbeat_every
    claim = f"a heartbeat after {every:g} s of quiet"
    if len(gaps) < MIN_HEARTBEATS:
        return Behaviour(
            "heartbeat cadence",
            claim,
            f"{len(gaps)} heartbeats"
            + (f", gaps {', '.join(f'{g:.1f}' for g in gaps)} s" if gaps else ""),
            len(gaps),
            f"not judged: fewer than {MIN_HEARTBEATS} heartbeats (record a longer run)",
            False,
        )
    median = statistics.median(gaps)
    off = abs(median - every) / every
    confidence = "good" if len(gaps) >= 10 else "low"
    return Behaviour(
        "heartbeat cadence",
        claim,
        f"median quiet gap {median:.1f} s (min {min(gaps):.1f}, max {max(gaps):.1f})",
        len(gaps),
        f"{confidence}: {len(gaps)} heartbeats; drift when the median is more than "
        f"{CADENCE_TOLERANCE:.0%} off",
        off > CADENCE_TOLERANCE,
        tuple(dict.fromkeys(refs))[:5],
        median,
    )


def _silent(runs: list[tuple[str, dict[str, Any]]], assumed: Assumptions) -> Behaviour:
    finished = [
        (ref, e)
        for ref, e in runs
        if e["response"].get("events") and e["response"].get("ending") == "upstream closed"
    ]
    silent = [
        ref
        for ref, e in finished
        if not any(_has_text(str(ev.get("data", ""))) for ev in e["response"]["events"])
    ]
    n, k = len(finished), len(silent)
    claim = f"about {assumed.silent_share:.0%} of edit runs close without text"
    seen = f"{k} of {n} runs closed without text" + (f" ({k / n:.0%})" if n else "")
    if n < MIN_RUNS:
        return Behaviour(
            "silent-close share",
            claim,
            seen,
            n,
            f"not judged: fewer than {MIN_RUNS} runs",
            False,
            tuple(silent[:5]),
        )
    low, high = _wilson(k, n)
    return Behaviour(
        "silent-close share",
        claim,
        f"{seen}; 95% interval {low:.0%}-{high:.0%}",
        n,
        f"{'good' if n >= 30 else 'low'}: {n} runs; not every run is an edit, so only "
        "more silent closes than assumed is drift",
        low > assumed.silent_share,
        tuple(silent[:5]),
        k / n,
    )


def _renders(exchanges: list[tuple[str, dict[str, Any]]], assumed: Assumptions) -> list[Behaviour]:
    submitted: dict[str, tuple[float, str]] = {}
    polls: dict[str, list[tuple[float, str]]] = {}
    for ref, exchange in exchanges:
        request = exchange["request"]
        body = (exchange["response"].get("body") or {}).get("json")
        if exchange.get("operation") == "submitRender":
            sent = (request.get("body") or {}).get("json") or {}
            if isinstance(sent, dict) and isinstance(sent.get("id"), str):
                submitted[sent["id"]] = (float(exchange["at"]), ref)
        elif exchange.get("operation") == "getRender" and isinstance(body, dict):
            render = request["path"].rsplit("/", 1)[-1]
            polls.setdefault(render, []).append((float(exchange["at"]), str(body.get("status"))))
    spans: list[tuple[float, float, str]] = []
    counts: list[tuple[int, str]] = []
    for render, (start, ref) in submitted.items():
        seen = polls.get(render, [])
        done = next((i for i, (_, status) in enumerate(seen) if status == "completed"), None)
        if done is None:
            continue
        before = seen[done - 1][0] - start if done else 0.0
        spans.append((before, seen[done][0] - start, ref))
        counts.append((done + 1, ref))
    low, high = assumed.render_seconds
    if not spans:
        note = "not judged: no render was polled to completion"
        return [
            Behaviour(
                "render duration", f"{low:g}-{high:g} s", "no completed render", 0, note, False
            ),
            Behaviour(
                "polls to completion", f"at most {assumed.max_polls}", "none", 0, note, False
            ),
        ]
    # a render finished between its last pending poll and its first completed one
    wrong = [ref for lo, hi, ref in spans if hi < low or lo > high]
    shown = ", ".join(f"{lo:.0f}-{hi:.0f} s" for lo, hi, _ in spans[:6])
    confidence = (
        f"{'good' if len(spans) >= 5 else 'low'}: {len(spans)} renders, each known to a poll's gap"
    )
    many = [ref for count, ref in counts if count > assumed.max_polls]
    return [
        Behaviour(
            "render duration",
            f"{low:g}-{high:g} s from submission",
            f"finished within {shown}",
            len(spans),
            confidence,
            bool(wrong),
            tuple(wrong[:5]),
        ),
        Behaviour(
            "polls to completion",
            f"at most {assumed.max_polls} polls",
            f"{', '.join(str(c) for c, _ in counts[:10])} polls",
            len(counts),
            confidence,
            bool(many),
            tuple(many[:5]),
        ),
    ]


def compare_behaviour(
    exchanges: list[tuple[str, dict[str, Any]]], assumed: Assumptions | None = None
) -> list[Behaviour]:
    """The four behaviours, measured on ``(ref, exchange)`` pairs in recorded order."""
    assumed = assumed or Assumptions.of_mock()
    runs = [
        (ref, e)
        for ref, e in exchanges
        if e.get("operation") == "runSse" and "events" in e.get("response", {})
    ]
    return [_heartbeats(runs, assumed), _silent(runs, assumed), *_renders(exchanges, assumed)]
