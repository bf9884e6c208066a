"""One virtual time for processes that share a store (``--workers`` on Redis): `ClockSync`.

Two clocks anchored alike on one real redis-server stand for two worker processes. A hold in
one (an encode a download waits for) stops the other's time too, and when it ends both go on
from where they stopped; a move through one moves both. Without it, a render encoded by one
worker let the other's virtual time run ahead by the encode's length times the scale.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from mock_backend.state.clock import Clock
from mock_backend.state.clock_sync import ClockSync
from mock_backend.state.memory_store import MemoryStore
from mock_backend.state.redis_store import RedisStore
from mock_backend.state.store import ClockState, Store

RATE = 1000.0  # a scaled clock: 10 ms of wall time are 10 virtual seconds


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    opened = RedisStore(
        request.getfixturevalue("redis_url"),
        namespace=request.getfixturevalue("redis_namespace"),
    )
    yield opened
    opened.close()


def test_the_clock_state_adds_up_moves_and_holds(store: Store) -> None:
    first = store.move_clock(5.0)
    assert (first.moves, first.holds, first.held_at) == (5.0, 0, None)
    held = store.hold_clock(1_790_000_100.25, 10.0)
    assert (held.holds, held.held_at) == (1, 1_790_000_100.25)
    again = store.hold_clock(1_790_000_200.0, 11.0)  # overlapping: time stays where it stopped
    assert (again.holds, again.held_at) == (2, 1_790_000_100.25)
    moved = store.move_clock(2.0)  # a move while held moves where it stands
    assert (moved.moves, moved.held_at) == (7.0, 1_790_000_102.25)
    one_left = store.release_clock(12.0, 10.0)
    assert (one_left.holds, one_left.held_at, one_left.taken) == (1, 1_790_000_102.25, 0.0)
    done = store.release_clock(13.0, 10.0)  # the last: 3 wall seconds at 10x were held
    assert (done.holds, done.held_at, done.taken) == (0, None, 30.0)
    versions = [s.version for s in (first, held, again, moved, one_left, done)]
    assert versions == sorted(set(versions)), "every change has a newer version"
    store.clear()  # a reset: time does not go back, and an open hold would still end
    assert store.clock_state() == done


def _pair(
    store: Store, other: Store, rate: float | None = RATE
) -> tuple[Clock, ClockSync, Clock, ClockSync]:
    started = time.time()  # anchored alike, as web/workers.py anchors its workers
    a = Clock(rate, epoch=1_790_000_000.0, started_at=started)
    b = Clock(rate, epoch=1_790_000_000.0, started_at=started)
    return a, ClockSync(a, store), b, ClockSync(b, other)


# two running clocks anchored alike still differ by the instant each read its own wall clock
# (microseconds, times the rate; more on a busy machine): virtual seconds they may differ by
ANCHOR_SLACK = 100.0


def test_a_hold_in_one_process_stops_the_others_time_and_both_go_on_alike(
    redis_url: str, redis_namespace: str
) -> None:
    one, two = (RedisStore(redis_url, namespace=redis_namespace) for _ in range(2))
    a, sync_a, b, sync_b = _pair(one, two)
    try:
        with a.held():
            stopped = a.now()
            sync_b.catch_up()  # as b does before each request it answers
            assert b.now() == stopped
            time.sleep(0.3)  # 300 virtual seconds, had time run
            assert b.now() == stopped, "b's time ran on while a held it"
        sync_b.catch_up()
        # both went on from where they stopped, alike: b kept none of the 300 s
        before, between = a.now(), b.now()
        assert abs(between - before) < ANCHOR_SLACK, (before, between)
        assert between < stopped + ANCHOR_SLACK, "b's time kept the 300 s it was held"
        (span,) = a.held_since(0)  # the span is remembered where the work ran
        assert b.held_since(0) == []
        assert span[1] > span[0]
    finally:
        sync_a.close()
        sync_b.close()
        one.close()
        two.close()


def test_a_move_through_one_process_moves_the_other(redis_url: str, redis_namespace: str) -> None:
    """Manual clocks: no time passes but the moves, so the two must read exactly alike."""
    one, two = (RedisStore(redis_url, namespace=redis_namespace) for _ in range(2))
    a, sync_a, b, sync_b = _pair(one, two, rate=None)
    try:
        sync_a.move(3600.0)
        for _ in range(500):  # b's listener hears the announcement (a bound of 5 s)
            if b.now() == a.now():
                break
            time.sleep(0.01)
        assert a.now() == b.now() == 1_790_000_000.0 + 3600, "b did not hear of the move"
    finally:
        sync_a.close()
        sync_b.close()
        one.close()
        two.close()


def test_an_older_state_is_never_taken_after_a_newer_one() -> None:
    store = MemoryStore()
    clock = Clock(None, epoch=1_790_000_000.0)
    sync = ClockSync(clock, store)
    sync.move(10.0)
    sync.take(ClockState(version=0, moves=0.0))  # an announcement that arrived late
    assert clock.now() == 1_790_000_010.0
    sync.close()


def test_time_never_goes_back_when_another_process_holds_it_a_moment_earlier() -> None:
    """A hold another process began is heard of a moment later: a reading made meanwhile
    stands until time passes it again."""
    clock = Clock(RATE)
    late = clock.now()
    clock.follow(0.0, late - 5.0)  # a hold begun 5 virtual seconds before that reading
    assert clock.now() == late
    clock.follow(0.0, None)  # released at once: from where it stopped, so still behind
    assert clock.now() >= late
