"""The live feed of mocks sharing one Redis namespace (the ``--workers`` processes, here two
apps in one test process): a reader of either is told of both's entries, in the order Redis
kept them, each finished entry once; a reset through one tells the other's readers; a reader
that falls behind is told so. tests/mock_backend/web/test_workers.py does the same with two
real worker processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from mock_backend.control.journal import Entry, Journal, public
from mock_backend.control.subscribers import Subscriber
from mock_backend.state.redis_store import RedisStore

from ..conftest import OpenTwin, Twin
from .test_console import Feed

pytestmark = pytest.mark.anyio

OWED = 1000  # what a feed's reader may be owed (Journal.subscribe's default)


@pytest.fixture
async def pair(
    open_twin: OpenTwin, redis_url: str, redis_namespace: str
) -> AsyncIterator[tuple[Twin, Twin]]:
    """Two mocks on one Redis namespace, as two workers are."""
    one = RedisStore(redis_url, namespace=redis_namespace)
    two = RedisStore(redis_url, namespace=redis_namespace)
    async with open_twin(store=one) as first, open_twin(store=two) as second:
        yield first, second


async def ask(twin: Twin, client_id: str) -> None:
    """One journaled request (no token: answered 1001 at once), known by its client id."""
    answer = await twin.client.get(
        "/api/credits/balance/simple", headers={"X-Client-Id": client_id}
    )
    assert answer.json()["code"] == 1001, answer.text


def finished(events: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """The finished forms of the entries the feed sent, in the order sent."""
    return [data for name, data in events if name == "entry" and data["real_end"] is not None]


def client_of(entry: Entry | dict[str, Any]) -> str | None:
    client_id: str | None = public(entry)["client_id"]
    return client_id


async def heard(journal: Journal, witness: Subscriber, client_id: str) -> None:
    """Wait until ``witness`` (a reader of ``journal``) is told of ``client_id``'s entry."""
    with anyio.fail_after(30):
        while True:
            owed = await witness.changes()
            shown, _ = journal.changes(owed.ids)
            if any(client_of(e) == client_id for e in shown):
                return


async def test_a_reader_of_one_sees_both_mocks_entries_in_the_order_they_finished(
    pair: tuple[Twin, Twin],
) -> None:
    first, second = pair
    async with first.client.stream("GET", "/__mock/journal/live") as live:
        feed = Feed(live)
        await feed.until(lambda evs: evs and evs[-1][0] == "clock")
        order = [(second, "b-1"), (first, "a-1"), (second, "b-2"), (second, "b-3"), (first, "a-2")]
        for twin, client_id in order:
            await ask(twin, client_id)
        events = await feed.until(lambda evs: any(e["client_id"] == "a-2" for e in finished(evs)))
    done = [e["client_id"] for e in finished(events)]
    assert sorted(done) == sorted(c for _, c in order), "each finished entry once"
    # the order the store kept them: an entry finishes after its answer was sent, so the next
    # request, through the other mock, may finish first
    kept = [e["client_id"] for e in first.backend.store.journal()]
    assert done == kept
    # the first mock's own entries were shown open before they finished; the second's only
    # once finished (another process's open exchange is not seen)
    opened = [d["client_id"] for name, d in events if name == "entry" and d["real_end"] is None]
    assert set(opened) <= {"a-1", "a-2"}, opened


async def test_a_reset_through_one_mock_tells_the_others_reader(pair: tuple[Twin, Twin]) -> None:
    first, second = pair
    async with first.client.stream("GET", "/__mock/journal/live") as live:
        feed = Feed(live)
        await feed.until(lambda evs: evs and evs[-1][0] == "clock")
        await second.client.post("/__mock/reset", json={})
        await ask(second, "after-reset")
        # the feed's first entries are read after it says "clock" (in a worker thread): they
        # may already hold "after-reset", and the reset is told after them; what the reader
        # ends with must be the reset, then what followed it
        events = await feed.until(
            lambda evs: (
                "cleared" in [n for n, _ in evs]
                and any(e["client_id"] == "after-reset" for e in finished(after_cleared(evs)))
            )
        )
    names = [name for name, _ in events]
    assert names.count("cleared") == 1, names
    assert [e["client_id"] for e in finished(after_cleared(events))] == ["after-reset"]


def after_cleared(events: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    names = [name for name, _ in events]
    return events[names.index("cleared") + 1 :] if "cleared" in names else []


async def test_a_reader_that_falls_behind_the_other_mock_is_told_it_dropped_some(
    pair: tuple[Twin, Twin],
) -> None:
    """The feed's reader stops reading (the transport holds 16 chunks, then the feed waits);
    the other mock answers more than a reader may be owed: the reader gets ``dropped``. The
    feed may have taken one batch of up to OWED ids before it waited: twice as many and more
    are answered, so more than OWED are owed whatever the timing."""
    first, second = pair
    journal = first.backend.journal
    async with first.client.stream("GET", "/__mock/journal/live") as live:
        feed = Feed(live)
        await feed.until(lambda evs: evs and evs[-1][0] == "clock")
        witness = journal.subscribe(limit=4 * OWED)  # told after the feed's reader
        many = 2 * OWED + 100
        try:
            for n in range(many):
                await ask(second, f"many-{n}")
            await heard(journal, witness, f"many-{many - 1}")
        finally:
            journal.unsubscribe(witness)
        events = await feed.until(lambda evs: any(name == "dropped" for name, _ in evs))
    dropped = next(data for name, data in events if name == "dropped")
    assert dropped["changes"] > 0
