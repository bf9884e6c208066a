"""What a client did, as the suite judges it: the mock's journal and the client's own output."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .timing import Clocking

__all__ = ["SUITE_LINE", "Evidence", "Timing", "Verdict", "entry_ref"]

# Lines the suite itself adds to a client's stderr start so ("killed after …"): they are never
# taken for the client's own message.
SUITE_LINE = "[nemo-contract]"

Status = Literal["pass", "fail", "not_exercised", "noisy"]


@dataclass(frozen=True)
class Timing:
    """How a timing verdict was decided, in virtual seconds since the scenario started.

    ``value`` is what the journal shows (e.g. the gap between two polls), measured from
    ``start`` to ``end``; the documents allow ``[low, high]`` (``high`` None: no upper bound).
    ``noise`` is how much of ``value`` may be the machine's or the client's own overhead rather
    than the client's intent (measured in this run); ``lag`` how much earlier the first mark may
    have happened (the mock's own scheduling lag). A verdict whose answer depends on where inside
    the noise the truth lies is ``noisy``: the runner re-runs the scenario at a lower scale.
    """

    value: float
    low: float
    high: float | None
    noise: float
    lag: float
    start: float
    end: float
    what: str  # "poll gap", "429 retry", "stream held", ...


@dataclass(frozen=True)
class Verdict:
    obligation: str
    status: Status
    detail: str  # what was expected and what happened
    refs: tuple[str, ...] = ()  # journal references: "#12 GET /api/... @t+30.0s"
    timing: Timing | None = None  # the deciding measurement of a timing rule

    @property
    def passed(self) -> bool:
        return self.status == "pass"


@dataclass
class Evidence:
    """Everything one scenario run left behind."""

    entries: list[dict[str, Any]]  # the mock's journal (redacted), in order
    stdout: str
    stderr: str
    exit_code: int
    output_file: Path | None
    tokens: list[str]  # API tokens the mock issued (to find leaks; never reported)
    user_ids: list[str]
    web_url: str
    virtual_start: float
    job_inputs: dict[str, Any] = field(default_factory=dict)  # e.g. the input file's duration
    steps: list[tuple[float, str]] = field(default_factory=list)  # (virtual start, its output)
    clocking: Clocking | None = None  # what distorted time in this run (None: nothing)
    killed: str | None = None  # why the suite stopped the client, if it did
    killed_virtual: float | None = None  # virtual seconds the step had run, if on that limit
    killed_noise: float = 0.0  # how much of them real work (not the client's intent) may be

    def output_of_step_with(self, entry: dict[str, Any]) -> str:
        """What the client printed during the step that made ``entry`` (all output if unknown)."""
        before = [out for start, out in self.steps if start <= entry["virtual_start"]]
        return before[-1] if before else self.output

    @property
    def output(self) -> str:
        return self.stdout + "\n" + self.stderr

    def ops(self, *operations: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["operation"] in operations]

    def after(self, entry: dict[str, Any]) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["id"] > entry["id"]]

    def t(self, entry: dict[str, Any]) -> float:
        """The entry's virtual time, in seconds since the scenario started."""
        return float(entry["virtual_start"]) - self.virtual_start

    def rule_fired(self, name: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.entries if e.get("rule") and (name is None or name in e["rule"])]

    def texts(self) -> list[str]:
        """Text the agent sent over the streams (ADK and legacy shapes)."""
        out = []
        for entry in self.ops("runSse"):
            for event in entry.get("events", []):
                data = event.get("data")
                if not isinstance(data, dict):
                    continue
                content = data.get("content")
                if data.get("type") == "text" and isinstance(content, str):
                    out.append(content)
                parts = content.get("parts") if isinstance(content, dict) else None
                out += [p["text"] for p in parts or [] if isinstance(p, dict) and "text" in p]
        return out


def entry_ref(evidence: Evidence, entry: dict[str, Any]) -> str:
    code = f" code {entry['code']}" if entry.get("code") not in (None, 0) else ""
    path = re.sub(r"\?.*", "", entry["path"])
    return (
        f"#{entry['id']} {entry['method']} {path} → {entry['status']}{code} "
        f"@t+{evidence.t(entry):.1f}s"
    )
