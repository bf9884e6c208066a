"""Idle namespaces on a shared mock: their records and files go once no worker uses them.

``nemo-mock serve --workers 2 --state redis://… --namespace-idle 3``: a CI run's namespace that
one worker stopped hearing from stays while the other worker serves it, and once neither has
for the idle time its keys leave Redis and its files the data folder, with no request needed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis

from ..conftest import Media
from .test_workers import new_session, one_connection_each, sign_in, two_workers

pytestmark = pytest.mark.anyio

IDLE = 3.0  # seconds of --namespace-idle


async def test_a_namespace_stays_while_any_worker_uses_it_then_goes_whole(
    tmp_path: Path, redis_url: str, media: Media
) -> None:
    keys = redis.Redis.from_url(redis_url, decode_responses=True)
    folder = tmp_path / "data"
    folder.mkdir()
    with two_workers(folder, redis_url, "scaled:100", "--namespace-idle", str(IDLE)) as url:
        async with one_connection_each(url) as per_worker:
            one, two = per_worker.values()
            for via in (one, two):
                via.headers["X-Mock-Namespace"] = "ci-idle"
            headers = await sign_in(one, "idle-1")
            session_id = await new_session(one, headers, media.song.read_bytes())
            files = folder / "namespaces" / "ci-idle"
            assert any(files.rglob("*.mp3")), "the upload is not in the namespace's folder"
            # worker one hears nothing of ci-idle for twice its idle time; worker two does
            loop = asyncio.get_running_loop()
            until = loop.time() + 2 * IDLE
            while loop.time() < until:
                used = await two.get("/api/credits/balance/simple", headers=headers)
                assert used.json()["code"] == 0, used.text
            for via in (one, two):
                state = await via.get(
                    f"/api/state/nemo_agent/me/{session_id}/latest", headers=headers
                )
                assert state.json()["code"] == 0, f"released while a worker used it: {state.text}"
            # now nobody uses it: its keys and files go without another request
            left: list[str] = []
            for _ in range(600):  # a bound of 60 s, not a timing
                left = list(keys.scan_iter(match="nemo:ci-idle:*"))
                if not left and not files.exists():
                    break
                await asyncio.sleep(0.1)
            assert left == [], f"keys of an idle namespace stayed: {left[:5]}"
            assert not files.exists(), "the idle namespace's files stayed"
            assert keys.zscore("nemo:default:namespaces", "ci-idle") is None
            # and the name starts afresh
            again = await one.get("/api/credits/balance/simple", headers=headers)
            assert again.json()["code"] == 1001, again.text
    keys.close()
