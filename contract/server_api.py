"""Talking to a server under test: calls that must succeed, balances as the contract promises
them, and the objects the provider's checks start from (a session with a real song, a draft
ready for export built from the contract's own shapes)."""

from __future__ import annotations

import json
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .errors import ProviderFailure

__all__ = [
    "ATTRIBUTION",
    "Api",
    "CheckResult",
    "ProviderFailure",
    "check_balance",
    "fetch_token",
    "ready_draft",
]

ATTRIBUTION = {
    "X-Skill-Source": "nemo-contract",
    "X-Skill-Version": "1.0.0",
    "X-Skill-Platform": "unknown",
}


@dataclass
class CheckResult:
    name: str
    passed: bool
    detail: str
    seconds: float


def fetch_token(http: httpx.Client) -> str:
    response = http.post("/api/auth/anonymous-token", headers={"X-Client-Id": str(uuid.uuid4())})
    body = response.json()
    if body.get("code") != 0:
        raise ProviderFailure(f"could not get an anonymous token: {body.get('message')}")
    token: str = body["data"]["token"]
    return token


class Api:
    def __init__(self, http: httpx.Client, token: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}", **ATTRIBUTION}
        self.task_ids: dict[str, str] = {}  # of the sessions this client opened

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.http.request(method, path, headers=self.headers, **kwargs)
        try:
            body: dict[str, Any] = response.json()
        except json.JSONDecodeError:
            raise ProviderFailure(
                f"{method} {path}: not JSON (HTTP {response.status_code})"
            ) from None
        if body.get("code") != 0:
            raise ProviderFailure(
                f"{method} {path}: code {body.get('code')}: {body.get('message')}"
            )
        return body

    def balance(self) -> dict[str, Any]:
        """The balance as answered (judged by `check_credits`, not here)."""
        data: dict[str, Any] = self.call("GET", "/api/credits/balance/simple")["data"]
        return data

    def credits(self) -> dict[str, Any]:
        return check_balance(self.balance())

    def session(self) -> str:
        return self.new_session()["session_id"]

    def new_session(self) -> dict[str, str]:
        """A new session: its ``session_id`` and ``task_id``."""
        data: dict[str, str] = self.call(
            "POST",
            "/api/tasks/me/with-session/nemo_agent",
            json={"task_name": "provider-check", "language": "en"},
        )["data"]
        self.task_ids[data["session_id"]] = data["task_id"]
        return data

    def session_with_song(self) -> tuple[str, dict[str, Any]]:
        """A new session with a 3 s song uploaded: its id and the upload's record."""
        from mock_backend.media.samples import make_song  # the media stack, when needed

        sid = self.session()
        with tempfile.TemporaryDirectory() as folder:
            song = Path(folder) / "song.mp3"
            make_song(song, 3.0)
            with song.open("rb") as handle:
                body = self.call(
                    "POST",
                    f"/api/upload-video/nemo_agent/me/{sid}",
                    files=[("files", ("song.mp3", handle, "audio/mpeg"))],
                )
        upload: dict[str, Any] = body["data"]["files"][0]
        return sid, upload


def ready_draft(upload: dict[str, Any]) -> dict[str, Any]:
    """A draft ready for export, built from the contract's own shapes (`ReadyDraft`): the
    uploaded song on an audio track. The render checks need no agent run to have one."""
    ms = max(1000, round(float(upload.get("duration") or 3.0) * 1000))
    segment = {"id": "seg_song", "s": 0, "d": ms, "m": {"kind": "audio", "src": upload["cdn_url"]}}
    return {
        "t": [{"id": "trk_song", "tt": 1, "m": {"role": "main"}, "sg": [segment]}],
        "d": ms,
        "m": {"canvas": {"w": 320, "h": 240}, "output": {"format": "mp4"}},
    }


def check_balance(data: dict[str, Any]) -> dict[str, Any]:
    """One balance as the contract promises it: three integers, none negative,
    available + frozen = total."""
    missing = [k for k in ("available", "frozen", "total") if not isinstance(data.get(k), int)]
    if missing:
        raise ProviderFailure(f"credits: {', '.join(missing)} missing or not an integer in {data}")
    if min(data["available"], data["frozen"], data["total"]) < 0:
        raise ProviderFailure(f"credits: a negative balance {data}")
    if data["available"] + data["frozen"] != data["total"]:
        raise ProviderFailure(f"credits: available + frozen != total in {data}")
    return data
