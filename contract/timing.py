"""Timing verdicts that depend on the client, not on the machine or the clock scale.

A scenario runs on a mock whose clock is scaled N times: a client's deliberate waits (its 30 s
between render polls) are scaled with it, but whatever takes real time is not: the client's own
CPU work between a response and its next request, the mock's processing, the machine's
scheduling. At N = 100, 0.1 s of a shell client spawning ``curl`` shows as 10 virtual seconds; at
N = 10,000, 2 ms of Python does. That *inflation* is noise: it is never the client's intent.

The method, for every gap the documents bound (two polls, a 429 and its retry, a stream held):

- **Measure the inflation.** The journal stamps every request with virtual and wall time.
  Whatever in a gap was not the client asleep ran at the clock's rate: on a clock scaled N
  times, each real second of it shows as N virtual ones. In-process the suite gives the client
  its clock, so each sleep is known by the virtual instant it began and the seconds it asked
  for (`Sleep`): the virtual seconds of a gap the client was awake are counted in virtual time
  alone, ``awake / N`` of them real, exactly, and the same whether a sleep was waited out or
  skipped (`contract.skipping`). Nothing is taken from the wall times of the clock's holds or
  the sleeps: their edges are read a moment apart from the instants virtual time stopped or
  jumped, and a moment of a busy machine (tens of microseconds, a thread switch) times N is
  more than a correct client's margin (its own work, a millisecond). A subprocess's sleeps are
  not visible: its inflation is bounded by the most work it did between two requests where no
  documented rule asks it to wait, in the same run.
- **Measure the lag.** The mock's clock records how late its timers fire (scheduling lag): a
  request may be stamped that late, so a gap may look that much shorter.
- **Decide only outside the noise.** The client's real gap lies in ``[value - inflation,
  value + lag]``. If that whole interval breaks the documents' bound, the rule is broken; if it
  keeps within the bound (to ``RESOLUTION``), the rule holds; otherwise the verdict is *noisy*
  and the runner runs the scenario again at a lower scale, where the same work is fewer virtual
  seconds, down to real time if it must. The tolerance is the documents' number plus the
  measured noise, nothing else.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .evidence import Status, Timing

__all__ = ["NICE_SCALES", "RESOLUTION", "Clocking", "Sleep", "decide", "next_scale"]

# The smallest violation the suite promises to see: a client that waits 29 s where the documents
# say 30 is told apart from one that waits 30.
RESOLUTION = 1.0
# Operations a client may be documented to wait before: render polls (30 s), a retry after 429
# (30 s), state queries after a dropped stream (30 s, then 60 s). Their gaps are judged, not used
# to estimate a subprocess client's work.
_WAITED_FOR = frozenset({"getRender", "getSessionState"})
NICE_SCALES = (10000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2)


class Sleep(tuple[float, float]):
    """One sleep of an in-process client: the wall span ``(start, end)`` its clock ran for it at
    its rate (a skipped part takes no wall time), and where it lies in virtual time: it began at
    ``since`` and asked for ``asked`` seconds, so the client meant to do nothing in ``[since,
    since + asked]``. Still the pair of wall times for whatever reads only those."""

    since: float
    asked: float

    def __new__(cls, start: float, end: float, *, since: float, asked: float) -> Sleep:
        sleep = super().__new__(cls, (start, end))
        sleep.since, sleep.asked = since, asked
        return sleep

    @property
    def meant(self) -> tuple[float, float]:
        """The virtual span the client meant to sleep."""
        return self.since, self.since + max(0.0, self.asked)


@dataclass(frozen=True)
class Clocking:
    """What distorted time in one run: the clock scale, the client's sleeps, the mock's lag."""

    scale: float
    lag: float = 0.0  # virtual seconds: the latest a timer of the mock fired
    # wall-clock (time.time) intervals the client slept, when the suite gave it its clock (each a
    # `Sleep`, which also says where it lies in virtual time); None for a subprocess, whose
    # sleeps are not visible
    sleeps: Sequence[tuple[float, float]] | None = None
    # the most wall time the client worked between a response and its next request
    work_bound: float = 0.0
    # the client's clock readings (wall, virtual), when the suite gave it its clock
    reads: Sequence[tuple[float, float]] | None = None
    # how much that work varied (most - least): what a gap's inflation may differ by from
    # another's, and so what the scale must keep small (a constant overhead cancels out)
    work_spread: float = 0.0
    # the longest the mock took to answer a request (streams aside), in virtual seconds: its
    # real work (validation, reading media) inflated by the scale
    served: float = 0.0
    # wall-time spans the mock's clock stood still (held while it waited for real work: an
    # encode, a probe): no virtual time passed in them, so they are nobody's inflation
    held: Sequence[tuple[float, float]] = ()
    # (wall, virtual) as each chunk of a response reached the client, when the suite gave it
    # its transport: a stream's lines may reach a loaded client late, and it can only read
    # the time when one comes
    deliveries: Sequence[tuple[float, float]] | None = None

    @classmethod
    def measure(
        cls,
        entries: Sequence[dict[str, Any]],
        scale: float,
        *,
        lag: float,
        sleeps: Sequence[tuple[float, float]] | None,
        reads: Sequence[tuple[float, float]] | None = None,
        deliveries: Sequence[tuple[float, float]] | None = None,
        steps: Sequence[float] = (),
        held: Sequence[tuple[float, float]] = (),
    ) -> Clocking:
        works = _works(entries, steps, sleeps, held, scale)
        bound = max(works, default=0.0)
        spread = bound - min(works, default=0.0)
        served = max(
            (
                float(e["virtual_end"]) - float(e["virtual_start"])
                for e in entries
                # streams wait on the clock, and a rule's delay is meant: neither is work
                if e.get("operation") not in (None, "runSse")
                and e.get("virtual_end") is not None
                and not e.get("rule")
            ),
            default=0.0,
        )
        return cls(scale, lag, sleeps, bound, reads, spread, served, tuple(held), deliveries)

    def inflation(self, a: dict[str, Any], b: dict[str, Any], *, from_end: bool = False) -> float:
        """Virtual seconds the gap from ``a``'s start (or end) to ``b``'s start shows beyond
        what it would at real time: real work (the mock's and the client's) times the scale."""
        if self.scale <= 1.0:
            return 0.0
        meant = _meant(self.sleeps)
        if meant is not None:  # in virtual time alone: see the module's docstring
            begin = float((a.get("virtual_end") if from_end else None) or a["virtual_start"])
            finish = float(b["virtual_start"])
            awake = max(0.0, finish - begin - _covered(meant, begin, finish))
            return awake * (1.0 - 1.0 / self.scale)
        start = float((a.get("real_end") if from_end else None) or a["real_start"])
        end = float(b["real_start"])
        if self.sleeps is not None:
            work = max(0.0, end - start - _covered([*self.sleeps, *self.held], start, end))
        else:
            served_until = float(a.get("real_end") or start)
            served = (
                0.0 if from_end else served_until - start - _covered(self.held, start, served_until)
            )
            work = max(0.0, served) + self.work_bound
        return (self.scale - 1.0) * work

    @property
    def noise(self) -> float:
        """The inflation bound of one reaction of the client (a request after a response, a
        close after a deadline), in virtual seconds."""
        return (self.scale - 1.0) * self.work_bound + self.lag if self.scale > 1 else self.lag

    @property
    def shift(self) -> float:
        """How late, at most, one request of the client came against the schedule its own
        waits set, in virtual seconds: its work and the mock's answer to the one before."""
        return self.noise + self.served

    def span(
        self, value: float, a: dict[str, Any], b: dict[str, Any], *, from_end: bool = False
    ) -> tuple[float, float]:
        """Where the client's real gap from ``a`` to ``b`` lies, given the measured ``value``:
        exactly ``value`` less its inflation when the client's sleeps are known (but for the
        lag), else anywhere from that to ``value``."""
        real = value - self.inflation(a, b, from_end=from_end)
        return real, (real if self.sleeps is not None else value) + self.lag

    def reaction(self, value: float, entry: dict[str, Any]) -> tuple[float, float]:
        """Where a span the client ended by its own decision (a stream it closed) lies.

        In-process the suite sees the client's clock: the span it measured itself, from its
        last reading before the request (or its first once the stream opened) to its last
        reading before it let go (a client cannot time out without reading the time), is
        exact; late lines or a late close change nothing in it. Otherwise the reaction may
        have taken up to the shift: the client's work and the mock's (a loaded mock notices a
        closed stream late, and stamps its end that much later)."""
        if self.reads is not None:
            begun, ended = float(entry["real_start"]), float(entry.get("real_end") or 0.0)
            before = [v for wall, v in self.reads if wall <= begun]
            during = [v for wall, v in self.reads if begun <= wall <= ended]
            if during:  # from its reading as it sent the request, or as the stream opened
                measured = during[-1] - (before or during)[-1 if before else 0]
                # a client that reads the time as a line comes read it as late as the line
                # came: its decision was on time if it was so by the line it had
                return measured - self.delivery_lag(entry), measured
        return value - self.shift, value + self.lag

    def delivery_lag(self, entry: dict[str, Any]) -> float:
        """The latest any chunk of ``entry``'s stream reached the client, in virtual seconds
        after the mock sent it (each delivery set against the last send before it: the
        events' and heartbeats' virtual times); 0 when the deliveries were not seen."""
        if not self.deliveries:
            return 0.0
        begun, ended = float(entry["real_start"]), float(entry.get("real_end") or 0.0)
        sends = sorted(
            [float(entry["virtual_start"])]
            + [float(e["virtual"]) for e in entry.get("events") or []]
            + [float(b) for b in entry.get("heartbeats") or []]
        )
        late = 0.0
        for wall, virtual in self.deliveries:
            if begun <= wall <= ended:
                sent = sends[max(0, bisect.bisect_right(sends, virtual) - 1)]
                late = max(late, virtual - sent)
        return late


def _covered(spans: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """Seconds of ``[start, end]`` inside any of ``spans`` (which may overlap: a client's sleep
    and a hold of the mock's clock, two holds), each second counted once; wall or virtual
    seconds alike."""
    total, reached = 0.0, start
    for s, e in sorted(spans):
        s, e = max(s, reached), min(e, end)
        if e > s:
            total += e - s
            reached = e
    return total


def _meant(sleeps: Sequence[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
    """The virtual spans the client meant to sleep, when every sleep says where it lies."""
    if sleeps is None or not all(isinstance(s, Sleep) for s in sleeps):
        return None
    return [s.meant for s in sleeps if isinstance(s, Sleep)]


def _works(
    entries: Sequence[dict[str, Any]],
    steps: Sequence[float],
    sleeps: Sequence[tuple[float, float]] | None,
    held: Sequence[tuple[float, float]] = (),
    scale: float = 1.0,
) -> list[float]:
    """The wall time the client worked between each response and its next request in the same
    step: its own overhead per reaction. With its sleeps known, every gap counts, less the
    sleeps (in virtual time, when they say where they lie); without, only gaps where the
    documents ask for no wait."""
    product = [e for e in entries if e.get("operation") and e.get("real_end") is not None]
    meant = _meant(sleeps)
    works = []
    for a, b in itertools.pairwise(product):
        if _step(a, steps) != _step(b, steps):
            continue
        if meant is not None:
            begin = float(a.get("virtual_end") or a["virtual_start"])
            finish = float(b["virtual_start"])
            awake = max(0.0, finish - begin - _covered(meant, begin, finish))
            works.append(awake / max(scale, 1.0))
            continue
        start, end = float(a["real_end"]), float(b["real_start"])
        if sleeps is not None:
            works.append(max(0.0, end - start - _covered([*sleeps, *held], start, end)))
            continue
        if b["operation"] in _WAITED_FOR or a.get("status") == 429 or a.get("code") == 429:
            continue
        works.append(max(0.0, end - start - _covered(held, start, end)))
    return works


def _step(entry: dict[str, Any], steps: Sequence[float]) -> int:
    return sum(1 for start in steps if start <= float(entry["virtual_start"]))


def decide(
    low: float, high: float | None, lo: float, hi: float, resolution: float = RESOLUTION
) -> Status:
    """``[lo, hi]`` (where the client's real value lies) against the allowed ``[low, high]``."""
    if hi < low or (high is not None and lo > high):
        return "fail"
    if lo >= low - resolution and (high is None or hi <= high + resolution):
        return "pass"
    return "noisy"


def timing(
    what: str,
    value: float,
    low: float,
    high: float | None,
    span: tuple[float, float],
    start: float,
    end: float,
    lag: float,
) -> tuple[Status, Timing]:
    lo, hi = span
    status = decide(low, high, lo, hi)
    return status, Timing(value, low, high, max(0.0, value - lo), lag, start, end, what)


def next_scale(scale: float, noise: float, resolution: float = RESOLUTION) -> float | None:
    """The scale at which ``noise`` virtual seconds would shrink to half the resolution; None
    when the run was already at real time."""
    if scale <= 1.0:
        return None
    target = scale * (resolution / 2) / max(noise, 1e-9)
    target = min(target, scale / 2)  # always make progress
    return float(next((nice for nice in NICE_SCALES if nice <= target), 1.0))
