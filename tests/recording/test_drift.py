"""`nemo-contract drift` on a faithful upstream (the mock itself: nothing) and on a drifted one
built here (each change named, nothing else)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contract.cli import main as contract_main
from contract.drift import find_drift
from mock_backend.settings import Settings

from .servers import SCALE, Recorded, record_through

COOKIE = "s3cr3tc00kie"


def test_a_faithful_upstream_shows_no_drift(recorded: Recorded, tmp_path: Path) -> None:
    result = find_drift(recorded.out)
    assert [(d.kind, d.operation, d.where, d.detail) for d in result.drifts] == []
    assert [b.name for b in result.behaviours if b.drift] == []
    judged = {b.name: b for b in result.behaviours}
    # the generation chat gave enough heartbeats for the cadence to be judged, not skipped
    assert judged["heartbeat cadence"].count >= 3
    assert "not judged" not in judged["heartbeat cadence"].confidence
    assert result.checked["runSse"] == 3
    assert result.events > 0
    assert contract_main(["drift", "--recording", str(recorded.out), "--out", str(tmp_path)]) == 0
    assert "no drift" in (tmp_path / "drift.md").read_text()


class Drifted:
    """The mock, changed the way a backend drifts: a field's type, a new field, a business code
    the contract does not list (and a cookie, which is no drift but must not be recorded)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        change = {
            "/api/credits/balance/simple": self._credits_as_text,
            "/api/tasks/me/with-session/nemo_agent": self._new_field,
            "/api/auth/claim-token": self._unknown_code,
            "/api/auth/anonymous-token": self._as_it_was,
        }.get(path)
        if scope["type"] != "http" or change is None:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        start = held[0]
        body = json.loads(b"".join(m.get("body", b"") for m in held[1:]))
        raw = json.dumps(change(body)).encode()
        headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
        headers += [(b"content-length", str(len(raw)).encode())]
        if path == "/api/auth/anonymous-token":
            headers.append((b"set-cookie", f"sid={COOKIE}; Path=/; HttpOnly".encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": raw})

    @staticmethod
    def _as_it_was(body: dict[str, Any]) -> dict[str, Any]:
        return body

    @staticmethod
    def _credits_as_text(body: dict[str, Any]) -> dict[str, Any]:
        body["data"]["available"] = str(body["data"]["available"])
        return body

    @staticmethod
    def _new_field(body: dict[str, Any]) -> dict[str, Any]:
        body["data"]["region"] = "eu-west-1"
        return body

    @staticmethod
    def _unknown_code(body: dict[str, Any]) -> dict[str, Any]:
        return {"code": 5003, "message": "claim service paused", "data": None}


def _drive(base_url: str) -> None:
    """A client's calls, by hand: a token, a session, the credits, a generation run, a claim."""
    with httpx.Client(base_url=base_url, timeout=60) as http:
        answer = http.post("/api/auth/anonymous-token", headers={"X-Client-Id": "drift-test"})
        token = answer.json()["data"]["token"]
        auth = {"Authorization": f"Bearer {token}"}
        made = http.post(
            "/api/tasks/me/with-session/nemo_agent",
            json={"task_name": "project", "language": "en"},
            headers=auth,
        ).json()["data"]
        assert http.get("/api/credits/balance/simple", headers=auth).status_code == 200
        run = {
            "app_name": "nemo_agent",
            "user_id": "me",
            "session_id": made["session_id"],
            "new_message": {"parts": [{"text": "generate a 30 second video of a city at night"}]},
        }
        with http.stream(
            "POST", "/run_sse", json=run, headers={**auth, "Accept": "text/event-stream"}
        ) as stream:
            assert stream.status_code == 200
            stream.read()
        http.post(
            "/api/auth/claim-token",
            json={"task_id": made["task_id"], "session_id": made["session_id"]},
            headers=auth,
        )


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("drifted")
    settings = Settings(clock=f"scaled:{SCALE}", data_dir=root / "data", heartbeat_every=5.0)
    upstream = record_through(root / "rec", root / "data", settings=settings, wrap=Drifted)
    try:
        _drive(upstream.recorder.url)
    finally:
        upstream.stop()
    return root / "rec"


def test_a_drifted_upstream_names_each_drift_and_nothing_else(drifted: Path) -> None:
    result = find_drift(drifted)
    assert sorted({d.key for d in result.drifts}) == [
        ("changed-type", "getCredits", "response.data.available"),
        ("undocumented-code", "createClaimToken", "response.code"),
        ("unknown-field", "createSession", "response.data.region"),
    ]
    behaviours = {b.name: b for b in result.behaviours}
    assert [name for name, b in behaviours.items() if b.drift] == ["heartbeat cadence"]
    # judged on the mock's virtual clock: the median quiet gap is the drifted 5 s, not 15 s
    assert behaviours["heartbeat cadence"].measured == pytest.approx(5.0, abs=1.0)


def test_the_drift_command_reports_and_fails_on_drift(drifted: Path, tmp_path: Path) -> None:
    code = contract_main(["drift", "--recording", str(drifted), "--out", str(tmp_path)])
    assert code == 1
    markdown = (tmp_path / "drift.md").read_text()
    assert "| changed-type | getCredits | `response.data.available` |" in markdown
    assert "| heartbeat cadence |" in markdown
    junit = (tmp_path / "drift-junit.xml").read_text()
    assert junit.count("<failure") == 4  # three operations and one behaviour


def test_a_cookie_the_upstream_set_is_not_recorded(drifted: Path) -> None:
    texts = [p.read_bytes() for p in drifted.rglob("*") if p.is_file()]
    assert not any(COOKIE.encode() in text for text in texts)
    assert any(b"set-cookie: sid=REDACTED" in text for text in texts)


def test_drift_refuses_a_folder_that_is_not_a_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert contract_main(["drift", "--recording", str(tmp_path)]) == 2
    assert "nemo-mock record --upstream URL --out DIR" in capsys.readouterr().err
