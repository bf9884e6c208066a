"""The registry of obligations and what every check shares: verdict helpers, timing, constants.

A check reads the `Evidence` of one run and returns a `Verdict`. It never passes vacuously:
when what it judges did not happen (no 429 was answered, no render was polled), it says
"not exercised" and why, and the scenario's trigger decides whether that is a failure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mock_backend.openapi.spec import load_spec

from ..evidence import Evidence, Status, Timing, Verdict
from ..timing import Clocking, timing

__all__ = [
    "OBLIGATIONS",
    "POLL_LIMIT",
    "POLL_SPACING",
    "Obligation",
    "fail",
    "idle",
    "judge",
    "noted",
    "obligation",
    "ok",
    "timed",
    "worst",
]

Check = Callable[[Evidence, dict[str, Any]], Verdict]

# "poll every 30 s, at most 10 times": getRender's x-polling in openapi.yaml
_POLLING = load_spec().operations["getRender"].raw["x-polling"]
POLL_SPACING = float(_POLLING["every_seconds"])
POLL_LIMIT = int(_POLLING["at_most"])
RETRY_AFTER_429 = 30.0  # "retry once after 30 s"
HEARTBEAT_TIMEOUT = 600.0  # "ten minutes of heartbeats only means a timeout"
STILL_WORKING_EVERY = 120.0  # "every 2 min of heartbeats: ⏳ Still working..."
RECOVERY_FIRST, RECOVERY_EVERY = 30.0, 60.0  # "wait 30 s, query state; … wait 60 s"
# Longer than any job the documents allow: a 15-minute stream, ten polls 30 s apart and a
# retry of both, a 429 wait. A step the client itself keeps going past this never ends.
ENDLESS = 1800.0
SUPPORTED_HINT = ("mp4", "mp3", "wav", "png")
GUI_PHRASES = re.compile(
    r"click (the|on)|open the .{0,30}panel|drag (the|and)|export button|点击|打开|拖拽", re.I
)
TOOL_LEAKS = re.compile(
    r"functionCall|functionResponse|invocationId|tool_call|tool_result|\"args\""
)
RAW_JSON = re.compile(r"\{\s*\"(code|data|message)\"\s*:")


@dataclass(frozen=True)
class Obligation:
    name: str
    rule: str  # the documented rule it judges, as the matrix groups them
    summary: str
    check: Check
    source: str = "seed"  # where the rule is written: the skills (seed) or upstream v1.9 only


OBLIGATIONS: dict[str, Obligation] = {}


# Rules written only in upstream SKILL.md v1.9, not in the two skill documents: a client built
# from the documents alone may lack them, and the reports say so.
V19_ONLY = frozenset(
    {
        "claim_link",
        "retry_new_id_after_failure",
        "download_fallback",
        "export_precheck",
        "heartbeat_timeout",
        "disconnect_recovery",
        "trailing_issue_ignored",
        "no_token_in_url",
        "at_most_10_polls",
        "no_resend",
    }
)


def obligation(name: str, rule: str, summary: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        source = "v1.9" if name in V19_ONLY else "seed"
        OBLIGATIONS[name] = Obligation(name, rule, summary, check, source)
        return check

    return register


def ok(name: str, detail: str, *refs: str) -> Verdict:
    return Verdict(name, "pass", detail, refs)


def fail(name: str, detail: str, *refs: str) -> Verdict:
    return Verdict(name, "fail", detail, refs)


def idle(name: str, detail: str) -> Verdict:
    return Verdict(name, "not_exercised", detail)


def clocking_of(ev: Evidence) -> Clocking:
    return ev.clocking or Clocking(scale=1.0)


def timed(
    ev: Evidence,
    what: str,
    a: dict[str, Any],
    b: dict[str, Any],
    value: float,
    low: float,
    high: float | None = None,
    *,
    from_end: bool = False,
) -> tuple[Status, Timing]:
    """A gap from entry ``a`` to entry ``b`` (``value`` virtual seconds) against the documents'
    ``[low, high]``, decided outside the measured noise (see `contract.timing`)."""
    clocking = clocking_of(ev)
    span = clocking.span(value, a, b, from_end=from_end)
    start = float((a.get("virtual_end") if from_end else None) or a["virtual_start"])
    start -= ev.virtual_start
    end = start + value
    return timing(what, value, low, high, span, start, end, clocking.lag)


def noted(detail: str, t: Timing) -> str:
    """The detail of a timing verdict, with how much of the value may be noise."""
    if t.noise < 0.05 and t.lag < 0.05:
        return detail
    return f"{detail} (measured noise up to {t.noise:.1f} s, lag {t.lag:.1f} s)"


def worst(
    name: str, results: Sequence[tuple[Status, Timing, str, tuple[str, ...]]], summary: str
) -> Verdict:
    """One verdict from several timed gaps: the first broken, else the first noisy, else the
    tightest passing one (the smallest distance to its bound)."""
    for wanted in ("fail", "noisy"):
        for status, t, detail, refs in results:
            if status == wanted:
                return Verdict(name, status, noted(detail, t), refs, t)
    _, t, _, refs = min(results, key=lambda r: r[1].value - r[1].noise - r[1].low)
    return Verdict(name, "pass", noted(summary, t), refs, t)


def judge(name: str, evidence: Evidence, params: dict[str, Any] | None = None) -> Verdict:
    try:
        return OBLIGATIONS[name].check(evidence, params or {})
    except Exception as exc:  # a check that crashes is a bug of the suite, reported as such
        return fail(name, f"the check itself failed: {type(exc).__name__}: {exc}")


def product_calls(ev: Evidence) -> list[dict[str, Any]]:
    return [e for e in ev.entries if e["operation"]]
