"""Every named scenario, triggered through the public API, shows its documented behaviour; a
hundred clients with different scenarios against one mock never see each other's."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pytest

from contract.control import AsyncControl
from mock_backend.control.scenarios import CATALOGUE
from mock_backend.media.samples import make_song
from mock_backend.settings import Settings
from mock_backend.web.app import create_app
from mock_backend.web.transport import StreamingASGITransport

pytestmark = pytest.mark.anyio
ATTRIBUTION = {"X-Skill-Source": "t", "X-Skill-Version": "1", "X-Skill-Platform": "unknown"}
EDIT = "add a title 'Summer Nights'"


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("media") / "song.mp3"
    make_song(path, 3.0)
    return path.read_bytes()


@dataclass
class Driver:
    """A minimal client: just enough to reach each scenario's step."""

    http: httpx.AsyncClient
    song: bytes
    client_id: str = "client-1"
    token: str = ""
    session_id: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def mock(self) -> AsyncControl:
        return AsyncControl(self.http)

    async def scenario(self, name: str, **scope: str) -> None:
        await self.mock.scenario(name, **scope)

    async def auth(self) -> dict[str, Any]:
        r = await self.http.post(
            "/api/auth/anonymous-token", headers={"X-Client-Id": self.client_id}
        )
        body: dict[str, Any] = r.json()
        if body["code"] == 0:
            self.token = body["data"]["token"]
            self.headers = {"Authorization": f"Bearer {self.token}", **ATTRIBUTION}
        return body

    async def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.http.request(
            method, path, headers={**self.headers, **kw.pop("headers", {})}, **kw
        )

    async def new_session(self) -> dict[str, Any]:
        body: dict[str, Any] = (
            await self.call(
                "POST", "/api/tasks/me/with-session/nemo_agent", json={"task_name": "p"}
            )
        ).json()
        self.session_id = body["data"]["session_id"]
        return body

    async def upload(self) -> httpx.Response:
        files = [("files", ("song.mp3", self.song, "audio/mpeg"))]
        return await self.call(
            "POST", f"/api/upload-video/nemo_agent/me/{self.session_id}", files=files
        )

    async def chat(self, text: str) -> tuple[int, list[Any], dict[str, Any] | None]:
        """(status, events, error body): the parsed events of a run, or its JSON refusal."""
        body = {
            "app_name": "nemo_agent",
            "user_id": "me",
            "session_id": self.session_id,
            "new_message": {"parts": [{"text": text}]},
        }
        events: list[Any] = []
        async with self.http.stream(
            "POST", "/run_sse", json=body, headers={**self.headers, "Accept": "text/event-stream"}
        ) as r:
            if not r.headers["content-type"].startswith("text/event-stream"):
                return r.status_code, [], json.loads(await r.aread())
            try:
                async for line in r.aiter_lines():
                    if line.startswith("data:"):
                        data = line[5:].strip()
                        try:
                            events.append(json.loads(data) if data else "")
                        except json.JSONDecodeError:
                            events.append(("malformed", data))
            except httpx.HTTPError as exc:
                events.append(("dropped", type(exc).__name__))
        return r.status_code, events, None

    async def state(self) -> dict[str, Any]:
        r = await self.call("GET", f"/api/state/nemo_agent/me/{self.session_id}/latest")
        body: dict[str, Any] = r.json()
        return body

    async def render(self, render_id: str = "render_1") -> dict[str, Any]:
        draft = (await self.state())["data"]["state"]["draft"]
        r = await self.call(
            "POST",
            "/api/render/proxy/lambda",
            json={
                "id": render_id,
                "sessionId": self.session_id,
                "draft": draft,
                "output": {"format": "mp3"},
            },
        )
        body: dict[str, Any] = r.json()
        return body

    async def poll_until_done(self, render_id: str = "render_1") -> list[dict[str, Any]]:
        seen = []
        with anyio.fail_after(30):
            while True:
                body = (await self.call("GET", f"/api/render/proxy/lambda/{render_id}")).json()
                seen.append(body)
                if body.get("status") in ("completed", "failed") or body.get("code") != 0:
                    return seen
                await asyncio.sleep(0.02)

    async def ready(self) -> None:
        """Token, session, an uploaded song and a draft to export (an MP3 of the song)."""
        await self.auth()
        await self.new_session()
        await self.upload()
        await self.chat(
            "convert this audio track into a shareable video with a waveform "
            "visualizer and album art background"
        )


def texts(events: list[Any]) -> list[str]:
    out = []
    for e in events:
        if isinstance(e, dict):
            if e.get("type") == "text":
                out.append(e["content"])
            out += (
                [p["text"] for p in (e.get("content") or {}).get("parts", []) if "text" in p]
                if isinstance(e.get("content"), dict)
                else []
            )
    return out


Check = Callable[[Driver], Awaitable[None]]


async def token_expired(d: Driver) -> None:
    await d.auth()
    await d.scenario("token-expired", client_id=d.client_id)
    assert (await d.call("GET", "/api/credits/balance/simple")).json()["code"] == 1001
    assert (await d.call("GET", "/api/credits/balance/simple")).json()["code"] == 1001
    old = d.token
    assert (await d.auth())["code"] == 0, "re-auth with the same client id works"
    assert d.token != old
    assert (await d.call("GET", "/api/credits/balance/simple")).json()["code"] == 0


async def token_revoked(d: Driver) -> None:
    await d.auth()
    await d.scenario("token-revoked", client_id=d.client_id)
    assert (await d.call("GET", "/api/credits/balance/simple")).json()["code"] == 1001
    assert (await d.auth())["code"] == 0


async def session_lost(d: Driver) -> None:
    await d.auth()
    await d.new_session()
    await d.scenario("session-lost", client_id=d.client_id)
    assert (await d.state())["code"] == 1002
    assert (await d.state())["code"] == 1002, "the session stays lost"
    await d.new_session()
    assert (await d.state())["code"] == 0


async def out_of_credits(d: Driver) -> None:
    await d.auth()
    await d.new_session()
    await d.upload()
    await d.scenario("out-of-credits", client_id=d.client_id)
    _, _, error = await d.chat(EDIT)
    assert error is not None
    assert error["code"] == 2001
    assert error["data"]["user_id"].startswith("anon_")
    assert error["data"]["registered"] is False


async def out_of_credits_registered(d: Driver) -> None:
    minted = await d.mock.mint_token(plan="pro")
    d.token = minted["token"]
    d.headers = {"Authorization": f"Bearer {d.token}", **ATTRIBUTION}
    await d.new_session()
    await d.upload()
    await d.scenario("out-of-credits-registered", token=d.token)
    _, _, error = await d.chat(EDIT)
    assert error is not None
    assert error["code"] == 2001
    assert error["data"]["registered"] is True


async def unsupported_file(d: Driver) -> None:
    await d.auth()
    await d.new_session()
    await d.scenario("unsupported-file", client_id=d.client_id)
    assert (await d.upload()).json()["code"] == 4001
    assert (await d.upload()).json()["code"] == 0, "only the next upload is refused"


async def file_too_large(d: Driver) -> None:
    await d.auth()
    await d.new_session()
    await d.scenario("file-too-large", client_id=d.client_id)
    body = (await d.upload()).json()
    assert body["code"] == 4002
    assert "compress" in body["message"]


async def missing_client_id(d: Driver) -> None:
    await d.scenario("missing-client-id", client_id=d.client_id)
    r = await d.http.post("/api/auth/anonymous-token", headers={"X-Client-Id": d.client_id})
    assert r.status_code == 400
    assert r.json()["code"] == 400


async def free_plan(d: Driver) -> None:
    await d.ready()
    await d.scenario("free-plan-export-blocked", client_id=d.client_id)
    for _ in range(2):
        body = await d.render()
        assert body["code"] == 402
        assert "upgrade" in body["message"]


async def missing_attribution(d: Driver) -> None:
    await d.ready()
    await d.scenario("missing-attribution", client_id=d.client_id)
    body = await d.render()
    assert body["code"] == 402
    assert "X-Skill-Source" in body["message"]


async def rate_limited(d: Driver) -> None:
    await d.scenario("rate-limited", client_id=d.client_id)
    r = await d.http.post("/api/auth/anonymous-token", headers={"X-Client-Id": d.client_id})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "30"
    assert (await d.auth())["code"] == 0


async def rate_limited_ip(d: Driver) -> None:
    await d.scenario("rate-limited-ip", client_id=d.client_id)
    body = (
        await d.http.post("/api/auth/anonymous-token", headers={"X-Client-Id": d.client_id})
    ).json()
    assert body["code"] == 429
    assert body["data"]["limit"] == "per_ip"


async def silent_close(d: Driver) -> None:
    await d.auth()
    await d.new_session()
    await d.upload()
    await d.scenario("silent-close", client_id=d.client_id)
    _, events, _ = await d.chat(EDIT)
    assert events, "tool events still arrive"
    assert texts(events) == []
    draft = (await d.state())["data"]["state"]["draft"]
    assert any(t["tt"] == 7 for t in draft["t"]), "the edit landed: a title track"


async def heartbeats_only(d: Driver) -> None:
    await d.auth()
    await d.new_session()
    await d.upload()
    await d.scenario("heartbeats-only-timeout", client_id=d.client_id)
    started = (await d.mock.health())["clock"]["now"]
    _, events, _ = await d.chat(EDIT)
    # judged on the mock's clock, not by counting: on a loaded machine at 2000x fewer
    # heartbeats fit in 11 virtual minutes, but nothing else may come before they are over
    first = next(e for e in events if e not in ("", {"type": "heartbeat"}))
    assert events.index(first) > 0, "heartbeats come first"
    spoke = first["timestamp"] - started
    assert spoke >= 660, f"the agent spoke {spoke:.0f} s in, before 11 minutes of heartbeats"


async def disconnect(d: Driver) -> None:
    await d.auth()
    await d.new_session()
    await d.upload()
    await d.scenario("disconnect-mid-run", client_id=d.client_id)
    _, events, _ = await d.chat(EDIT)
    assert events[-1][0] == "dropped"
    with anyio.fail_after(10):
        while not any(t["tt"] == 7 for t in (await d.state())["data"]["state"]["draft"]["t"]):
            await asyncio.sleep(0.02)  # the run goes on server-side and its edit lands


async def duplicate_send(d: Driver) -> None:
    await d.auth()
    await d.new_session()
    await d.upload()
    await d.scenario("duplicate-send", client_id=d.client_id)
    body = {
        "app_name": "nemo_agent",
        "user_id": "me",
        "session_id": d.session_id,
        "new_message": {"parts": [{"text": EDIT}]},
    }
    hdrs = {**d.headers, "Accept": "text/event-stream"}
    async with d.http.stream("POST", "/run_sse", json=body, headers=hdrs):
        pass  # the impatient client hangs up during the stall ...
    await d.chat(EDIT)  # ... and sends it again
    runs = await d.mock.calls("runSse")
    assert len(runs) == 2
    assert "duplicate send" in " ".join(runs[1]["notes"])
    balance = (await d.call("GET", "/api/credits/balance/simple")).json()["data"]
    assert balance["total"] <= 100 - 2 * 50 or balance["frozen"] > 0, "charged twice"


async def stream_error(d: Driver) -> None:
    await d.auth()
    await d.new_session()
    await d.upload()
    await d.scenario("stream-error", client_id=d.client_id)
    status, events, _ = await d.chat(EDIT)
    assert status == 200
    assert any(isinstance(e, dict) and "error" in e for e in events)


async def stream_malformed(d: Driver) -> None:
    await d.auth()
    await d.new_session()
    await d.scenario("stream-malformed", client_id=d.client_id)
    _, events, _ = await d.chat("hello, what can you do?")
    assert any(isinstance(e, tuple) and e[0] == "malformed" for e in events)
    assert texts(events), "the reply still arrives"


async def proxy_buffering(d: Driver) -> None:
    await d.auth()
    await d.new_session()
    await d.scenario("proxy-buffering", client_id=d.client_id)
    _, events, _ = await d.chat("hello, what can you do?")
    assert texts(events)


async def slow_render(d: Driver) -> None:
    await d.ready()
    await d.scenario("slow-render", client_id=d.client_id)
    body = await d.render()
    done = await d.poll_until_done()
    assert done[-1]["status"] == "completed"
    elapsed = (done[-1]["data"]["completedAt"] - body["data"]["createdAt"]) / 1000
    assert 250 <= elapsed <= 300, elapsed


async def render_failed(d: Driver) -> None:
    await d.ready()
    await d.scenario("render-failed", client_id=d.client_id)
    await d.render("render_1")
    assert (await d.poll_until_done("render_1"))[-1]["status"] == "failed"
    await d.render("render_2")
    assert (await d.poll_until_done("render_2"))[-1]["status"] == "failed"


async def render_failed_then_succeeds(d: Driver) -> None:
    await d.ready()
    await d.scenario("render-failed-then-succeeds", client_id=d.client_id)
    await d.render("render_1")
    failed = (await d.poll_until_done("render_1"))[-1]
    assert failed["status"] == "failed"
    assert failed["success"] is False
    assert "new id" in failed["error"]
    await d.render("render_2")
    assert (await d.poll_until_done("render_2"))[-1]["status"] == "completed"


async def output_url_broken(d: Driver) -> None:
    await d.ready()
    await d.scenario("output-url-broken", client_id=d.client_id)
    await d.render()
    done = (await d.poll_until_done())[-1]
    assert (await d.http.get(done["output"]["url"])).status_code == 404
    fallback = await d.call("GET", "/api/render/proxy/render_1/download")
    assert fallback.status_code == 200
    assert fallback.headers["content-type"] == "audio/mpeg"


async def orphaned_render(d: Driver) -> None:
    await d.ready()
    await d.scenario("orphaned-render", client_id=d.client_id)
    await d.render()
    with anyio.fail_after(10):
        while (await d.call("GET", "/api/render/proxy/lambda/render_1")).status_code != 404:
            await asyncio.sleep(0.02)


async def trailing_issue(d: Driver) -> None:
    await d.auth()
    await d.new_session()
    await d.scenario("trailing-temporary-issue", client_id=d.client_id)
    _, events, _ = await d.chat("hello, what can you do?")
    said = texts(events)
    assert len(said) >= 2
    assert "temporary issue" in said[-1]


async def legacy_shape(d: Driver) -> None:
    await d.auth()
    await d.new_session()
    await d.scenario("legacy-event-shape", client_id=d.client_id)
    _, events, _ = await d.chat("hello, what can you do?")
    shaped = [e for e in events if isinstance(e, dict) and e.get("type") != "heartbeat"]
    assert shaped
    assert all(e.get("type") in ("text", "tool_call", "tool_result") for e in shaped)


async def rest_statuses(d: Driver) -> None:
    await d.scenario("rest-error-statuses", client_id=d.client_id)
    await d.auth()
    d.session_id = "ses_nope"
    r = await d.call("GET", "/api/state/nemo_agent/me/ses_nope/latest")
    assert r.status_code == 404
    assert r.json()["code"] == 1002


CHECKS: dict[str, Check] = {
    "token-expired": token_expired,
    "token-revoked": token_revoked,
    "session-lost": session_lost,
    "out-of-credits": out_of_credits,
    "out-of-credits-registered": out_of_credits_registered,
    "unsupported-file": unsupported_file,
    "file-too-large": file_too_large,
    "missing-client-id": missing_client_id,
    "free-plan-export-blocked": free_plan,
    "missing-attribution": missing_attribution,
    "rate-limited": rate_limited,
    "rate-limited-ip": rate_limited_ip,
    "silent-close": silent_close,
    "heartbeats-only-timeout": heartbeats_only,
    "disconnect-mid-run": disconnect,
    "duplicate-send": duplicate_send,
    "stream-error": stream_error,
    "stream-malformed": stream_malformed,
    "proxy-buffering": proxy_buffering,
    "slow-render": slow_render,
    "render-failed": render_failed,
    "render-failed-then-succeeds": render_failed_then_succeeds,
    "output-url-broken": output_url_broken,
    "orphaned-render": orphaned_render,
    "trailing-temporary-issue": trailing_issue,
    "legacy-event-shape": legacy_shape,
    "rest-error-statuses": rest_statuses,
}


def test_every_named_scenario_has_a_check() -> None:
    assert set(CHECKS) == set(CATALOGUE)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(clock="scaled:2000", tokens_per_ip=10**6))
    transport = StreamingASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", timeout=30
    ) as client:
        yield client
    app.state.backend.close()


@pytest.mark.parametrize("name", sorted(CATALOGUE))
async def test_scenario_shows_its_documented_behaviour(
    name: str, http: httpx.AsyncClient, song: bytes
) -> None:
    with anyio.fail_after(60):
        await CHECKS[name](Driver(http, song))
    journal = await AsyncControl(http).journal()
    assert any(name in (e["rule"] or "") for e in journal), f"{name} never fired"


async def test_the_one_shot_header_applies_a_scenario_to_one_request(
    http: httpx.AsyncClient, song: bytes
) -> None:
    d = Driver(http, song)
    await d.auth()
    hit = await d.call(
        "GET", "/api/credits/balance/simple", headers={"X-Mock-Scenario": "token-expired"}
    )
    assert hit.json()["code"] == 1001
    other = Driver(http, song, client_id="client-2")
    await other.auth()
    assert (await other.call("GET", "/api/credits/balance/simple")).json()["code"] == 0


async def test_a_hundred_clients_with_different_scenarios_see_no_cross_talk(
    http: httpx.AsyncClient, song: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    quick = [
        "token-expired",
        "token-revoked",
        "session-lost",
        "unsupported-file",
        "file-too-large",
        "missing-client-id",
        "rate-limited",
        "rate-limited-ip",
        "silent-close",
        "stream-malformed",
        "proxy-buffering",
        "trailing-temporary-issue",
        "legacy-event-shape",
        "rest-error-statuses",
        "out-of-credits",
        "stream-error",
    ]
    caplog.set_level(logging.DEBUG)
    drivers = [Driver(http, song, client_id=f"client-{i:03d}") for i in range(100)]

    async def one(i: int) -> None:
        await CHECKS[quick[i % len(quick)]](drivers[i])

    with anyio.fail_after(120):
        async with anyio.create_task_group() as group:
            for i in range(100):
                group.start_soon(one, i)
    journal = await AsyncControl(http).journal()
    for i, driver in enumerate(drivers):
        mine = [e for e in journal if e["client_id"] == driver.client_id]
        fired = {r.split(":")[0] for e in mine for r in (e["rule"] or "").split(", ") if r}
        assert fired <= {quick[i % len(quick)]}, f"{driver.client_id} saw {fired}"
    # no token anywhere in the journal or the logs
    tokens = [d.token for d in drivers if d.token]
    blob = json.dumps(journal) + "\n".join(r.getMessage() for r in caplog.records)
    assert tokens
    assert not [t for t in tokens if t in blob]


def test_a_scripted_too_large_refusal_names_this_mocks_upload_limit() -> None:
    import httpx

    from contract import NemoMock
    from mock_backend.settings import Settings

    with NemoMock.in_process(Settings(max_upload_bytes=5 * 1024 * 1024)) as mock:
        http = httpx.Client(transport=mock.sync_transport(), base_url=mock.base_url)
        token = mock.mint_token(credits=100)["token"]
        auth = {"Authorization": f"Bearer {token}"}
        sid = http.post(
            "/api/tasks/me/with-session/nemo_agent", headers=auth, json={"task_name": "t"}
        ).json()["data"]["session_id"]
        mock.scenario("file-too-large")
        body = http.post(
            f"/api/upload-video/nemo_agent/me/{sid}",
            headers=auth,
            files={"files": ("song.mp3", b"ID3" + b"\0" * 64, "audio/mpeg")},
        ).json()
        assert body["code"] == 4002
        assert "5 MB" in body["message"], body["message"]  # not the default 500 MB
