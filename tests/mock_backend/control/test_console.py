"""The console's routes: the page, the live journal feed and a session's timeline, who may
read them, what the feed sends (tokens redacted), and how much a reader may be owed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from mock_backend.agent.sse_frames import SseParser
from mock_backend.control.subscribers import MAX_SUBSCRIBERS, Subscriber
from mock_backend.control.timeline_svg import timeline_svg

from ..conftest import OpenTwin, Twin, assert_error, auth

pytestmark = pytest.mark.anyio

CONSOLE_READS = [
    "/__mock/ui",
    "/__mock/ui/console.js",
    "/__mock/ui/console.css",
    "/__mock/journal/live",
    "/__mock/sessions/s-1/timeline.svg",
]
READ_IDS = ["page", "js", "css", "feed", "timeline"]


class Feed:
    """The Server-Sent Events of a live-journal response, as (event, parsed data), read on
    demand through the project's one SSE parser; ``events`` holds all read so far."""

    def __init__(self, response: httpx.Response) -> None:
        self.chunks = response.aiter_bytes()
        self.parser = SseParser()
        self.events: list[tuple[str, Any]] = []

    async def until(self, done: Any, *, wall: float = 10.0) -> list[tuple[str, Any]]:
        with anyio.fail_after(wall):
            while not done(self.events):
                for event in self.parser.feed(await anext(self.chunks)):
                    self.events.append((event.event, json.loads(event.data)))
        return self.events


def entries_of(events: list[tuple[str, Any]]) -> dict[int, dict[str, Any]]:
    """The newest form of each entry the feed sent."""
    return {data["id"]: data for name, data in events if name == "entry"}


async def test_the_page_and_its_files_come_from_the_mock_with_no_outside_source(
    twin: Twin,
) -> None:
    page = await twin.client.get("/__mock/ui")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset, kind in (("console.js", "text/javascript"), ("console.css", "text/css")):
        response = await twin.client.get(f"/__mock/ui/{asset}")
        assert response.headers["content-type"].startswith(kind)
        assert "http://" not in response.text
        assert "https://" not in response.text
    assert "https://" not in page.text
    assert "http://" not in page.text
    assert_error(await twin.client.get("/__mock/ui/../admin.py"), 404)
    assert_error(await twin.client.get("/__mock/ui/secret.txt"), 404)


@pytest.mark.parametrize("url", CONSOLE_READS, ids=READ_IDS)
async def test_a_caller_off_loopback_is_refused_as_by_the_control_api(twin: Twin, url: str) -> None:
    with twin.from_address("203.0.113.9"):
        refused = await twin.client.get(url)
        control = await twin.client.get("/__mock/clock")
    assert refused.status_code == control.status_code == 403
    assert refused.json() == control.json()


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"X-Mock-Admin-Token": "wrong"}, 403)],
    ids=["without", "wrong"],
)
@pytest.mark.parametrize("url", CONSOLE_READS, ids=READ_IDS)
async def test_an_admin_token_guards_the_console(
    open_twin: OpenTwin, url: str, headers: dict[str, str], status: int
) -> None:
    async with open_twin(admin_token="s3cret", address="203.0.113.9") as twin:
        answer = await twin.client.get(url, headers=headers)
        if url == "/__mock/ui" and not headers:  # a browser: sent to sign in, shown nothing
            assert answer.status_code == 303
            assert answer.headers["location"] == "ui/login"
        else:
            assert_error(answer, status)


async def test_a_browser_signs_in_with_the_admin_token_into_an_httponly_cookie(
    open_twin: OpenTwin,
) -> None:
    """A browser cannot add X-Mock-Admin-Token: the sign-in form takes the token once and a
    SameSite=Strict, HttpOnly cookie stands for the header from then on."""
    async with open_twin(admin_token="s3cret", address="203.0.113.9") as twin:
        form = await twin.client.get("/__mock/ui/login")
        assert form.status_code == 200
        assert '<form method="post" action="login">' in form.text
        wrong = await twin.client.post("/__mock/ui/login", data={"token": "guess"})
        assert_error(wrong, 403)
        assert "set-cookie" not in wrong.headers
        signed = await twin.client.post("/__mock/ui/login", data={"token": "s3cret"})
        assert signed.status_code == 303
        assert signed.headers["location"] == "../ui"
        cookie = signed.headers["set-cookie"]
        for attribute in ("HttpOnly", "SameSite=strict", "Path=/"):
            assert attribute.lower() in cookie.lower(), cookie
        page = await twin.client.get("/__mock/ui")  # the client keeps the cookie, as a browser
        assert page.status_code == 200
        assert "s3cret" not in page.text
        clock = await twin.client.get("/__mock/clock")
        assert clock.json()["code"] == 0, "the cookie stands for the header in the control API"
        twin.client.cookies.clear()
        assert_error(await twin.client.get("/__mock/clock"), 401)


async def test_with_the_admin_token_the_page_answers_off_loopback(open_twin: OpenTwin) -> None:
    async with open_twin(admin_token="s3cret", address="203.0.113.9") as twin:
        page = await twin.client.get("/__mock/ui", headers={"X-Mock-Admin-Token": "s3cret"})
        assert page.status_code == 200
        assert "s3cret" not in page.text  # the page asks the user for it; it never carries it


async def test_the_feed_sends_entries_as_they_happen_with_tokens_redacted(twin: Twin) -> None:
    token = await twin.token("client-feed")  # before the reader: it comes in the snapshot
    async with twin.client.stream("GET", "/__mock/journal/live") as live:
        assert live.headers["content-type"].startswith("text/event-stream")
        feed = Feed(live)
        first = await feed.until(lambda evs: len(entries_of(evs)) >= 1)
        assert first[0][0] == "clock"
        await twin.client.get("/api/credits/balance/simple", headers=auth(token))
        await twin.client.post("/__mock/scenarios", json={"name": "silent-close"})
        seen = await feed.until(
            lambda evs: any(
                e["path"] == "/__mock/scenarios" and e["status"] == 200
                for e in entries_of(evs).values()
            ),
        )
    entries = entries_of(seen)
    operations = [e["operation"] for e in entries.values()]
    assert operations[:2] == ["createAnonymousToken", "getCredits"]
    control = next(e for e in entries.values() if e["path"] == "/__mock/scenarios")
    assert control["operation"] is None
    assert control["request"]["body"]["name"] == "silent-close"
    text = json.dumps(seen)
    assert token not in text
    assert token[:12] not in text  # not even its beginning: only the fingerprint
    assert any(e["token"] and "…" in e["token"] for e in entries.values())


async def test_a_reset_tells_the_reader_the_journal_was_emptied(twin: Twin) -> None:
    async with twin.client.stream("GET", "/__mock/journal/live") as live:
        feed = Feed(live)
        await feed.until(lambda evs: evs and evs[-1][0] == "clock")
        await twin.client.post("/__mock/reset", json={})
        events = await feed.until(lambda evs: evs[-1][0] == "cleared")
    assert events[-1][1]["mode"] == "manual"


async def test_control_reads_stay_out_of_the_journal_and_changes_go_in(twin: Twin) -> None:
    await twin.client.get("/__mock/clock")
    await twin.client.post("/__mock/clock", json={"advance": 5})
    await twin.client.post("/__mock/tokens", json={"credits": 5, "plan": "free"})
    body = (await twin.client.get("/__mock/journal")).json()["data"]
    paths = [(e["method"], e["path"]) for e in body["entries"]]
    assert paths == [("POST", "/__mock/clock"), ("POST", "/__mock/tokens")]
    minted = body["entries"][1]["response"]["data"]["token"]
    assert "…" in minted  # the minted token is shown to its caller, and only fingerprinted here


async def test_the_clock_moves_to_a_time_and_never_back(twin: Twin) -> None:
    now = await twin.now()
    moved = await twin.client.post("/__mock/clock", json={"to": now + 90})
    assert moved.json()["data"]["now"] == pytest.approx(now + 90)
    assert_error(await twin.client.post("/__mock/clock", json={"to": now}), 422, field="body.to")
    assert_error(await twin.client.post("/__mock/clock", json={"to": "x"}), 422, field="body.to")


async def test_a_sessions_timeline_is_the_reports_picture_of_its_entries(twin: Twin) -> None:
    ready = await twin.ready()
    await twin.state(ready.token, ready.session_id)
    response = await twin.client.get(f"/__mock/sessions/{ready.session_id}/timeline.svg")
    assert response.headers["content-type"].startswith("image/svg+xml")
    entries = (await twin.client.get(f"/__mock/journal?session_id={ready.session_id}")).json()
    listed = entries["data"]["entries"]
    expected = timeline_svg(listed, min(e["virtual_start"] for e in listed))
    assert response.text == expected
    assert ready.token not in response.text
    missing = await twin.client.get("/__mock/sessions/nobody/timeline.svg")
    assert_error(missing, 404, field="path.session_id")


async def test_a_reader_that_falls_behind_is_owed_a_bounded_count() -> None:
    subscriber = Subscriber(asyncio.get_running_loop(), limit=3)
    for entry_id in (1, 2, 2, 3, 4, 5):  # 2 twice: one change owed, not two
        subscriber.touch(entry_id)
    owed = await subscriber.changes()
    assert (owed.ids, owed.dropped, owed.cleared) == ([3, 4, 5], 2, False)


async def test_a_reader_is_told_from_another_thread() -> None:
    subscriber = Subscriber(asyncio.get_running_loop(), limit=10)
    await anyio.to_thread.run_sync(subscriber.touch, 7)
    with anyio.fail_after(5):
        assert (await subscriber.changes()).ids == [7]


async def test_readers_are_limited_and_each_leaves_when_its_feed_closes(twin: Twin) -> None:
    backend = twin.app.state.backend
    subscribers = [backend.journal.subscribe() for _ in range(MAX_SUBSCRIBERS)]
    assert_error(await twin.client.get("/__mock/journal/live"), 429)
    for subscriber in subscribers:
        backend.journal.unsubscribe(subscriber)
    for _ in range(2):  # the first reader's place is free again once it closed
        async with twin.client.stream("GET", "/__mock/journal/live") as live:
            await Feed(live).until(lambda evs: evs and evs[-1][0] == "clock")
    with anyio.fail_after(5):
        while backend.journal._subscribers:
            await anyio.sleep(0.01)


async def test_stopping_the_server_ends_the_feed(twin: Twin) -> None:
    backend = twin.app.state.backend

    async def read_all() -> AsyncIterator[str]:
        async with twin.client.stream("GET", "/__mock/journal/live") as live:
            async for line in live.aiter_lines():
                yield line

    with anyio.fail_after(10):
        lines = read_all()
        assert (await anext(lines)).startswith("event: clock")
        backend.end_streams()
        async for _ in lines:
            pass
