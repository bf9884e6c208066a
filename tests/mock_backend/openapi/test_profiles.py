"""The error-status profiles: business codes with HTTP 200 (default) or the REST mapping."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from ..conftest import OpenTwin, Twin, assert_envelope, auth, run_body

pytestmark = pytest.mark.anyio

MB = 1024 * 1024
LIMIT = 1 * MB

Case = Callable[[Twin], Awaitable[httpx.Response]]


async def bad_token(twin: Twin) -> httpx.Response:
    return await twin.client.get("/api/credits/balance/simple", headers=auth("nmv_usr_nope"))


async def unknown_session(twin: Twin) -> httpx.Response:
    token = await twin.token()
    return await twin.client.get(
        "/api/state/nemo_agent/me/ses_000000000000/latest", headers=auth(token)
    )


async def out_of_credits(twin: Twin) -> httpx.Response:
    token = (await twin.mint(credits=0))["token"]
    session = await twin.session(token)
    return await twin.client.post(
        "/run_sse",
        json=run_body(session["session_id"], "generate a 10 second video of a city timelapse"),
        headers={**auth(token), "Accept": "text/event-stream"},
    )


async def unsupported_file(twin: Twin) -> httpx.Response:
    ready = await twin.ready()
    return await twin.client.post(
        f"/api/upload-video/nemo_agent/me/{ready.session_id}",
        files=[("files", ("notes.txt", b"text"))],
        headers=auth(ready.token),
    )


async def file_too_large(twin: Twin) -> httpx.Response:
    ready = await twin.ready()
    return await twin.client.post(
        f"/api/upload-video/nemo_agent/me/{ready.session_id}",
        files=[("files", ("big.mp4", bytes(2 * LIMIT)))],
        headers=auth(ready.token),
    )


async def missing_client_id(twin: Twin) -> httpx.Response:
    return await twin.anonymous(None)


CASES: list[tuple[Case, int, int]] = [
    (bad_token, 1001, 401),
    (unknown_session, 1002, 404),
    (out_of_credits, 2001, 403),
    (unsupported_file, 4001, 415),
    (file_too_large, 4002, 413),
    (missing_client_id, 400, 400),  # not a business code: the same status in both profiles
]


@pytest.mark.parametrize(
    ("case", "code", "rest_status"), CASES, ids=[case.__name__ for case, _, _ in CASES]
)
async def test_the_profiles_differ_only_in_the_status(
    open_twin: OpenTwin, case: Case, code: int, rest_status: int
) -> None:
    answers: dict[str, tuple[int, object]] = {}
    for profile in ("http200", "rest"):
        async with open_twin(error_status=profile, max_upload_bytes=LIMIT) as twin:
            response = await case(twin)
            assert response.headers["content-type"].startswith("application/json")
            body = response.json()
            assert_envelope(body)
            assert body["code"] == code
            answers[profile] = (response.status_code, body)

    assert answers["http200"][0] == (200 if code >= 1000 else code)
    assert answers["rest"][0] == rest_status
    assert answers["rest"][1] == answers["http200"][1]


async def test_the_default_profile_is_http200(twin: Twin) -> None:
    health = (await twin.client.get("/__mock/health")).json()["data"]
    assert health["error_status"] == "http200"
    response = await bad_token(twin)
    assert (response.status_code, response.json()["code"]) == (200, 1001)


def test_the_rest_mapping_is_the_apps_own_contracts() -> None:
    # create_app(spec=...) with another mapping answers by it: nothing keeps the packaged one
    import asyncio
    import copy

    from mock_backend.openapi.spec import Spec, load_spec
    from mock_backend.settings import Settings
    from mock_backend.web.app import create_app

    document = copy.deepcopy(load_spec().document)
    document["info"]["x-error-status-profiles"]["rest"]["1002"] = 410
    app = create_app(Settings(error_status="rest", clock="manual"), spec=Spec(document))
    transport = httpx.ASGITransport(app=app)

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
            token = (
                await client.post("/__mock/tokens", json={"credits": 10})
            ).json()["data"]["token"]
            return await client.get(
                "/api/state/nemo_agent/me/ses_000000000000/latest", headers=auth(token)
            )

    answer = asyncio.run(go())
    assert answer.status_code == 410, answer.text
    assert answer.json()["code"] == 1002
