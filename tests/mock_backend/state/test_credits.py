"""Credits: frozen while a run works, charged at its end, refused before a stream starts."""

from __future__ import annotations

import httpx
import pytest

from ..conftest import STORES, WAVEFORM, Media, Twin, assert_error, auth, events, run_body

pytestmark = pytest.mark.anyio

EDIT_COST = 50


async def start_run(twin: Twin, token: str, session_id: str) -> httpx.Response:
    """``/run_sse`` as a client sends it, answered (but not streamed) in full."""
    return await twin.client.post(
        "/run_sse",
        json=run_body(session_id, WAVEFORM),
        headers={**auth(token), "Accept": "text/event-stream"},
    )


@pytest.mark.parametrize("mock_store", STORES, indirect=True)
async def test_credits_are_frozen_during_a_run_and_charged_at_its_end(
    twin: Twin, media: Media
) -> None:
    ready = await twin.ready(media.song)
    observed = [await twin.credits(ready.token)]

    async def observe(payload: bytes) -> None:
        observed.append(await twin.credits(ready.token))

    payloads = await twin.chat(ready.token, ready.session_id, on_event=observe)
    observed.append(await twin.credits(ready.token))

    assert events(payloads), "the run streamed no agent event"
    for seen in observed:
        assert seen["available"] + seen["frozen"] == seen["total"], observed
    assert observed[0] == {"available": 100, "frozen": 0, "total": 100}
    assert {"available": 50, "frozen": EDIT_COST, "total": 100} in observed[1:-1]
    assert observed[-1] == {"available": 100 - EDIT_COST, "frozen": 0, "total": 100 - EDIT_COST}


@pytest.mark.parametrize("mock_store", STORES, indirect=True)
async def test_not_enough_credits_is_2001_before_the_stream_starts(
    twin: Twin, media: Media
) -> None:
    ready = await twin.ready(media.song)
    await twin.chat(ready.token, ready.session_id)
    await twin.chat(ready.token, ready.session_id)
    assert await twin.credits(ready.token) == {"available": 0, "frozen": 0, "total": 0}

    response = await start_run(twin, ready.token, ready.session_id)
    assert response.headers["content-type"].startswith("application/json")
    body = assert_error(response, 2001)
    user_id = (await twin.session(ready.token))["user_id"]
    assert body["data"]["user_id"] == user_id
    assert body["data"]["registered"] is False
    assert (body["data"]["required"], body["data"]["available"]) == (EDIT_COST, 0)
    assert await twin.credits(ready.token) == {"available": 0, "frozen": 0, "total": 0}


async def test_a_registered_token_without_credits_is_2001_registered(
    twin: Twin, media: Media
) -> None:
    minted = await twin.mint(credits=0)
    ready = await twin.ready(media.song, token=minted["token"])

    body = assert_error(await start_run(twin, ready.token, ready.session_id), 2001)
    assert body["data"]["registered"] is True
    assert body["data"]["user_id"] == minted["user_id"]


async def test_a_refused_run_freezes_nothing(twin: Twin, media: Media) -> None:
    minted = await twin.mint(credits=EDIT_COST - 1)
    ready = await twin.ready(media.song, token=minted["token"])
    assert_error(await start_run(twin, ready.token, ready.session_id), 2001)
    assert await twin.credits(ready.token) == {
        "available": EDIT_COST - 1,
        "frozen": 0,
        "total": EDIT_COST - 1,
    }
