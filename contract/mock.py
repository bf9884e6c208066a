"""`NemoMock`: one handle on a mock backend for tests, in-process or served over TCP.

The handle drives the control API the same way whichever the mock is: reset, move the clock,
apply a scenario or a rule, read the journal. The pytest plugin hands one out per test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from mock_backend.backend import Backend
from mock_backend.settings import Settings
from mock_backend.web.app import create_app
from mock_backend.web.transport import StreamingASGITransport, SyncASGITransport

__all__ = ["PRODUCTION_HOST", "NemoMock"]

PRODUCTION_HOST = "mega-api-prod.nemovideo.ai"


class NemoMock:
    """A mock backend plus the clients that reach it (``base_url`` is where it answers)."""

    def __init__(self, app: FastAPI, base_url: str, admin: httpx.Client) -> None:
        self.app = app
        self.base_url = base_url
        self._admin = admin

    @classmethod
    @contextmanager
    def in_process(cls, settings: Settings | None = None) -> Iterator[NemoMock]:
        app = create_app(settings or Settings(clock="scaled:1000"))
        transport = SyncASGITransport(app)
        with httpx.Client(transport=transport, base_url="http://nemo-mock.local") as admin:
            try:
                yield cls(app, "http://nemo-mock.local", admin)
            finally:
                app.state.backend.close()

    @property
    def backend(self) -> Backend:
        backend: Backend = self.app.state.backend
        return backend

    def sync_transport(self) -> SyncASGITransport:
        return SyncASGITransport(self.app)

    def async_transport(self) -> StreamingASGITransport:
        return StreamingASGITransport(self.app)

    # -- the control API ------------------------------------------------------------------
    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._admin.request(method, path, **kwargs)
        body = response.json()
        if body.get("code") != 0:
            raise AssertionError(f"{method} {path} failed: {body.get('message')}")
        return body["data"]

    def reset(self, seed: int | None = None) -> None:
        self._control("POST", "/__mock/reset", json={} if seed is None else {"seed": seed})

    def advance(self, seconds: float) -> float:
        """Move the mock's clock forward; returns the new virtual time."""
        now: float = self._control("POST", "/__mock/clock", json={"advance": seconds})["now"]
        return now

    def now(self) -> float:
        now: float = self._control("GET", "/__mock/clock")["now"]
        return now

    def scenario(self, name: str, **scope: str) -> list[str]:
        """Apply a named scenario, globally or to a token / client_id / session_id / user_id."""
        ids: list[str] = self._control(
            "POST", "/__mock/scenarios", json={"name": name, "scope": scope}
        )["rules"]
        return ids

    def rule(self, rule: dict[str, Any], **scope: str) -> list[str]:
        ids: list[str] = self._control(
            "POST", "/__mock/scenarios", json={"rule": rule, "scope": scope}
        )["rules"]
        return ids

    def mint_token(self, **options: Any) -> dict[str, Any]:
        """A registered token: ``credits``, ``plan`` ("free"|"pro"), ``scopes``."""
        data: dict[str, Any] = self._control("POST", "/__mock/tokens", json=options)
        return data

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        """Journal entries; filters: token, user_id, client_id, session_id, operation, since..."""
        headers = {}
        if "token" in filters:
            headers["X-Mock-Token"] = str(filters.pop("token"))
        data = self._control("GET", "/__mock/journal", params=filters, headers=headers)
        entries: list[dict[str, Any]] = data["entries"]
        return entries

    def calls(self, operation: str, **filters: Any) -> list[dict[str, Any]]:
        return self.journal(operation=operation, **filters)


def in_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
