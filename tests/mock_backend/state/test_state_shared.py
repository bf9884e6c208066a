"""Two mocks on one Redis namespace share their records, as the workers of issue 16 will: a
token, a session and credits made through one are there for the other."""

from __future__ import annotations

import pytest

from mock_backend.state.redis_store import RedisStore

from ..conftest import Media, OpenTwin, auth

EDIT_COST = 50  # the waveform edit (test_credits.py)

pytestmark = pytest.mark.anyio


async def test_two_mocks_on_one_redis_namespace_share_tokens_sessions_and_credits(
    open_twin: OpenTwin, media: Media, redis_url: str, redis_namespace: str
) -> None:
    one = RedisStore(redis_url, namespace=redis_namespace)
    two = RedisStore(redis_url, namespace=redis_namespace)
    async with open_twin(store=one) as first, open_twin(store=two) as second:
        ready = await first.ready(media.song)
        state = await second.state(ready.token, ready.session_id)  # the token and session
        assert [f["filename"] for f in state["state"]["video_infos"]] == ["song.mp3"]

        await second.chat(ready.token, ready.session_id)  # credits spent through the second
        assert await first.credits(ready.token) == {
            "available": 100 - EDIT_COST,
            "frozen": 0,
            "total": 100 - EDIT_COST,
        }
        draft = (await first.state(ready.token, ready.session_id))["state"]["draft"]
        assert draft["t"], "the run's draft, made in the second mock, is in the first's answer"

        await first.control.revoke(ready.token)  # raises unless the mock revoked it
        refused = await second.client.get("/api/credits/balance/simple", headers=auth(ready.token))
        assert refused.json()["code"] == 1001


async def test_two_mocks_on_one_redis_never_mint_the_same_id(
    open_twin: OpenTwin, media: Media, redis_url: str, redis_namespace: str
) -> None:
    """Ids are drawn from the seed and a count per key: with the counts in each process, one
    client's second session, made through the other mock, got its first session's id and
    overwrote it. The counts live in the store now."""
    one = RedisStore(redis_url, namespace=redis_namespace)
    two = RedisStore(redis_url, namespace=redis_namespace)
    async with open_twin(store=one) as first, open_twin(store=two) as second:
        ready = await first.ready(media.song)
        other = await second.session(ready.token)
        more = await first.session(ready.token)
        ids = [ready.session_id, other["session_id"], more["session_id"]]
        assert len(set(ids)) == 3, f"one client's sessions through two mocks share an id: {ids}"
        state = await second.state(ready.token, ready.session_id)
        assert [f["filename"] for f in state["state"]["video_infos"]] == ["song.mp3"], (
            "the first session lost its upload: a later session overwrote it"
        )
        tokens = {await first.token(), await second.token(), await first.token()}
        assert len(tokens) == 3, "two anonymous tokens were the same"
