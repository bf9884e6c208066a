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
from starlette.applications import Starlette

from mock_backend.backend import Backend
from mock_backend.settings import Settings
from mock_backend.web.app import create_app
from mock_backend.web.transport import StreamingASGITransport, SyncASGITransport

from .control import Control
from .errors import NemoContractError

__all__ = ["PRODUCTION_HOST", "NemoMock"]

PRODUCTION_HOST = "mega-api-prod.nemovideo.ai"


class NemoMock(Control):
    """A mock backend plus the clients that reach it (``base_url`` is where it answers).

    The control API is `Control`'s methods: ``reset``, ``advance``, ``scenario``, ``rule``,
    ``journal``, ``calls``, ``mint_token``..."""

    def __init__(self, app: Starlette | None, base_url: str, admin: httpx.Client) -> None:
        super().__init__(admin)
        self.app = app  # None for a mock in another process (`remote`)
        self.base_url = base_url

    @classmethod
    @contextmanager
    def remote(
        cls, url: str, namespace: str, *, admin_token: str | None = None
    ) -> Iterator[NemoMock]:
        """A namespace of its own on a mock served elsewhere (``nemo-mock serve``, shared by
        many CI runs): ``base_url`` is ``URL/__ns/NAMESPACE``, the control calls act on that
        namespace alone, and it is closed (its records forgotten) at the end."""
        base_url = f"{url.rstrip('/')}/__ns/{namespace}"
        headers = {"X-Mock-Admin-Token": admin_token} if admin_token else {}
        with httpx.Client(base_url=base_url, headers=headers, timeout=60) as admin:
            mock = cls(None, base_url, admin)
            try:
                yield mock
            finally:
                mock.close_namespace()

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
        backend: Backend = self.in_process_app().state.backend
        return backend

    def sync_transport(self) -> SyncASGITransport:
        return SyncASGITransport(self.in_process_app())

    def async_transport(self) -> StreamingASGITransport:
        return StreamingASGITransport(self.in_process_app())

    def in_process_app(self) -> Starlette:
        """The mock's app, for in-process transports; refused for a mock in another process."""
        if self.app is None:
            raise NemoContractError(
                f"the mock at {self.base_url} runs in another process: reach it over HTTP "
                "(base_url, and the control API's methods)"
            )
        return self.app


def in_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
