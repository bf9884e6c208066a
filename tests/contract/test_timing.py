"""Timing verdicts: the documents' bound plus the measured noise, decided outside that noise."""

from __future__ import annotations

from typing import Any

import pytest

from contract.timing import RESOLUTION, Clocking, Sleep, decide, next_scale

POLL = 30.0  # "poll every 30 s"


def entry(
    real_start: float, real_end: float, operation: str = "getRender", *, scale: float = 1.0
) -> dict[str, Any]:
    """A journal entry on a clock that ran at ``scale`` from wall 0 (virtual 0) on."""
    return {
        "operation": operation,
        "real_start": real_start,
        "real_end": real_end,
        "virtual_start": real_start * scale,
        "virtual_end": real_end * scale,
        "status": 200,
        "code": 0,
    }


def polls(sleep: float, work: float, scale: float) -> tuple[list[dict[str, Any]], float]:
    """Two polls of a client that sleeps ``sleep`` (virtual) and works ``work`` (wall) between
    them, on a clock ``scale`` times faster: the entries and the gap the journal shows."""
    served = 0.002
    a = entry(0.0, served)
    b = entry(served + sleep / scale + work, served + sleep / scale + work + served)
    return [a, b], (b["real_start"] - a["real_start"]) * scale


def in_process(
    sleep: float, work: float, scale: float, *, held: float = 0.0, skipped: bool = False
) -> tuple[dict[str, Any], dict[str, Any], Sleep]:
    """Two polls of an in-process client, as the journal and its clock record them: the first
    answer held the clock ``held`` wall seconds (virtual time stood still), then the client
    slept ``sleep`` virtual seconds (``skipped``: jumped over in no wall time) and worked
    ``work`` wall seconds before the second poll."""
    served = 0.002
    a = entry(0.0, served + held, scale=scale)
    a["virtual_end"] = served * scale  # no virtual time passed while it was held
    since = a["virtual_end"]
    ran = 0.0 if skipped else sleep / scale  # wall seconds the sleep took
    slept = Sleep(a["real_end"], a["real_end"] + ran, since=since, asked=sleep)
    b_real = a["real_end"] + ran + work
    b = entry(b_real, b_real + served)
    b["virtual_start"] = since + sleep + work * scale
    b["virtual_end"] = b["virtual_start"] + served * scale
    return a, b, slept


@pytest.mark.parametrize("skipped", [False, True])
@pytest.mark.parametrize("scale", [100.0, 1000.0, 10000.0])
def test_in_process_a_30_s_poller_holds_at_any_scale(scale: float, skipped: bool) -> None:
    a, b, slept = in_process(POLL, work=0.03, scale=scale, skipped=skipped)
    value = b["virtual_start"] - a["virtual_start"]
    clocking = Clocking(scale, lag=0.0, sleeps=[slept])
    lo, hi = clocking.span(value, a, b)
    assert value > POLL + 0.03 * (scale - 1) - 0.1  # the journal shows the inflated gap…
    assert lo == pytest.approx(POLL + 0.032, abs=0.01)  # …the verdict sees the client's own
    assert decide(POLL, None, lo, hi) == "pass"


@pytest.mark.parametrize("skipped", [False, True])
@pytest.mark.parametrize("scale", [100.0, 1000.0, 10000.0])
def test_in_process_a_25_s_poller_is_broken_at_any_scale(scale: float, skipped: bool) -> None:
    a, b, slept = in_process(25.0, work=0.03, scale=scale, skipped=skipped)
    value = b["virtual_start"] - a["virtual_start"]
    clocking = Clocking(scale, lag=0.0, sleeps=[slept])
    assert decide(POLL, None, *clocking.span(value, a, b)) == "fail"


def test_a_subprocess_whose_overhead_hides_a_short_wait_is_noisy_then_decided_lower() -> None:
    # a shell client that waits 25 s and spends 0.1 s spawning curl: at 100x the journal shows
    # ~35 s between its polls, which would pass ">= 30 s" on its face
    (a, b), value = polls(25.0, work=0.1, scale=100.0)
    assert value > POLL
    loose = Clocking(100.0, lag=0.0, sleeps=None, work_bound=0.1)
    assert decide(POLL, None, *loose.span(value, a, b)) == "noisy"
    lower = next_scale(100.0, loose.noise)
    assert lower is not None
    assert lower < 100.0
    (a, b), value = polls(25.0, work=0.1, scale=lower)
    tight = Clocking(lower, lag=0.0, sleeps=None, work_bound=0.1)
    assert decide(POLL, None, *tight.span(value, a, b)) == "fail"


def test_a_subprocess_that_waits_30_s_holds_when_its_overhead_is_steady() -> None:
    # the same overhead on every request inflates every gap alike and is taken off each
    (a, b), value = polls(POLL, work=0.1, scale=100.0)
    clocking = Clocking(100.0, lag=0.0, sleeps=None, work_bound=0.1)
    assert decide(POLL, None, *clocking.span(value, a, b)) == "pass"


@pytest.mark.parametrize("scale", [100.0, 1000.0, 10000.0])
def test_a_poll_whose_answer_held_the_clock_is_not_counted_as_the_clients_work(
    scale: float,
) -> None:
    # CI's failure, replayed: the mock held its clock for 30 ms while it decided a render's
    # state (real encoding), so the first poll took 30 ms of wall time and no virtual time. The
    # journal's gap is then shorter than the wall time times the scale; taking those 30 ms off
    # as the client's "work" made a 30 s poller look like a 27 s one. In-process the gap is
    # judged in virtual time, where the hold took nothing.
    held = 0.03
    a, b, slept = in_process(POLL, work=0.005, scale=scale, held=held)
    value = b["virtual_start"] - a["virtual_start"]
    clocking = Clocking(scale, lag=0.0, sleeps=[slept], held=[(0.001, 0.001 + held)])
    lo, hi = clocking.span(value, a, b)
    assert lo == pytest.approx(POLL + 0.007, abs=0.005)
    assert decide(POLL, None, lo, hi) == "pass"
    # a subprocess is judged from its served time and its work bound: the hold is taken out
    (a, b), _ = polls(POLL, work=0.005, scale=scale)
    a["real_end"] += held
    b["real_start"] += held
    value = (b["real_start"] - held) * scale
    loose = Clocking(scale, lag=0.0, sleeps=None, work_bound=0.005, held=[(0.001, 0.001 + held)])
    assert decide(POLL, None, *loose.span(value, a, b)) == "pass"


@pytest.mark.parametrize("skipped", [False, True])
@pytest.mark.parametrize("late", [0.0, 0.00005, 0.002, 0.03])
def test_a_hold_noted_late_on_a_busy_machine_changes_no_in_process_verdict(
    late: float, skipped: bool
) -> None:
    # The loaded run that turned skipping off, in numbers: a poll's answer held the clock for
    # 60 us, and the thread that stopped the clock was switched out before it noted when, so the
    # hold's span began ``late`` after virtual time stood still. Read from wall time, those
    # seconds were the client's work: at 100x, 50 us of them are 5 ms, more than a correct
    # poller's whole margin (its own work and the answer's, 3 ms here), and it failed. Virtual
    # time has no such edge.
    scale, held = 100.0, 0.00006
    for sleep, expected in ((POLL, "pass"), (25.0, "fail")):
        a, b, slept = in_process(sleep, work=0.001, scale=scale, held=held + late, skipped=skipped)
        value = b["virtual_start"] - a["virtual_start"]
        noted = [(0.0001 + late, 0.0001 + held + late)]
        clocking = Clocking(scale, lag=0.0, sleeps=[slept], held=noted)
        assert decide(POLL, None, *clocking.span(value, a, b)) == expected, (sleep, late)


def test_an_in_process_clients_work_is_measured_in_virtual_time() -> None:
    # its work between the first answer and the next request: 5 ms of wall time, whatever the
    # wall edges of the holds and sleeps around it
    a, b, slept = in_process(POLL, work=0.005, scale=100.0, held=0.03, skipped=True)
    clocking = Clocking.measure([a, b], 100.0, lag=0.0, sleeps=[slept], held=[(0.5, 0.6)])
    assert clocking.work_bound == pytest.approx(0.005)
    assert clocking.noise == pytest.approx(99 * 0.005)


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (31.0, 31.0, "pass"),
        (29.5, 30.5, "pass"),  # within the resolution of the bound
        (20.0, 29.9, "fail"),  # even the longest it could have been is short
        (25.0, 33.0, "noisy"),  # the noise alone decides: run again lower
    ],
)
def test_decide_against_a_lower_bound(lo: float, hi: float, expected: str) -> None:
    assert decide(POLL, None, lo, hi) == expected


def test_decide_against_a_window() -> None:
    assert decide(600.0, 615.0, 605.0, 606.0) == "pass"
    assert decide(600.0, 615.0, 669.0, 670.0) == "fail"
    assert decide(600.0, 615.0, 612.0, 640.0) == "noisy"


def test_next_scale_shrinks_the_noise_to_half_the_resolution() -> None:
    scale = next_scale(1000.0, noise=30.0)
    assert scale is not None
    assert 30.0 * scale / 1000.0 <= RESOLUTION / 2
    assert next_scale(1.0, noise=5.0) is None  # real time is the floor


def test_a_stream_the_client_closed_is_judged_by_the_clients_own_clock() -> None:
    stream = {"real_start": 10.0, "real_end": 16.2, "virtual_start": 1000.0}
    reads = [(9.9, 999.0), (10.1, 1000.5), (16.0, 1600.5), (16.1, 1601.0)]
    clocking = Clocking(100.0, lag=20.0, sleeps=[], reads=reads)
    # the journal says 620 s (late lines, a late close); the client decided after 601 s
    assert clocking.reaction(620.0, stream) == (602.0, 602.0)


def test_a_heartbeat_that_reached_a_loaded_client_late_makes_its_timeout_noisy_not_failed() -> None:
    # A replay of a loaded run (no_429_wait, sse-heartbeat-timeout): heartbeats every 15 s from
    # virtual 1000; the client gives up at the first line after 600 s, the one sent at 1615,
    # but on a busy machine that line reached it 7 virtual seconds (70 ms at 100x) late, so its
    # own clock read 622 s. Judged by its clock alone that is a fail (600 + 15 + noise < 622).
    beats = [1000.0 + 15.0 * n for n in range(1, 42)]
    stream = {"real_start": 10.0, "real_end": 16.3, "virtual_start": 1000.0, "heartbeats": beats}
    reads = [(9.9, 999.9), (10.0, 1000.0), (16.22, 1622.0)]
    on_time = [(10.0 + (b - 1000.0) / 100 + 0.0005, b + 0.05) for b in beats[:-1]]
    late = [(16.22, 1622.0)]  # the heartbeat sent at 1615, delivered at 1622
    lo, hi = Clocking(100.0, sleeps=[], reads=reads, deliveries=on_time + late).reaction(
        622.0, stream
    )
    assert (lo, hi) == pytest.approx((615.0, 622.0))
    assert decide(600.0, 615.0, lo, hi) == "noisy"  # run again lower, where lines come on time
    # without the deliveries seen, the same run is a fail: the verdict hung on machine load
    lo, hi = Clocking(100.0, sleeps=[], reads=reads).reaction(622.0, stream)
    assert decide(600.0, 615.0, lo, hi) == "fail"
    # and a client that really held on past the next heartbeat still fails
    reads_late = [(9.9, 999.9), (10.0, 1000.0), (16.40, 1640.0)]
    deliveries = [(10.0 + (b - 1000.0) / 100 + 0.0005, b + 0.05) for b in beats]
    lo, hi = Clocking(100.0, sleeps=[], reads=reads_late, deliveries=deliveries).reaction(
        640.0, {**stream, "real_end": 16.5}
    )
    assert decide(600.0, 615.0, lo, hi) == "fail"
