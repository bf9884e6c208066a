"""One listener per process for every namespace's clock on Redis (redis_clock_news.py).

A shared mock on Redis may hold a hundred namespaces, each with a clock whose moves and holds
every worker must hear. They are heard through one pub/sub connection and one thread, on a real
redis-server: a move in one process still reaches that namespace's clock in the other, and only
that one; the listener goes when the last clock stops listening; a broken connection is
survived."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from mock_backend.state.clock import Clock
from mock_backend.state.clock_sync import ClockSync
from mock_backend.state.redis_store import RedisStore

EPOCH = 1_790_000_000.0
NAMES = [f"ns-{n}" for n in range(1, 41)]


def listeners() -> int:
    return sum(t.name == "clock news" and t.is_alive() for t in threading.enumerate())


def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition`` (a bound of 10 s on a loaded machine, not a measurement)."""
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within 10 s: {what}")
        time.sleep(0.01)


class Process:
    """One worker's view: the store, its namespaces' stores, and a manual clock for each."""

    def __init__(self, url: str, namespace: str) -> None:
        self.root = RedisStore(url, namespace=namespace)
        self.stores = {name: self.root.namespace(name) for name in NAMES}
        self.clocks = {name: Clock(None, epoch=EPOCH) for name in NAMES}
        self.syncs = {name: ClockSync(self.clocks[name], self.stores[name]) for name in NAMES}

    def close(self) -> None:
        for sync in self.syncs.values():
            sync.close()
        for store in self.stores.values():
            store.close()
        self.root.close()


@pytest.fixture
def two(redis_url: str, redis_namespace: str) -> Iterator[tuple[Process, Process]]:
    before = listeners()
    a, b = Process(redis_url, redis_namespace), Process(redis_url, redis_namespace)
    try:
        yield a, b
    finally:
        a.close()
        b.close()
    until(lambda: listeners() == before, "the listeners stop once their stores close")


def test_forty_namespaces_share_one_listener_and_one_connection_pool(
    two: tuple[Process, Process], redis_url: str
) -> None:
    a, _ = two
    assert all(s._redis is a.root._redis for s in a.stores.values())
    names = [t.name for t in threading.enumerate() if t.name == "clock news"]
    assert len(names) == 2, names  # one per process, not one per namespace
    control = redis.Redis.from_url(redis_url)
    try:
        subscribed = [c for c in control.client_list() if int(c.get("psub", 0)) > 0]
        assert len(subscribed) == 2, subscribed
        assert not [c for c in control.client_list() if int(c.get("sub", 0)) > 0]
    finally:
        control.close()


def test_a_move_reaches_that_namespaces_clock_in_the_other_process_and_no_other(
    two: tuple[Process, Process],
) -> None:
    a, b = two
    a.syncs["ns-7"].move(3600.0)
    until(lambda: b.clocks["ns-7"].now() == EPOCH + 3600.0, "b's ns-7 heard the move")
    assert a.clocks["ns-7"].now() == EPOCH + 3600.0
    others = {name: clock.now() for name, clock in b.clocks.items() if name != "ns-7"}
    assert set(others.values()) == {EPOCH}, "a move of ns-7 moved another namespace"


def test_the_listener_goes_with_the_last_clock_listening(
    redis_url: str, redis_namespace: str
) -> None:
    before = listeners()
    root = RedisStore(redis_url, namespace=redis_namespace)
    stores = [root.namespace(name) for name in ("x", "y")]
    syncs = [ClockSync(Clock(None, epoch=EPOCH), store) for store in stores]
    try:
        assert listeners() == before + 1
        syncs[0].close()
        assert listeners() == before + 1, "one clock still listens"
        syncs[1].close()
        until(lambda: listeners() == before, "no clock listens: no thread is left")
        again = ClockSync(Clock(None, epoch=EPOCH), stores[0])  # and it starts again
        assert listeners() == before + 1
        again.close()
    finally:
        for store in stores:
            store.close()
        root.close()


def test_a_broken_connection_is_survived_and_every_clock_reads_again(
    two: tuple[Process, Process], redis_url: str
) -> None:
    a, b = two
    control = redis.Redis.from_url(redis_url)
    try:
        # the listeners' connections cut, as by a Redis restart or a proxy's idle timeout; a
        # move made meanwhile is announced to nobody
        control.client_kill_filter(_type="pubsub")
        a.syncs["ns-2"].move(60.0)
        until(lambda: b.clocks["ns-2"].now() == EPOCH + 60.0, "b read ns-2 again")
        # and the next announcement is heard on the new connection
        a.syncs["ns-3"].move(120.0)
        until(lambda: b.clocks["ns-3"].now() == EPOCH + 120.0, "b heard ns-3 after")
    finally:
        control.close()
