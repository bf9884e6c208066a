"""Agent runs on ``nemo-mock serve --workers 2 --state redis://…``: a stream is served by the
worker that took it, but what the run does is the store's.

- The seeded draws do not depend on which worker serves a request: a session's second run draws
  the same plan (its tracks' and segments' ids among it) whether it goes to the worker that
  served the first or to the other. Each case runs in a namespace of its own: a fresh namespace
  counts its ids from the start, so the same requests make the same session in both.
- Disconnect recovery (the documents: wait, then query the state) works across workers: a
  client that leaves a run's stream on one worker and asks the other sees the run's edit, and
  its credits settled.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ..conftest import WAVEFORM, Media, run_body
from .test_workers import EDIT_COST, new_session, one_connection_each, sign_in, two_workers

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[str]:
    with two_workers(tmp_path_factory.mktemp("draws"), redis_url, "scaled:100") as url:
        yield url


async def _two_runs(
    vias: tuple[httpx.AsyncClient, httpx.AsyncClient], song: bytes, namespace: str
) -> list[str]:
    """In ``namespace``: sign in, make a session, and run the waveform edit twice, run n
    through ``vias[n]``. The session's draft after each run (JSON, the namespace's name in
    its URLs replaced by NS)."""
    for via in vias:
        via.headers["X-Mock-Namespace"] = namespace
    headers = await sign_in(vias[0], "draws")
    session_id = await new_session(vias[0], headers, song)
    drafts = []
    for via in vias:
        async with via.stream(
            "POST", "/run_sse", json=run_body(session_id, WAVEFORM), headers=headers
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for _ in response.aiter_bytes():
                pass
        state = await via.get(f"/api/state/nemo_agent/me/{session_id}/latest", headers=headers)
        assert state.json()["code"] == 0, state.text
        drafts.append(json.dumps(state.json()["data"]["state"]["draft"]).replace(namespace, "NS"))
    return drafts


async def test_a_sessions_runs_draw_the_same_whichever_worker_serves_them(
    served: str, media: Media
) -> None:
    song = media.song.read_bytes()
    async with one_connection_each(served) as per_worker:
        one, two = per_worker.values()
        same = await _two_runs((one, one), song, "draws-same")
        across = await _two_runs((one, two), song, "draws-across")
    first, second = same
    assert first != second, "the second run drew what the first did (its ids among it)"
    assert across == same, "the second run drew otherwise on the other worker"


async def test_a_client_that_left_a_stream_on_one_worker_sees_the_run_end_on_the_other(
    served: str, media: Media
) -> None:
    async with one_connection_each(served) as per_worker:
        one, two = per_worker.values()
        headers = await sign_in(one, "recovery")
        session_id = await new_session(one, headers, media.song.read_bytes())
        async with one.stream(
            "POST", "/run_sse", json=run_body(session_id, WAVEFORM), headers=headers
        ) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    break  # the first event: the run is going; the client leaves
        balance = (await two.get("/api/credits/balance/simple", headers=headers)).json()
        assert balance["data"]["frozen"] == EDIT_COST, "the other worker does not see the run"
        latest = f"/api/state/nemo_agent/me/{session_id}/latest"
        draft: dict[str, Any] = {}
        for _ in range(600):  # a bound of 60 s, not a timing: the run ends in seconds at 100x
            draft = (await two.get(latest, headers=headers)).json()["data"]["state"]["draft"]
            if draft.get("t"):
                break
            await asyncio.sleep(0.1)
        assert draft.get("t"), "the run's edit never showed through the other worker"
        settled: dict[str, int] = {}
        for _ in range(600):
            settled = (await two.get("/api/credits/balance/simple", headers=headers)).json()["data"]
            if settled["frozen"] == 0:
                break
            await asyncio.sleep(0.1)
        assert settled == {"available": 100 - EDIT_COST, "frozen": 0, "total": 100 - EDIT_COST}
