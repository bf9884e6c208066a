"""`NemoMock`: one handle on a mock backend for tests, in-process or served over TCP.

The handle drives the control API (`contract.control.Control`) the same way whichever the mock
is: reset, move the clock, apply a scenario or a rule, read the journal. The pytest plugin hands
one out per test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from fastapi import FastAPI

from mock_backend.backend import Backend
from mock_backend.settings import Settings
from mock_backend.web.app import create_app
from mock_backend.web.transport import StreamingASGITransport, SyncASGITransport

from .control import Control

__all__ = ["PRODUCTION_HOST", "NemoMock"]

PRODUCTION_HOST = "mega-api-prod.nemovideo.ai"


class NemoMock(Control):
    """A mock backend plus the clients that reach it (``base_url`` is where it answers).

    The control API is `Control`'s methods: ``reset``, ``advance``, ``scenario``, ``rule``,
    ``journal``, ``calls``, ``mint_token``..."""

    def __init__(self, app: FastAPI, base_url: str, admin: httpx.Client) -> None:
        super().__init__(admin)
        self.app = app
        self.base_url = base_url

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



def in_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
