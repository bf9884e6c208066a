"""A rule that answers with a bare code (``respond: {code: 4002}``) says what the mock says when
that refusal really happens: the words come from the same factories, with this mock's settings.
Only what the real situation alone knows differs: a file's name, and the price of a run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from mock_backend.settings import DAY

from ..conftest import Twin, assert_error, auth, run_body

pytestmark = pytest.mark.anyio

MB = 1024 * 1024
GENERATE = "generate a 5 second video of a city at night"  # 100 credits


@pytest.fixture
def mock_settings() -> dict[str, Any]:
    # not the defaults, so that a message that ignores the live settings shows
    return {"token_ttl": DAY, "max_upload_bytes": MB}


async def script(twin: Twin, operation: str, code: int) -> None:
    await twin.control.rule({"match": {"operation": operation}, "respond": {"code": code}})


async def both(
    twin: Twin,
    operation: str,
    code: int,
    send: Callable[[], Awaitable[httpx.Response]],
    cause: Callable[[], Awaitable[Any]] | None = None,
) -> tuple[str, str]:
    """The real refusal of ``send`` (once ``cause`` made it happen), and the scripted one sent
    before it: (real message, scripted message)."""
    await script(twin, operation, code)
    scripted = assert_error(await send(), code)
    if cause is not None:
        await cause()
    real = assert_error(await send(), code)
    return real["message"], scripted["message"]


async def test_1001_an_expired_token(twin: Twin) -> None:
    token = await twin.token()

    async def send() -> httpx.Response:
        return await twin.client.get("/api/credits/balance/simple", headers=auth(token))

    real, scripted = await both(twin, "getCredits", 1001, send, lambda: twin.advance(DAY + 1))
    assert scripted == real
    assert "1 day" in real  # the live token lifetime


async def test_1002_a_lost_session(twin: Twin) -> None:
    ready = await twin.ready()

    async def send() -> httpx.Response:
        path = f"/api/state/nemo_agent/me/{ready.session_id}/latest"
        return await twin.client.get(path, headers=auth(ready.token))

    async def lose() -> None:
        twin.backend.store.forget_session(ready.session_id)

    real, scripted = await both(twin, "getSessionState", 1002, send, lose)
    assert scripted == real
    assert ready.session_id in real


async def test_2001_out_of_credits(twin: Twin) -> None:
    minted = await twin.mint(credits=0)
    session = await twin.session(minted["token"])

    async def send() -> httpx.Response:
        return await twin.client.post(
            "/run_sse",
            json=run_body(session["session_id"], GENERATE),
            headers={**auth(minted["token"]), "Accept": "text/event-stream"},
        )

    real, scripted = await both(twin, "runSse", 2001, send)
    assert real == "Not enough credits: this needs 100, 0 available"
    assert scripted == real.replace("this needs 100, ", "")  # a scripted run has no price


async def test_402_the_free_plan_cannot_export(twin: Twin) -> None:
    minted = await twin.mint(plan="free")
    ready = await twin.ready(token=minted["token"])
    src = "https://example.com/song.mp3"
    draft = {"t": [{"tt": 1, "sg": [{"s": 0, "d": 1000, "m": {"kind": "audio", "src": src}}]}]}
    ids = iter(["render_1", "render_2"])

    async def send() -> httpx.Response:
        return await twin.submit(ready.token, ready.session_id, draft, next(ids))

    real, scripted = await both(twin, "submitRender", 402, send)
    assert scripted == real


async def test_400_a_missing_client_id(twin: Twin) -> None:
    await script(twin, "createAnonymousToken", 400)
    scripted = assert_error(await twin.anonymous("client-1"), 400)
    real = assert_error(await twin.anonymous(None), 400)
    assert scripted["message"] == real["message"]


async def test_429_a_second_token_for_a_client_id_within_the_window(twin: Twin) -> None:
    await twin.token("client-1")

    async def send() -> httpx.Response:
        return await twin.anonymous("client-1")

    async def expire() -> None:  # its token expires after a day, and counts for seven
        await twin.advance(DAY + 1)

    real, scripted = await both(twin, "createAnonymousToken", 429, send, expire)
    assert scripted == real


async def test_4001_an_unsupported_file(twin: Twin) -> None:
    ready = await twin.ready()

    async def send() -> httpx.Response:
        return await twin.client.post(
            f"/api/upload-video/nemo_agent/me/{ready.session_id}",
            files=[("files", ("notes.txt", b"some text"))],
            headers=auth(ready.token),
        )

    real, scripted = await both(twin, "uploadFiles", 4001, send)
    assert scripted == real.replace("notes.txt", "the file")  # no body is read for a rule


async def test_4002_an_upload_past_the_live_limit(twin: Twin) -> None:
    ready = await twin.ready()

    async def send() -> httpx.Response:
        return await twin.client.post(
            f"/api/upload-video/nemo_agent/me/{ready.session_id}",
            files=[("files", ("big.mp3", b"\0" * (MB + 128 * 1024)))],
            headers=auth(ready.token),
        )

    real, scripted = await both(twin, "uploadFiles", 4002, send)
    assert scripted == real
    assert "1 MB" in real
