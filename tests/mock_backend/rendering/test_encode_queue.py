"""Encodes wait in order, but the one a poll or a download waits for goes next."""

from __future__ import annotations

import threading

import pytest

from mock_backend.rendering.encode_queue import EncodeQueue


def test_a_waited_for_encode_jumps_the_queue() -> None:
    queue = EncodeQueue(1)
    gate, started, order = threading.Event(), threading.Event(), []

    def encode(name: str) -> str:
        if name == "first":
            started.set()
            gate.wait(10)  # the one worker is busy while the others queue up
        order.append(name)
        return name

    futures = {n: queue.submit(n, encode, n) for n in ("first", "a", "b", "c", "waited")}
    assert started.wait(10)  # "first" has left the queue: the worker runs it
    assert queue.queued == ["a", "b", "c", "waited"]
    queue.hurry("waited")  # a download of "waited" is waiting
    assert queue.queued[0] == "waited"
    gate.set()
    assert [futures[n].result(10) for n in futures] == list(futures)
    assert order == ["first", "waited", "a", "b", "c"]


def test_a_cancelled_encode_never_runs_and_errors_reach_the_waiter() -> None:
    queue = EncodeQueue(1)
    gate, ran = threading.Event(), []

    def encode(name: str) -> None:
        if name == "busy":
            gate.wait(10)
        ran.append(name)
        if name == "broken":
            raise OSError("disk full")

    busy = queue.submit("busy", encode, "busy")
    dropped = queue.submit("dropped", encode, "dropped")
    broken = queue.submit("broken", encode, "broken")
    assert dropped.cancel()  # a render cancelled before its encode started
    gate.set()
    busy.result(10)
    with pytest.raises(OSError, match="disk full"):
        broken.result(10)
    assert ran == ["busy", "broken"]


def test_shutdown_cancels_what_has_not_started() -> None:
    queue = EncodeQueue(1)
    gate, started = threading.Event(), threading.Event()

    def encode() -> bool:
        started.set()
        return gate.wait(10)

    running = queue.submit("running", encode)
    waiting = queue.submit("waiting", encode)
    assert started.wait(10)
    queue.shutdown()
    assert waiting.cancelled()
    gate.set()
    assert running.result(10) is True
    with pytest.raises(RuntimeError, match="closed"):
        queue.submit("late", gate.wait, 0)
