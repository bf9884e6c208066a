"""Anonymous tokens, their limits and expiry, claim tokens and registered tokens, over HTTP."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from mock_backend.settings import DAY

from ..conftest import SONG_SECONDS, STORES, Media, Twin, assert_error, auth

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "client_id",
    [None, "", "x" * 65, "x" * 200],
    ids=["missing", "empty", "65-chars", "200-chars"],
)
async def test_a_bad_client_id_is_400_naming_the_header(twin: Twin, client_id: str | None) -> None:
    response = await twin.anonymous(client_id)
    body = assert_error(response, 400, field="header.X-Client-Id")
    assert "X-Client-Id" in body["message"]


async def test_a_64_char_client_id_is_accepted(twin: Twin) -> None:
    response = await twin.anonymous("x" * 64)
    assert response.json()["code"] == 0


async def test_a_new_token_is_anonymous_with_100_credits_for_7_days(twin: Twin) -> None:
    now = await twin.now()
    response = await twin.anonymous("3f0e2a8c-6a1b-4e55-9b7e-2f4c1d9a8b70")
    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["message"]) == (0, "ok")
    data = body["data"]
    assert re.fullmatch(r"nmv_usr_[A-Za-z0-9]+", data["token"])
    assert re.fullmatch(r"anon_[A-Za-z0-9]+", data["user_id"])
    assert data["credits"] == 100
    assert data["scopes"] == ["read", "write", "upload"]
    expires = datetime.strptime(data["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert expires.timestamp() == pytest.approx(now + 7 * DAY, abs=1)
    assert await twin.credits(data["token"]) == {"available": 100, "frozen": 0, "total": 100}


@pytest.mark.parametrize("mock_store", STORES, indirect=True)
async def test_the_same_client_id_within_7_days_gets_the_same_token(twin: Twin) -> None:
    first = (await twin.anonymous("client-a")).json()["data"]
    await twin.advance(6 * DAY)
    again = (await twin.anonymous("client-a")).json()["data"]
    assert again["token"] == first["token"]
    assert again["user_id"] == first["user_id"]


@pytest.mark.parametrize("mock_store", STORES, indirect=True)
async def test_after_a_revocation_the_same_client_id_gets_a_new_token(twin: Twin) -> None:
    # x-assumed in openapi.yaml: a revoked token frees its client id's slot, because the
    # documented answer to 1001 is to ask again with the same client id
    token = await twin.token("client-a")
    revoked = await twin.client.post("/__mock/tokens/revoke", json={"token": token})
    assert revoked.json() == {"code": 0, "message": "ok", "data": {"revoked": True}}
    assert_error(await twin.client.get("/api/credits/balance/simple", headers=auth(token)), 1001)

    again = (await twin.anonymous("client-a")).json()
    assert again["code"] == 0
    assert again["data"]["token"] != token
    fresh = await twin.client.get(
        "/api/credits/balance/simple", headers=auth(again["data"]["token"])
    )
    assert fresh.json()["code"] == 0


@pytest.mark.parametrize("mock_settings", [{"token_ttl": 1 * DAY}], indirect=True)
async def test_one_new_token_per_client_id_per_7_days(twin: Twin) -> None:
    # With 7-day tokens a client id's still-valid token is handed back, so the per-client-id
    # limit only shows when a token dies inside the window: here tokens last one day.
    await twin.token("client-a")
    await twin.advance(1 * DAY)
    response = await twin.anonymous("client-a")
    assert assert_error(response, 429)["data"]["limit"] == "per_client_id"
    assert int(response.headers["Retry-After"]) > 0
    await twin.advance(6 * DAY)
    assert (await twin.anonymous("client-a")).json()["code"] == 0


@pytest.mark.parametrize("mock_store", STORES, indirect=True)
async def test_ten_new_client_ids_per_ip_then_429(twin: Twin) -> None:
    with twin.from_address("198.51.100.7"):
        for n in range(10):
            assert (await twin.anonymous(f"ip-client-{n}")).json()["code"] == 0
        response = await twin.anonymous("ip-client-10")
        body = assert_error(response, 429)
        assert body["data"]["limit"] == "per_ip"
        assert int(response.headers["Retry-After"]) > 0
    with twin.from_address("198.51.100.8"):
        assert (await twin.anonymous("ip-client-10")).json()["code"] == 0


@pytest.mark.parametrize("mock_store", STORES, indirect=True)
async def test_a_token_expires_after_7_days_and_the_client_id_gets_a_new_one(twin: Twin) -> None:
    token = await twin.token("client-a")
    await twin.advance(7 * DAY - 1)
    assert (await twin.credits(token))["available"] == 100

    await twin.advance(1)
    expired = await twin.client.get("/api/credits/balance/simple", headers=auth(token))
    assert "expired" in assert_error(expired, 1001)["message"]

    renewed = await twin.token("client-a")
    assert renewed != token
    assert (await twin.credits(renewed))["available"] == 100


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer nmv_usr_00000000000000000000000000000000", "Basic abc", "Bearer "],
    ids=["none", "unknown-token", "not-bearer", "empty-bearer"],
)
async def test_without_a_valid_token_every_call_is_1001(
    twin: Twin, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await twin.client.get("/api/credits/balance/simple", headers=headers)
    assert_error(response, 1001)


async def test_a_claim_token_has_no_api_access(twin: Twin) -> None:
    ready = await twin.ready()
    response = await twin.client.post(
        "/api/auth/claim-token",
        json={"task_id": ready.task_id, "session_id": ready.session_id},
        headers=auth(ready.token),
    )
    data = response.json()["data"]
    assert re.fullmatch(r"clm_[A-Za-z0-9]+", data["claim_token"])
    assert data["expires_in"] == 604800

    as_bearer = await twin.client.get(
        "/api/credits/balance/simple", headers=auth(data["claim_token"])
    )
    assert_error(as_bearer, 1001)


async def test_a_claim_token_for_another_task_is_1002(twin: Twin) -> None:
    ready = await twin.ready()
    response = await twin.client.post(
        "/api/auth/claim-token",
        json={"task_id": "task_00000000", "session_id": ready.session_id},
        headers=auth(ready.token),
    )
    assert_error(response, 1002, field="body.task_id")


async def test_a_registered_token_works_with_its_credits_and_plan(twin: Twin) -> None:
    minted = await twin.mint(credits=250, plan="pro")
    assert re.fullmatch(r"nmv_usr_[A-Za-z0-9]+", minted["token"])
    assert minted["plan"] == "pro"
    assert await twin.credits(minted["token"]) == {"available": 250, "frozen": 0, "total": 250}
    assert (await twin.session(minted["token"]))["user_id"] == minted["user_id"]


async def test_a_registered_token_without_the_upload_scope_cannot_upload(
    twin: Twin, media: Media
) -> None:
    minted = await twin.mint(scopes=["read", "write"])
    session = await twin.session(minted["token"])
    response = await twin.client.post(
        f"/api/upload-video/nemo_agent/me/{session['session_id']}",
        files=[("files", ("song.mp3", media.song.read_bytes()))],
        headers=auth(minted["token"]),
    )
    assert "upload" in assert_error(response, 1001)["message"]
    assert (await twin.state(minted["token"], session["session_id"]))["state"]["video_infos"] == []


async def test_a_registered_token_with_the_upload_scope_can_upload(
    twin: Twin, media: Media
) -> None:
    minted = await twin.mint(scopes=["read", "write", "upload"])
    ready = await twin.ready(media.song, token=minted["token"])
    assert ready.files[0]["duration"] == pytest.approx(SONG_SECONDS, abs=0.05)
