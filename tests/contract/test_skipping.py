"""Skipping idle virtual time: only when nothing but the clock could act, never past real work."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio.from_thread
import pytest

from contract import adapters
from contract.adapters import InProcessAdapter, Manifest
from contract.catalogue import CATALOGUE
from contract.runner import Inputs, run_scenario
from contract.skipping import Skipper
from mock_backend.state.clock import Clock

REFERENCE = Path(__file__).parents[2] / "clients_under_test" / "reference" / "client.yaml"


@pytest.fixture
def portal() -> Iterator[anyio.from_thread.BlockingPortal]:
    with anyio.from_thread.start_blocking_portal("asyncio") as portal:
        yield portal


def test_a_sleep_with_only_timers_pending_is_skipped(
    portal: anyio.from_thread.BlockingPortal,
) -> None:
    clock = Clock(1.0)  # real time: unskipped, the test would take minutes
    skipper = Skipper(clock)
    woke: list[float] = []

    async def timer() -> None:
        await clock.sleep(40.0)
        woke.append(clock.now())

    portal.start_task_soon(timer)
    skipper.start(portal.call)
    try:
        start = clock.now()
        skipped = skipper.sleep_until(start + 100.0)
    finally:
        skipper.stop()
    assert clock.now() - start >= 100.0
    assert skipped == pytest.approx(100.0, abs=1.0)
    # the mock's timer fired at its own deadline, not at the client's
    assert woke
    assert woke[0] - start == pytest.approx(40.0, abs=1.0)


def test_no_jump_while_a_task_waits_on_real_work(portal: anyio.from_thread.BlockingPortal) -> None:
    clock = Clock(1.0)
    skipper = Skipper(clock)
    gate, working = threading.Event(), threading.Event()

    def blocked() -> None:
        working.set()
        gate.wait()

    async def work() -> None:
        await asyncio.to_thread(blocked)

    async def timer() -> None:
        await clock.sleep(3600.0)

    pending = portal.start_task_soon(timer)
    portal.start_task_soon(work)
    assert working.wait(10)
    skipper.start(portal.call)
    result: list[float] = []
    sleeper = threading.Thread(target=lambda: result.append(skipper.sleep_until(clock.now() + 60)))
    try:
        sleeper.start()
        for _ in range(20):  # many looks at the loop while the thread works
            portal.call(asyncio.sleep, 0.005)
        assert skipper.skipped == 0.0  # the work in the thread holds virtual time to its rate
        gate.set()  # the work ends: only the clock is left, and the rest of the sleep is skipped
        sleeper.join(30)
    finally:
        gate.set()
        skipper.stop()
        pending.cancel()  # the hour-long timer: the portal would wait for it
    assert result
    assert 0.0 < result[0] < 60.0


def test_no_jump_while_the_clock_is_held(portal: anyio.from_thread.BlockingPortal) -> None:
    clock = Clock(1.0)
    skipper = Skipper(clock)
    skipper.start(portal.call)
    result: list[float] = []
    try:
        with clock.held():  # real work the virtual time waits for
            sleeper = threading.Thread(
                target=lambda: result.append(skipper.sleep_until(clock.now() + 30))
            )
            sleeper.start()
            for _ in range(20):
                portal.call(asyncio.sleep, 0.005)
            assert skipper.skipped == 0.0
        sleeper.join(30)
    finally:
        skipper.stop()
    assert result
    assert result[0] == pytest.approx(30.0, abs=1.0)


def test_a_real_time_heartbeat_wait_of_the_reference_client_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reference client, in-process, reading a real run's stream through five minutes of
    heartbeats on a real-time clock: the mock's heartbeat timers and the client's wait for the
    next line are all that is going on, so nearly all of it is skipped (judged by the virtual
    seconds the skippers jumped, not by wall time)."""
    skippers: list[Skipper] = []

    class Recorded(Skipper):
        def __init__(self, clock: Clock) -> None:
            super().__init__(clock)
            skippers.append(self)

    monkeypatch.setattr(adapters, "Skipper", Recorded)
    manifest = Manifest.load(REFERENCE)
    result = run_scenario(
        CATALOGUE["sse-still-working"],
        InProcessAdapter(manifest, skip=True),
        Inputs.generate(tmp_path),
        scale=1.0,
        min_scale=1.0,
    )
    assert result.outcome == "pass", result.reason
    assert result.virtual >= 300
    skipped = sum(s.skipped for s in skippers)
    assert skipped >= 250, f"{skipped:.0f} of {result.virtual:.0f} virtual seconds were skipped"
