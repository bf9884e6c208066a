"""A bug in the mock answers the 500 envelope while nothing of the response has gone out, and
ends the connection without a second answer when something has (crashes.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.responses import StreamingResponse

from mock_backend.settings import Settings
from mock_backend.web.app import create_app
from mock_backend.web.handlers import Call, Handler, all_handlers
from mock_backend.web.server import LiveServer

OPERATION = "getCredits"


def app_whose_credits(fail: Any) -> Any:
    handlers = all_handlers()
    handlers[OPERATION] = Handler(fail)
    return create_app(Settings(), handlers=handlers)


async def fails_at_once(call: Call) -> Any:
    raise ZeroDivisionError("a bug")


async def fails_midway(call: Call) -> Any:
    async def body() -> Any:
        yield b'{"code":0,'
        raise ZeroDivisionError("a bug, after the head went out")

    return StreamingResponse(body(), media_type="application/json")


def token_headers(client: httpx.Client) -> dict[str, str]:
    minted = client.post("/api/auth/anonymous-token", headers={"X-Client-Id": "crash"})
    return {"Authorization": f"Bearer {minted.json()['data']['token']}"}


def test_a_crash_before_the_answer_is_the_500_envelope(caplog: pytest.LogCaptureFixture) -> None:
    async def ask() -> httpx.Response:
        app = app_whose_credits(fails_at_once)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
            minted = await client.post(
                "/api/auth/anonymous-token", headers={"X-Client-Id": "crash"}
            )
            token = minted.json()["data"]["token"]
            auth = {"Authorization": f"Bearer {token}"}
            return await client.get("/api/credits/balance/simple", headers=auth)

    answer = asyncio.run(ask())
    assert answer.status_code == 500
    body = answer.json()
    assert body["code"] == 500
    assert "ZeroDivisionError" in body["message"]
    assert "bug in nemo-mock" in body["message"]
    assert "bug in the mock while answering GET" in caplog.text


def test_a_crash_after_the_head_ends_the_connection_without_a_second_answer() -> None:
    app = app_whose_credits(fails_midway)
    server = LiveServer(app, raise_app_exceptions=False)
    with server, httpx.Client(base_url=server.url) as client:
        auth = token_headers(client)
        with pytest.raises(httpx.RemoteProtocolError):  # the body breaks off: no second head
            client.get("/api/credits/balance/simple", headers=auth)
        # the error went up to the server (which logs it), once, as it is
        assert [type(e) for e in server.app_errors] == [ZeroDivisionError]
        assert client.post("/api/auth/anonymous-token", headers={"X-Client-Id": "a"}).is_success
