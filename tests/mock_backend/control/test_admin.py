"""The control API under /__mock: reset, the clock, and who may call it."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import Media, OpenTwin, Twin, assert_error, auth

pytestmark = pytest.mark.anyio

CONTROL_CALLS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/__mock/health", None),
    ("GET", "/__mock/clock", None),
    ("POST", "/__mock/clock", {"advance": 1}),
    ("POST", "/__mock/reset", {}),
    ("POST", "/__mock/tokens", {"credits": 10}),
    ("POST", "/__mock/tokens/revoke", {"token": "nmv_usr_0"}),
]
CONTROL_IDS = ["health", "clock", "advance", "reset", "mint", "revoke"]


def files_under(twin: Twin) -> list[str]:
    return sorted(
        str(p.relative_to(twin.data_dir)) for p in twin.data_dir.rglob("*") if p.is_file()
    )


async def test_reset_forgets_tokens_and_removes_files(twin: Twin, media: Media) -> None:
    ready = await twin.ready(media.song)
    draft = {
        "t": [
            {
                "tt": 1,
                "sg": [
                    {"s": 0, "d": 1000, "m": {"kind": "audio", "src": ready.files[0]["cdn_url"]}}
                ],
            }
        ],
        "d": 1000,
    }
    await twin.submit(ready.token, ready.session_id, draft, "render_1", output={"format": "mp3"})
    assert (await twin.until_finished(ready.token, "render_1"))[-1]["status"] == "completed"
    before = files_under(twin)
    assert any(name.startswith("uploads/") for name in before), before
    assert any(name.startswith("renders/") for name in before), before

    response = await twin.client.post("/__mock/reset", json={})
    assert response.json()["code"] == 0
    assert files_under(twin) == []
    balance = await twin.client.get("/api/credits/balance/simple", headers=auth(ready.token))
    assert_error(balance, 1001)
    assert_error(await twin.client.get(ready.files[0]["cdn_url"]), 404)
    # a fresh start: the same client id may ask again at once
    assert await twin.credits(await twin.token()) == {"available": 100, "frozen": 0, "total": 100}


async def test_health_counts_what_the_mock_holds_and_reset_empties_it(
    twin: Twin, media: Media
) -> None:
    async def state() -> dict[str, int]:
        return dict((await twin.control.health())["state"])

    empty = await state()
    assert empty["users"] == empty["tokens"] == empty["sessions"] == 0, empty
    ready = await twin.ready(media.song)
    held = await state()
    assert (held["users"], held["tokens"], held["sessions"], held["uploads"]) == (1, 1, 1, 1), held
    assert held["journal_entries"] >= 3, held
    assert held["journal_bytes"] > 0, held
    await twin.client.get("/api/credits/balance/simple", headers=auth(ready.token))
    assert (await state())["users"] == 1  # reading state creates none

    await twin.control.reset()
    after = await state()
    assert after["users"] == after["tokens"] == after["sessions"] == after["uploads"] == 0, after


async def test_the_clock_is_read_and_moved(twin: Twin) -> None:
    first = (await twin.client.get("/__mock/clock")).json()["data"]
    assert first["mode"] == "manual"
    assert (await twin.client.get("/__mock/clock")).json()["data"]["now"] == first["now"]

    moved = await twin.client.post("/__mock/clock", json={"advance": 30})
    assert moved.json()["data"]["now"] == pytest.approx(first["now"] + 30)
    await twin.advance(0.5)
    assert await twin.now() == pytest.approx(first["now"] + 30.5)


@pytest.mark.parametrize(
    "body",
    [{"advance": -1}, {"advance": "soon"}, {"advance": True}, {}, {"advance": None}],
    ids=["negative", "string", "bool", "missing", "null"],
)
async def test_the_clock_refuses_a_bad_advance(twin: Twin, body: dict[str, Any]) -> None:
    now = await twin.now()
    response = await twin.client.post("/__mock/clock", json=body)
    assert_error(response, 422, field="body.advance")
    assert await twin.now() == now


async def test_a_client_sleeps_on_the_mocks_clock_and_the_journal_keeps_the_sleep(
    open_twin: OpenTwin,
) -> None:
    async with open_twin(clock="scaled:1000") as twin:
        before = await twin.now()
        slept = await twin.client.post("/__mock/clock/sleep", json={"seconds": 30})
        assert slept.status_code == 200, slept.text
        answer = slept.json()["data"]
        assert answer["slept"] == 30
        assert answer["now"] >= before + 30
        journal = (await twin.client.get("/__mock/journal")).json()["data"]["entries"]
        (kept,) = [e for e in journal if e["path"] == "/__mock/clock/sleep"]
        assert kept["response"]["data"] == answer
        assert kept["virtual_end"] - kept["virtual_start"] >= 30
        assert kept["real_start"] <= kept["real_end"]


@pytest.mark.parametrize(
    "body",
    [{"seconds": -1}, {"seconds": "30"}, {"seconds": True}, {}, {"seconds": 1e9}],
    ids=["negative", "string", "bool", "missing", "too-long"],
)
async def test_a_sleep_refuses_a_bad_length(open_twin: OpenTwin, body: dict[str, Any]) -> None:
    async with open_twin(clock="scaled:1000") as twin:
        response = await twin.client.post("/__mock/clock/sleep", json=body)
        assert_error(response, 422, field="body.seconds")


async def test_a_sleep_on_a_manual_clock_is_refused_not_held_forever(twin: Twin) -> None:
    response = await twin.client.post("/__mock/clock/sleep", json={"seconds": 30})
    assert_error(response, 409)
    assert "POST /__mock/clock" in response.json()["message"]


@pytest.mark.parametrize(("method", "url", "body"), CONTROL_CALLS, ids=CONTROL_IDS)
async def test_a_caller_off_loopback_is_403(
    twin: Twin, method: str, url: str, body: dict[str, Any] | None
) -> None:
    now = await twin.now()
    with twin.from_address("203.0.113.9"):
        response = await twin.client.request(method, url, json=body)
    assert "loopback" in assert_error(response, 403)["message"]
    assert await twin.now() == now


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"X-Mock-Admin-Token": "wrong"}, 403), ({"X-Mock-Admin-Token": "s3cret"}, 200)],
    ids=["without", "wrong", "right"],
)
@pytest.mark.parametrize(("method", "url", "body"), CONTROL_CALLS, ids=CONTROL_IDS)
async def test_an_admin_token_guards_every_control_call(
    open_twin: OpenTwin,
    method: str,
    url: str,
    body: dict[str, Any] | None,
    headers: dict[str, str],
    status: int,
) -> None:
    async with open_twin(admin_token="s3cret") as twin:
        response = await twin.client.request(method, url, json=body, headers=headers)
    if status == 200 and url.endswith("/revoke"):
        assert_error(response, 404, field="body.token")  # admitted; the token is unknown
    elif status == 200:
        assert (response.status_code, response.json()["code"]) == (200, 0)
    else:
        assert_error(response, status)


async def test_with_an_admin_token_the_control_api_answers_off_loopback(
    open_twin: OpenTwin,
) -> None:
    async with open_twin(admin_token="s3cret", address="203.0.113.9") as twin:
        response = await twin.client.get("/__mock/clock", headers={"X-Mock-Admin-Token": "s3cret"})
        assert response.json()["data"]["mode"] == "manual"
        assert_error(await twin.client.get("/__mock/clock"), 401)
