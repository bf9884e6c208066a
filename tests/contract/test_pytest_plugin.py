"""The pytest plugin works from a project outside this repository (pytester, a subprocess)."""

from __future__ import annotations

import pytest

PROJECT_TESTS = """
import httpx
import pytest
from httpx_sse import aconnect_sse

PROD = "https://mega-api-prod.nemovideo.ai"


def token(client, client_id="c-1"):
    r = client.post(f"{PROD}/api/auth/anonymous-token", headers={"X-Client-Id": client_id})
    return r.json()


def test_production_host_is_routed_to_the_mock(nemo_mock):
    with httpx.Client() as client:
        body = token(client)
        assert body["code"] == 0
        assert body["data"]["credits"] == 100
        bearer = {"Authorization": "Bearer " + body["data"]["token"]}
        credits = client.get(f"{PROD}/api/credits/balance/simple", headers=bearer).json()
    assert credits["data"] == {"available": 100, "frozen": 0, "total": 100}
    assert [e["operation"] for e in nemo_mock.journal()] == ["createAnonymousToken", "getCredits"]


@pytest.mark.anyio
async def test_streams_arrive_through_the_production_host(nemo_mock):
    async with httpx.AsyncClient(base_url=PROD) as client:
        tok = await client.post("/api/auth/anonymous-token", headers={"X-Client-Id": "c-2"})
        tok = tok.json()
        bearer = {"Authorization": "Bearer " + tok["data"]["token"]}
        sid = (await client.post("/api/tasks/me/with-session/nemo_agent", headers=bearer,
                                 json={"task_name": "project"})).json()["data"]["session_id"]
        body = {"app_name": "nemo_agent", "user_id": "me", "session_id": sid,
                "new_message": {"parts": [{"text": "hello, what can you do?"}]}}
        async with aconnect_sse(client, "POST", "/run_sse", json=body,
                                headers={**bearer, "Accept": "text/event-stream"}) as source:
            events = [sse.data async for sse in source.aiter_sse()]
    assert any('"text"' in e for e in events)


@pytest.mark.nemo_scenario("rate-limited", client_id="c-3")
def test_marker_applies_a_scenario(nemo_mock):
    with httpx.Client() as client:
        assert token(client, "c-3")["code"] == 429
        assert token(client, "c-4")["code"] == 0


def test_advancing_the_clock_expires_tokens(nemo_mock, nemo_advance, nemo_journal):
    with httpx.Client() as client:
        bearer = {"Authorization": "Bearer " + token(client)["data"]["token"]}
        nemo_advance(7 * 86400)
        body = client.get(f"{PROD}/api/credits/balance/simple", headers=bearer).json()
    assert body["code"] == 1001
    assert [e["code"] for e in nemo_journal(operation="getCredits")] == [1001]


def test_live_server_one(nemo_server):
    r = httpx.post(nemo_server.base_url + "/api/auth/anonymous-token", headers={"X-Client-Id": "x"})
    assert r.json()["code"] == 0
    assert len(nemo_server.journal()) == 1


def test_live_server_is_reset_between_tests(nemo_server):
    assert nemo_server.journal() == []


@pytest.fixture
def anyio_backend():
    return "asyncio"
"""


def test_plugin_fixtures_work_in_an_outside_project(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_outside=PROJECT_TESTS)
    result = pytester.runpytest_subprocess("-q", "-p", "anyio", "-W", "error")
    result.assert_outcomes(passed=6)


def test_unknown_scenario_in_a_marker_fails_with_a_clear_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="""
import pytest

@pytest.mark.nemo_scenario("no-such-thing")
def test_it(nemo_mock):
    pass
"""
    )
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no scenario 'no-such-thing'*"])


SHARED_MOCK_TESTS = """
import httpx
import pytest


def token(mock, client_id):
    r = httpx.post(mock.base_url + "/api/auth/anonymous-token", headers={"X-Client-Id": client_id})
    return r.json()


def test_one(nemo_server):
    assert "/__ns/pytest-" in nemo_server.base_url
    assert token(nemo_server, "same-id")["code"] == 0
    assert [e["operation"] for e in nemo_server.journal()] == ["createAnonymousToken"]


def test_two_does_not_see_one(nemo_server):
    # the same client id again: in test_one's namespace it would be refused (1 token per id)
    assert token(nemo_server, "same-id")["code"] == 0
    assert len(nemo_server.journal()) == 1


@pytest.mark.nemo_scenario("rate-limited", client_id="limited")
def test_markers_apply_in_the_tests_namespace(nemo_server):
    assert token(nemo_server, "limited")["code"] == 429
    assert token(nemo_server, "other")["code"] == 0
"""


def test_nemo_server_takes_a_namespace_per_test_on_a_shared_mock(
    pytester: pytest.Pytester,
) -> None:
    """``--nemo-url``: each test of a CI run gets a namespace of its own on one shared mock,
    closed after it; the mock's default namespace never sees them."""
    import httpx

    from mock_backend.settings import Settings
    from mock_backend.web.app import create_app
    from mock_backend.web.server import LiveServer

    app = create_app(Settings(clock="scaled:1000"))
    with LiveServer(app) as server:
        pytester.makepyfile(test_shared=SHARED_MOCK_TESTS)
        result = pytester.runpytest_subprocess("-q", "-W", "error", f"--nemo-url={server.url}")
        result.assert_outcomes(passed=3)
        listed = httpx.get(server.url + "/__mock/namespaces").json()["data"]
        assert listed["namespaces"] == [], "a test's namespace was left open"
        assert app.state.backend.store.counts()["tokens"] == 0
