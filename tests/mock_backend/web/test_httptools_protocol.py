"""LeanEvent, the asyncio.Event the httptools protocol gives each connection and request
(the protocol itself is tested over sockets in test_hostile_input.py, on both parsers)."""

from __future__ import annotations

import asyncio
import sys
from collections import deque

import pytest

from mock_backend.web.httptools_protocol import LeanEvent

pytestmark = pytest.mark.anyio


async def test_wait_returns_at_once_when_set_and_waits_until_set_otherwise() -> None:
    event = LeanEvent()
    assert not event.is_set()
    waiters = [asyncio.ensure_future(event.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    event.set()
    assert await asyncio.gather(*waiters) == [True, True, True]
    assert event.is_set()
    assert await event.wait() is True
    event.clear()
    assert not event.is_set()
    late = asyncio.ensure_future(event.wait())
    await asyncio.sleep(0)
    assert not late.done()
    event.set()
    assert await late is True


async def test_cancelled_waiters_are_not_woken_and_not_kept() -> None:
    event = LeanEvent()
    for _ in range(20):
        waiter = asyncio.ensure_future(event.wait())
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.sleep(0)
    assert event._waiters is not None
    assert len(event._waiters) <= 6  # forgotten as new ones come
    event.set()  # no InvalidStateError from a cancelled future


def test_it_holds_no_deque() -> None:
    assert not isinstance(LeanEvent()._waiters, deque)
    assert sys.getsizeof(deque()) > 500  # what each asyncio.Event would hold
