"""A namespace's own settings (``PUT /__mock/namespace``): a CI run on a shared mock picks its
seed, clock, draws, render lengths and error profile before anything else happens in it; every
process sharing the store makes the namespace alike; the default namespace and the others keep
the server's. And what a verifier on another host reads back: the tokens issued, the clock's
lateness and held spans, the runs going on."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mock_backend.state.redis_store import RedisStore
from mock_backend.state.store import Store

from .conftest import BASE_URL, SEED, STORES, Media, OpenTwin, Twin, _check_response, assert_error

pytestmark = pytest.mark.anyio

OWN = {"seed": SEED + 4, "clock": "scaled:50", "error_status": "rest", "render_seconds": [70, 80]}


@contextlib.asynccontextmanager
async def seen_from(of: Twin, name: str) -> AsyncIterator[Twin]:
    """The mock ``of``, reached through namespace ``name``'s base URL (as a client is)."""
    async with httpx.AsyncClient(
        transport=of.transport,
        base_url=f"{BASE_URL}/__ns/{name}",
        event_hooks={"response": [_check_response]},
    ) as client:
        yield Twin(of.app, client, of.transport)


async def health(twin: Twin) -> dict[str, Any]:
    data: dict[str, Any] = (await twin.client.get("/__mock/health")).json()["data"]
    return data


@pytest.mark.parametrize("mock_store", STORES, indirect=True)
async def test_a_namespace_runs_on_the_settings_it_chose_and_no_other_does(
    twin: Twin, mock_store: Store | None
) -> None:
    async with seen_from(twin, "ci-own") as own, seen_from(twin, "ci-plain") as plain:
        chosen = await own.client.put("/__mock/namespace", json=OWN)
        assert chosen.status_code == 200, chosen.text
        data = chosen.json()["data"]
        assert data["settings"] == OWN
        assert (data["seed"], data["clock"]["rate"], data["error_status"]) == (
            SEED + 4,
            50.0,
            "rest",
        )
        # the REST profile: an unauthenticated call is a 401 there, a 200 envelope elsewhere
        refused = await own.client.get("/api/credits/balance/simple")
        assert refused.status_code == 401, refused.text
        for other in (plain, twin):
            answered = await other.client.get("/api/credits/balance/simple")
            assert (answered.status_code, answered.json()["code"]) == (200, 1001)
            shown = await health(other)
            assert (shown["seed"], shown["clock"]["mode"]) == (SEED, "manual")


@pytest.mark.parametrize("mock_store", STORES, indirect=True)
async def test_settings_stay_through_a_reset_and_go_with_the_namespace(
    twin: Twin, mock_store: Store | None
) -> None:
    async with seen_from(twin, "ci-kept") as own:
        await own.client.put("/__mock/namespace", json=OWN)
        await own.client.post("/__mock/reset", json={})
        assert (await health(own))["error_status"] == "rest"
        # the same settings again (a retried call): answered, nothing remade
        again = await own.client.put("/__mock/namespace", json=OWN)
        assert again.status_code == 200
        await own.client.delete("/__mock/namespace")
        assert (await health(own))["error_status"] == "http200", "a closed namespace came back"
        assert (await own.client.put("/__mock/namespace", json={"seed": 9})).status_code == 200
        assert (await health(own))["seed"] == 9


async def test_a_namespace_in_use_or_the_default_cannot_choose_and_says_what_to_do(
    twin: Twin, media: Media
) -> None:
    refused = await twin.client.put("/__mock/namespace", json={"seed": 1})
    assert_error(refused, 422, field="header.X-Mock-Namespace")
    assert "server's own settings" in refused.json()["message"]
    async with seen_from(twin, "ci-used") as used:
        await used.ready(media.song)
        refused = await used.client.put("/__mock/namespace", json={"seed": 1})
        assert_error(refused, 409, field="header.X-Mock-Namespace")
        message = refused.json()["message"]
        assert "tokens" in message, message
        assert "DELETE /__mock/namespace" in message, message
    async with seen_from(twin, "ci-twice") as twice:
        await twice.client.put("/__mock/namespace", json={"seed": 1})
        changed = await twice.client.put("/__mock/namespace", json={"seed": 2})
        assert_error(changed, 409, field="header.X-Mock-Namespace")
        assert "settings are set" in changed.json()["message"]


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"data_dir": "/etc"}, "body.data_dir", "not a setting a namespace may choose"),
        ({"seed": -1}, "body.seed", "an integer of at least 0"),
        ({"seed": True}, "body.seed", "an integer"),
        ({"clock": "scaled:0"}, "body.clock", "positive"),
        ({"clock": "scaled:1e9"}, "body.clock", "at most scaled:100000"),
        ({"clock": "fast"}, "body.clock", "unknown clock"),
        ({"draws": "random"}, "body.draws", "client or order"),
        ({"render_seconds": [80, 70]}, "body.render_seconds", "low <= high"),
        ({"render_seconds": [1, 10**400]}, "body.render_seconds", "[low, high]"),
        ({"heartbeat_every": 0}, "body.heartbeat_every", "more than 0"),
    ],
)
async def test_a_wrong_setting_gets_the_envelope_naming_it(
    twin: Twin, body: dict[str, Any], field: str, says: str
) -> None:
    async with seen_from(twin, "ci-wrong") as own:
        refused = await own.client.put("/__mock/namespace", json=body)
        assert_error(refused, 422, field=field)
        assert says in refused.json()["message"]
        assert (await health(own))["seed"] == SEED, "a refused setting changed the namespace"


async def test_every_process_on_one_store_makes_the_namespace_alike(
    open_twin: OpenTwin, redis_url: str, redis_namespace: str
) -> None:
    """Two mocks on one Redis (as two --workers are): settings chosen through one are the
    other's when it first serves the namespace."""
    one, two = (RedisStore(redis_url, namespace=redis_namespace) for _ in range(2))
    async with (
        open_twin(store=one) as first,
        open_twin(store=two) as second,
        seen_from(first, "ci-shared") as a,
        seen_from(second, "ci-shared") as b,
    ):
        await a.client.put("/__mock/namespace", json=OWN)
        shown = await health(b)
    assert (shown["seed"], shown["clock"]["rate"], shown["error_status"]) == (
        SEED + 4,
        50.0,
        "rest",
    )


async def test_a_verifier_reads_the_tokens_and_the_clock_it_judges_by(
    twin: Twin, media: Media
) -> None:
    async with seen_from(twin, "ci-read") as own:
        ready = await own.ready(media.song)
        listed = (await own.client.get("/__mock/tokens")).json()["data"]["tokens"]
        assert [t["token"] for t in listed] == [ready.token]
        assert listed[0]["kind"] == "anonymous"
        assert (await twin.client.get("/__mock/tokens")).json()["data"]["tokens"] == []
        clock = (await own.client.get("/__mock/clock")).json()["data"]
        assert {"wall", "lateness", "now", "mode"} <= set(clock)
        assert "held" not in clock
        since = (await own.client.get(f"/__mock/clock?held_since={clock['wall'] - 60}")).json()
        assert isinstance(since["data"]["held"], list)
        refused = await own.client.get("/__mock/clock?held_since=soon")
        assert_error(refused, 422, field="query.held_since")
        assert (await health(own))["runs"] == 0
