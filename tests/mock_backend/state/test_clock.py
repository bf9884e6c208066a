"""The mock's one clock: virtual time stops while real work it depends on runs."""

from __future__ import annotations

import threading
import time

from mock_backend.state.clock import Clock


def test_a_held_clock_stops_and_goes_on_from_where_it_stopped() -> None:
    clock = Clock(1000.0)
    hold = clock.held()
    hold.__enter__()
    stopped = clock.now()
    time.sleep(0.05)  # 50 virtual seconds, had it run
    assert clock.now() == stopped
    released = time.monotonic()
    hold.__exit__(None, None, None)
    after = clock.now()
    since = time.monotonic() - released
    # it went on from there: no more than the wall time since the release, scaled (however
    # long this busy machine took), and none of the 50 s it was held
    assert stopped <= after <= stopped + since * 1000.0 + 1e-6


def test_holds_nest_and_overlap() -> None:
    clock = Clock(1000.0)
    outer = clock.held()
    outer.__enter__()
    stopped = clock.now()
    with clock.held():
        time.sleep(0.02)
    assert clock.now() == stopped  # the outer hold still holds
    outer.__exit__(None, None, None)
    time.sleep(0.02)
    assert clock.now() > stopped + 10


def test_a_hold_is_remembered_as_one_wall_span_for_the_suite() -> None:
    # the compatibility suite takes these spans out of a client's measured work: no virtual
    # time passed in them, so they inflate no gap
    clock = Clock(1000.0)
    before = time.time()
    with clock.held():
        with clock.held():  # a nested hold is part of the same span
            time.sleep(0.02)
        time.sleep(0.01)
    after = time.time()
    (span,) = clock.held_since(before)
    assert before <= span[0] < span[1] <= after
    assert span[1] - span[0] >= 0.03
    assert clock.held_since(after + 1) == []
    assert Clock(None).held_since(0) == []  # a manual clock never stops: nothing to remember


def test_holds_from_threads_release_only_when_all_end() -> None:
    clock = Clock(1000.0)
    entered, release = threading.Barrier(3), threading.Event()

    def work() -> None:
        with clock.held():
            entered.wait()
            release.wait(5)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    entered.wait()
    stopped = clock.now()
    time.sleep(0.02)
    assert clock.now() == stopped
    release.set()
    for thread in threads:
        thread.join()
    time.sleep(0.02)
    assert clock.now() > stopped


def test_advance_moves_a_held_clock() -> None:
    clock = Clock(100.0)
    with clock.held():
        stopped = clock.now()
        assert clock.advance(60) == stopped + 60
        assert clock.now() == stopped + 60


def test_a_stamp_is_one_instant_in_wall_and_virtual_time() -> None:
    # the journal stamps each request with both, and the suite sets one against the other: at
    # 1000x, a thread switch between two separate readings would be seconds of virtual time
    clock = Clock(1000.0)
    busy = threading.Event()

    def spin() -> None:
        while not busy.is_set():
            sum(range(1000))

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        stamps = [clock.stamp() for _ in range(2000)]
    finally:
        busy.set()
        thread.join()
    origins = [virtual - 1000.0 * wall for wall, virtual in stamps]
    assert max(origins) - min(origins) < 0.01  # virtual = origin + 1000 x wall, exactly
