"""``nemo-mock serve --workers 2 --state redis://…``: two processes, one mock.

A real ``nemo-mock`` with two worker processes on the session's real ``redis-server``. A client
connection stays with the worker that accepted it, so each test holds one connection per worker
(told apart by the pid ``/__mock/health`` reports) and checks that what one worker made the
other sees, that credits are never oversold however the runs are spread, and that namespaces
and the control API behave as documented.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_backend.state.redis_store import RedisStore

from ..conftest import ATTRIBUTION, FINISHED, WAVEFORM, Media, auth, run_body
from ..test_cli import NEMO_MOCK, first_line, run

pytestmark = pytest.mark.anyio

EDIT_COST = 50  # the waveform edit (state/test_credits.py)


@contextlib.contextmanager
def two_workers(folder: Path, state: str, clock: str, *options: str) -> Iterator[str]:
    """``nemo-mock serve --workers 2`` with its state at ``state``: its URL while it runs; at
    the end it must stop cleanly (exit 0) with no traceback in its log."""
    command = [NEMO_MOCK, "serve", "--port", "0", "--workers", "2", "--state", state]
    command += ["--clock", clock, "--data-dir", str(folder), *options]
    with (
        (folder / "stderr.log").open("w") as log,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True) as process,
    ):
        try:
            banner = first_line(process, timeout=60)
            assert "2 workers" in banner, banner
            yield banner.split()[2]
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
        said = (folder / "stderr.log").read_text()
        assert code == 0, said
        assert "Traceback" not in said, said


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[str]:
    """The URL of ``nemo-mock serve --workers 2`` on a 100x clock, its state on Redis."""
    with two_workers(tmp_path_factory.mktemp("workers"), redis_url, "scaled:100") as url:
        yield url


async def _pid(client: httpx.AsyncClient) -> int:
    response = await client.get("/__mock/health")
    pid: int = response.json()["data"]["process"]["pid"]
    return pid


@contextlib.asynccontextmanager
async def one_connection_each(url: str) -> AsyncIterator[dict[int, httpx.AsyncClient]]:
    """One kept-alive connection to each of the two workers at ``url``, by pid."""
    held: dict[int, httpx.AsyncClient] = {}
    spare: list[httpx.AsyncClient] = []
    try:
        for _attempt in range(20):  # a bound, not a timing: 10 connections at once per attempt
            batch = [httpx.AsyncClient(base_url=url, timeout=60) for _ in range(10)]
            for client, pid in zip(batch, await asyncio.gather(*map(_pid, batch)), strict=True):
                if pid in held:
                    spare.append(client)
                else:
                    held[pid] = client
            if len(held) == 2:
                break
        assert len(held) == 2, f"200 connections all went to worker(s) {sorted(held)}"
        yield held
    finally:
        for client in [*held.values(), *spare]:
            await client.aclose()


@pytest.fixture
async def per_worker(served: str) -> AsyncIterator[dict[int, httpx.AsyncClient]]:
    async with one_connection_each(served) as held:
        yield held


async def sign_in(via: httpx.AsyncClient, client_id: str) -> dict[str, str]:
    """An anonymous token's Authorization header, asked of ``via``'s worker."""
    made = await via.post("/api/auth/anonymous-token", headers={"X-Client-Id": client_id})
    assert made.json()["code"] == 0, made.text
    return auth(made.json()["data"]["token"])


async def new_session(via: httpx.AsyncClient, headers: dict[str, str], song: bytes | None) -> str:
    """A session made through ``via``'s worker, with ``song`` uploaded into it if given."""
    made = await via.post(
        "/api/tasks/me/with-session/nemo_agent", json={"task_name": "w"}, headers=headers
    )
    session_id: str = made.json()["data"]["session_id"]
    if song is not None:
        files = [("files", ("song.mp3", song))]
        uploaded = await via.post(
            f"/api/upload-video/nemo_agent/me/{session_id}", files=files, headers=headers
        )
        assert uploaded.json()["code"] == 0, uploaded.text
    return session_id


async def test_both_workers_answer_and_see_what_the_other_made(
    per_worker: dict[int, httpx.AsyncClient], media: Media
) -> None:
    one, two = per_worker.values()
    headers = await sign_in(one, "w-1")
    session_id = await new_session(two, headers, None)
    files = [("files", ("song.mp3", media.song.read_bytes()))]
    uploaded = await one.post(
        f"/api/upload-video/nemo_agent/me/{session_id}", files=files, headers=headers
    )
    assert uploaded.json()["code"] == 0, uploaded.text
    state = (await two.get(f"/api/state/nemo_agent/me/{session_id}/latest", headers=headers)).json()
    assert [f["filename"] for f in state["data"]["state"]["video_infos"]] == ["song.mp3"]
    cdn_url = uploaded.json()["data"]["files"][0]["cdn_url"]
    fetched = await two.get(cdn_url)  # the file one worker stored, served by the other
    assert fetched.content == media.song.read_bytes()


async def test_thirty_runs_racing_for_100_credits_start_two_and_never_oversell(
    served: str, per_worker: dict[int, httpx.AsyncClient], media: Media
) -> None:
    one, two = per_worker.values()
    headers = await sign_in(one, "w-2")
    song = media.song.read_bytes()
    # made through both workers in turn
    sessions = [await new_session((one, two)[n % 2], headers, song) for n in range(30)]

    async def chat(session_id: str) -> Any:
        body = {
            "app_name": "nemo_agent",
            "user_id": "me",
            "session_id": session_id,
            "new_message": {"parts": [{"text": WAVEFORM}]},
        }
        async with (
            httpx.AsyncClient(base_url=served, timeout=120) as fresh,  # any worker
            fresh.stream("POST", "/run_sse", json=body, headers=headers) as response,
        ):
            if response.headers["content-type"].startswith("text/event-stream"):
                async for _ in response.aiter_bytes():
                    pass
                return "stream"
            return json.loads(await response.aread())["code"]

    readings: list[dict[str, int]] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            for via in (one, two):
                balance = await via.get("/api/credits/balance/simple", headers=headers)
                readings.append(balance.json()["data"])
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    outcomes = await asyncio.gather(*map(chat, sessions))
    done.set()
    await watcher
    started = outcomes.count("stream")
    # 100 credits pay for two: a third started is overselling, fewer is a refusal for nothing
    assert started == 2, f"{started} runs of 50 credits started on 100 credits"
    assert set(outcomes) <= {"stream", 2001}, outcomes
    inconsistent = [r for r in readings if r["available"] + r["frozen"] != r["total"]]
    assert not inconsistent, inconsistent[:3]
    assert all(r["available"] >= 0 and r["total"] <= 100 for r in readings)
    final = (await two.get("/api/credits/balance/simple", headers=headers)).json()["data"]
    left = 100 - EDIT_COST * started
    assert final == {"available": left, "frozen": 0, "total": left}


async def test_resetting_one_namespace_through_one_worker_clears_it_for_both(
    per_worker: dict[int, httpx.AsyncClient],
) -> None:
    one, two = per_worker.values()
    tokens = {}
    for name in ("ci-a", "ci-b"):
        made = await one.post(
            "/api/auth/anonymous-token", headers={"X-Mock-Namespace": name, "X-Client-Id": "w-3"}
        )
        assert made.json()["code"] == 0, made.text
        tokens[name] = made.json()["data"]["token"]
    reset = await two.post("/__mock/reset", headers={"X-Mock-Namespace": "ci-a"})
    assert reset.json()["code"] == 0, reset.text
    for via in (one, two):
        gone = await via.get(
            "/api/credits/balance/simple",
            headers={**auth(tokens["ci-a"]), "X-Mock-Namespace": "ci-a"},
        )
        assert gone.json()["code"] == 1001, "the reset namespace kept its token"
        kept = await via.get(
            "/api/credits/balance/simple",
            headers={**auth(tokens["ci-b"]), "X-Mock-Namespace": "ci-b"},
        )
        assert kept.json()["data"]["available"] == 100


async def test_a_render_submitted_through_one_worker_finishes_for_the_other(
    per_worker: dict[int, httpx.AsyncClient], media: Media
) -> None:
    """The encode runs in the worker that took the job; the record it updates is in Redis,
    so the other worker's polls see it progress and its download serves the file."""
    one, two = per_worker.values()
    headers = await sign_in(one, "w-4")
    session_id = await new_session(one, headers, media.song.read_bytes())
    async with one.stream(
        "POST", "/run_sse", json=run_body(session_id, WAVEFORM), headers=headers
    ) as stream:
        async for _ in stream.aiter_bytes():
            pass
    state = await two.get(f"/api/state/nemo_agent/me/{session_id}/latest", headers=headers)
    draft = state.json()["data"]["state"]["draft"]
    body = {"id": "render_w", "sessionId": session_id, "draft": draft}
    submitted = await one.post(
        "/api/render/proxy/lambda", json=body, headers={**headers, **ATTRIBUTION}
    )
    assert submitted.json()["code"] == 0, submitted.text
    statuses = []
    for _poll in range(1200):  # a bound on polls, not a timing: ~0.05 s apart
        view = (await two.get("/api/render/proxy/lambda/render_w", headers=headers)).json()
        statuses.append(view["status"])
        if view["status"] in FINISHED:
            break
        await asyncio.sleep(0.05)
    assert statuses[-1] == "completed", statuses[-5:]
    downloaded = await two.get("/api/render/proxy/render_w/download", headers=headers)
    assert downloaded.status_code == 200
    assert downloaded.content[4:8] == b"ftyp", "not an MP4"


async def test_a_rule_given_through_one_worker_fires_its_times_across_both(
    per_worker: dict[int, httpx.AsyncClient],
) -> None:
    """Rules and their call counts live in Redis: ``times: 2`` is two calls in all, wherever
    they land, and the other worker lists the rule, then forgets it once used up."""
    one, two = per_worker.values()
    headers = await sign_in(one, "w-5")
    rule = {"match": {"operation": "getCredits", "client_id": "w-5"}, "respond": {"code": 1001}}
    added = await one.post("/__mock/scenarios", json={"rule": rule, "times": 2})
    assert added.json()["code"] == 0, added.text
    listed = (await two.get("/__mock/scenarios")).json()["data"]["active"]
    assert [r["id"] for r in listed] == added.json()["data"]["rules"]
    codes = []
    for via in (two, one, two, one):
        answer = await via.get(
            "/api/credits/balance/simple", headers={**headers, "X-Client-Id": "w-5"}
        )
        codes.append(answer.json()["code"])
    assert codes == [1001, 1001, 0, 0], codes
    assert (await one.get("/__mock/scenarios")).json()["data"]["active"] == []


async def test_a_session_fault_scripted_through_one_worker_plays_on_the_other(
    per_worker: dict[int, httpx.AsyncClient],
) -> None:
    """Scripted faults are kept on the session record, in Redis: any worker plays them."""
    one, two = per_worker.values()
    headers = await sign_in(one, "w-6")
    session_id = await new_session(one, headers, None)
    fault = {"error_at_event": 0, "error_message": "scripted by worker one", "once": True}
    scripted = await one.post(f"/__mock/sessions/{session_id}/faults", json=fault)
    assert scripted.json()["code"] == 0, scripted.text
    body = run_body(session_id, "hello, what can you do?")
    async with two.stream("POST", "/run_sse", json=body, headers=headers) as stream:
        said = b"".join([chunk async for chunk in stream.aiter_bytes()])
    assert b"scripted by worker one" in said, said[:300]


async def test_the_journal_read_through_one_worker_holds_what_both_answered(
    per_worker: dict[int, httpx.AsyncClient],
) -> None:
    """Finished entries go to Redis with ids from one sequence: a read through either worker
    shows both workers' requests, each once, oldest first."""
    one, two = per_worker.values()
    await sign_in(one, "w-7")
    await sign_in(two, "w-8")
    for via in (one, two):
        journal = await via.get("/__mock/journal", params={"operation": "createAnonymousToken"})
        entries = journal.json()["data"]["entries"]
        clients = [e["client_id"] for e in entries if e["client_id"] in ("w-7", "w-8")]
        assert clients == ["w-7", "w-8"], clients
        ids = [e["id"] for e in entries]
        assert ids == sorted(set(ids)), f"ids repeat or go back: {ids}"


class LiveFeed:
    """``GET /__mock/journal/live`` read through one connection: (event, data) as they come."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()
        self.events: list[tuple[str, Any]] = []

    async def until(self, done: Any) -> list[tuple[str, Any]]:
        name = ""
        async with asyncio.timeout(60):  # a bound for a loaded machine, not a measurement
            while not done(self.events):
                line = await anext(self.lines)
                if line.startswith("event:"):
                    name = line.partition(":")[2].strip()
                elif line.startswith("data:"):
                    self.events.append((name, json.loads(line.partition(":")[2])))
        return self.events


def finished_clients(events: list[tuple[str, Any]], prefix: str) -> list[str]:
    """The client ids starting with ``prefix`` of the finished entries sent, in order."""
    return [
        data["client_id"]
        for name, data in events
        if name == "entry"
        and data["real_end"] is not None
        and (data["client_id"] or "").startswith(prefix)
    ]


async def ask(via: httpx.AsyncClient, client_id: str, namespace: str = "default") -> None:
    """One journaled request through ``via``'s worker (no token: 1001), known by client id."""
    headers = {"X-Client-Id": client_id, "X-Mock-Namespace": namespace}
    answer = await via.get("/api/credits/balance/simple", headers=headers)
    assert answer.json()["code"] == 1001, answer.text


async def test_the_live_feed_through_one_worker_shows_both_workers_entries_in_order(
    served: str, redis_url: str
) -> None:
    """A reader of worker A's feed sees the requests B answered and those A answered, each
    finished entry once, in the order they finished: the order Redis kept them in (an entry
    finishes after its answer is sent, so the next request, through the other worker, may
    finish first)."""
    async with one_connection_each(served) as first, one_connection_each(served) as second:
        a, b = first
        async with first[a].stream("GET", "/__mock/journal/live") as live:
            assert live.headers["content-type"].startswith("text/event-stream")
            feed = LiveFeed(live)
            await feed.until(lambda evs: evs and evs[-1][0] == "clock")
            order = [(b, "f-1"), (a, "f-2"), (b, "f-3"), (a, "f-4"), (b, "f-5")]
            for pid, client_id in order:
                await ask((first if pid == b else second)[pid], client_id)
            events = await feed.until(lambda evs: "f-5" in finished_clients(evs, "f-"))
    done = finished_clients(events, "f-")
    assert sorted(done) == [c for _, c in order], "each finished entry once"
    store = RedisStore(redis_url)
    try:
        kept = [e["client_id"] for e in store.journal() if (e["client_id"] or "").startswith("f-")]
    finally:
        store.close()
    assert done == kept


async def test_a_namespaces_live_feed_shows_that_namespace_only(served: str) -> None:
    async with one_connection_each(served) as first, one_connection_each(served) as second:
        a, b = first
        async with first[a].stream(
            "GET", "/__mock/journal/live", headers={"X-Mock-Namespace": "ci-feed"}
        ) as live:
            feed = LiveFeed(live)
            await feed.until(lambda evs: evs and evs[-1][0] == "clock")
            for n, via in enumerate((first[b], second[a], first[b], second[a])):
                await ask(via, f"ns-{n}", "default")
                await ask(via, f"ns-in-{n}", "ci-feed")
            events = await feed.until(lambda evs: "ns-in-3" in finished_clients(evs, "ns-"))
    assert finished_clients(events, "ns-") == [f"ns-in-{n}" for n in range(4)]


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--state", "memory"], "needs --state redis://"),
    ],
)
def test_workers_that_could_not_agree_are_refused_at_start(options: list[str], said: str) -> None:
    result = run(NEMO_MOCK, "serve", "--port", "0", "--workers", "2", *options)
    assert result.returncode == 2
    assert said in result.stderr


def test_help_tells_what_workers_need() -> None:
    result = run(NEMO_MOCK, "serve", "--help")
    assert "--workers" in result.stdout
    described = result.stdout.split("--workers N ", 1)[1][:500]
    assert "--state redis://" in described, described


@pytest.fixture(scope="module")
def served_manual(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[str]:
    """``nemo-mock serve --workers 2 --clock manual`` on its own Redis database."""
    state = redis_url.rsplit("/", 1)[0] + "/1"
    with two_workers(tmp_path_factory.mktemp("workers-manual"), state, "manual") as url:
        yield url


async def test_a_manual_clock_moved_through_one_worker_moves_for_both(served_manual: str) -> None:
    """The moves are kept in Redis and announced: the other worker's next request sees the
    moved clock, and a stream it serves, waiting on virtual time, goes on at once."""
    async with one_connection_each(served_manual) as per:
        one, two = per.values()
        before = (await two.get("/__mock/clock")).json()["data"]["now"]
        moved = (await one.post("/__mock/clock", json={"advance": 3600})).json()["data"]["now"]
        seen = (await two.get("/__mock/clock")).json()["data"]["now"]
        assert moved == seen == before + 3600

        headers = await sign_in(two, "w-9")
        session_id = await new_session(two, headers, None)
        body = run_body(session_id, "hello, what can you do?")
        done = asyncio.Event()

        async def read() -> bytes:
            async with two.stream("POST", "/run_sse", json=body, headers=headers) as stream:
                said = b"".join([chunk async for chunk in stream.aiter_bytes()])
            done.set()
            return said

        reader = asyncio.create_task(read())
        for _move in range(600):  # the run needs virtual time; moved only through worker one
            if done.is_set():
                break
            await one.post("/__mock/clock", json={"advance": 5})
            await asyncio.sleep(0.01)
        said = await asyncio.wait_for(reader, 60)
        assert b'"text"' in said, said[:300]
