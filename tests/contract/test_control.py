"""`Control` and `AsyncControl`: the control API as methods, the same calls sync and async."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from contract import AsyncControl, Control, ControlError
from mock_backend import Settings, create_app
from mock_backend.web.transport import StreamingASGITransport, SyncASGITransport

CLIENT = {"X-Client-Id": "control-test"}


@pytest.fixture
def app() -> Iterator[object]:
    app = create_app(Settings(seed=3, clock="manual"))
    yield app
    app.state.backend.close()


def _token(http: httpx.Client) -> str:
    token: str = http.post("/api/auth/anonymous-token", headers=CLIENT).json()["data"]["token"]
    return token


def test_a_scenario_applied_through_control_reaches_the_client_and_shows_in_the_journal(
    app: object,
) -> None:
    with httpx.Client(transport=SyncASGITransport(app), base_url="http://mock") as http:
        control = Control(http)
        token = _token(http)
        (rule,) = control.scenario("token-expired", token=token)
        assert [r["id"] for r in control.active()] == [rule]
        balance = http.get(
            "/api/credits/balance/simple", headers={"Authorization": f"Bearer {token}"}
        )
        assert balance.json()["code"] == 1001, balance.text  # the scenario: token expired
        (call,) = control.calls("getCredits", token=token)
        assert call["rule"].endswith(rule)  # "token-expired:r1": the scenario and its rule
        assert control.active() == []  # it applied once: gone
        (kept,) = control.rule({"match": {"operation": "getCredits"}, "respond": {"code": 2001}})
        assert control.remove(kept) == 1
        assert control.active() == []
        assert control.advance(30) == pytest.approx(control.now())
        assert control.health()["state"]["users"] == 1
        control.reset()
        assert control.health()["state"]["users"] == 0


def test_a_refused_control_call_raises_with_the_mocks_reason(app: object) -> None:
    with httpx.Client(transport=SyncASGITransport(app), base_url="http://mock") as http:
        control = Control(http)
        with pytest.raises(ControlError, match=r"POST /__mock/scenarios failed .*no-such"):
            control.scenario("no-such-scenario")
        with pytest.raises(ControlError, match=r"HTTP 422.*cannot advance by -5") as refused:
            control.advance(-5)
        assert refused.value.status == 422
        with pytest.raises(ControlError, match="no active rule r-9"):
            control.remove("r-9")


@pytest.mark.anyio
async def test_the_async_driver_sends_the_same_calls(app: object) -> None:
    transport = StreamingASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as http:
        control = AsyncControl(http)
        minted = await control.mint_token(credits=7, plan="free")
        assert (minted["credits"], minted["plan"]) == (7, "free")
        (rule,) = await control.scenario("rate-limited", client_id="c-9")
        assert [r["id"] for r in await control.active()] == [rule]
        assert await control.advance(5) == pytest.approx(await control.now())
        await control.revoke(minted["token"])
        balance = await http.get(
            "/api/credits/balance/simple", headers={"Authorization": f"Bearer {minted['token']}"}
        )
        assert balance.json()["code"] == 1001
        assert await control.calls("getCredits", token=minted["token"])
        with pytest.raises(ControlError, match="no such token"):
            await control.revoke("nmv_usr_nope")


@pytest.mark.anyio
async def test_a_namespace_of_its_own_through_both_drivers(app: object) -> None:
    """What the suite's shared-mock mode calls: choose the namespace's settings, apply a
    scenario as the catalogue writes it, read back the tokens and the clock it judges by."""
    base = "http://mock/__ns/ci-control"
    with httpx.Client(transport=SyncASGITransport(app), base_url=base) as http:
        control = Control(http)
        chosen = control.configure(seed=11, clock="manual", error_status="rest")
        assert (chosen["seed"], chosen["error_status"]) == (11, "rest")
        (rule,) = control.apply({"name": "token-expired", "scope": {}})
        assert [r["id"] for r in control.active()] == [rule]
        token = _token(http)
        assert [t["token"] for t in control.tokens()] == [token]
        clock = control.clock_details(held_since=0.0)
        assert (clock["mode"], clock["held"]) == ("manual", [])
        with pytest.raises(ControlError, match=r"HTTP 409.*in use"):
            control.configure(seed=12)
    async with httpx.AsyncClient(transport=StreamingASGITransport(app), base_url=base) as ahttp:
        acontrol = AsyncControl(ahttp)
        assert (await acontrol.configure(seed=11, clock="manual", error_status="rest"))[
            "seed"
        ] == 11, "the same settings again are answered"
        assert [t["token"] for t in await acontrol.tokens()] == [token]
        assert "lateness" in await acontrol.clock_details()
        assert await acontrol.apply({"rule": {"match": {"operation": "getCredits"}}})


def test_both_drivers_offer_the_same_calls() -> None:
    def calls(driver: type) -> set[str]:
        return {name for name in vars(driver) if not name.startswith("_")}

    assert calls(Control) == calls(AsyncControl)
