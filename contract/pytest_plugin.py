"""pytest plugin (entry point ``pytest11``): a NemoVideo mock backend for your tests.

Fixtures:

- ``nemo_settings``: the `Settings` the in-process mock starts with (override it in a conftest);
- ``nemo_mock``: an in-process mock (`NemoMock`), with the production host
  ``mega-api-prod.nemovideo.ai`` routed to it through respx, so code that hard-codes the
  production URL is tested unchanged (httpx clients, sync or async; streaming included);
- ``nemo_server``: a mock served by uvicorn on a free 127.0.0.1 port (started once per test
  session, reset before each test); its ``base_url`` is a real URL for any client or subprocess.
  With ``--nemo-url URL`` (or ``$NEMO_MOCK_URL``) it is instead a namespace of its own on that
  shared mock, one per test (``URL/__ns/pytest-RUN-N``), closed after the test; an admin token
  comes from ``$NEMO_MOCK_ADMIN_TOKEN``;
- ``nemo_advance`` / ``nemo_journal``: move the mock's clock, read its journal.

Marker: ``@pytest.mark.nemo_scenario("name", token=..., client_id=...)`` applies a named
scenario to the test's mock (``nemo_mock`` or ``nemo_server``) before the test runs.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from mock_backend.settings import Settings

if TYPE_CHECKING:  # the mock, httpx and respx load when a test asks for a fixture, not with
    import httpx  # every pytest run in an environment that has the plugin installed

    from mock_backend.web.server import LiveServer

    from .mock import NemoMock

__all__ = ["nemo_advance", "nemo_journal", "nemo_mock", "nemo_server", "nemo_settings"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nemo", "NemoVideo mock backend")
    group.addoption(
        "--nemo-url",
        default=os.environ.get("NEMO_MOCK_URL"),
        metavar="URL",
        help="serve nemo_server from a shared `nemo-mock serve` at URL, a namespace per test "
        "(default: $NEMO_MOCK_URL, else a mock of this session's own)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "nemo_scenario(name, **scope): apply a named mock scenario (see `nemo-mock scenarios`)",
    )


def _apply_markers(request: pytest.FixtureRequest, mock: NemoMock) -> None:
    for marker in request.node.iter_markers("nemo_scenario"):
        if not marker.args:
            raise pytest.UsageError("nemo_scenario needs a scenario name: nemo_scenario('name')")
        mock.scenario(marker.args[0], **marker.kwargs)


@pytest.fixture
def nemo_settings() -> Settings:
    """Override to change the in-process mock: seed, clock, error-status profile, limits."""
    return Settings(seed=0, clock="scaled:1000")


@pytest.fixture
def nemo_mock(request: pytest.FixtureRequest, nemo_settings: Settings) -> Iterator[NemoMock]:
    import respx

    from .mock import PRODUCTION_HOST, NemoMock, in_loop

    with NemoMock.in_process(nemo_settings) as mock:
        sync_transport = mock.sync_transport()
        async_transport = mock.async_transport()

        def route(req: httpx.Request) -> Any:
            # respx awaits what an async client's side effect returns, and needs a response
            # right away for a sync client.
            if in_loop():
                return async_transport.handle_async_request(req)
            return sync_transport.handle_request(req)

        with respx.mock(assert_all_called=False, assert_all_mocked=False) as router:
            router.route(host=PRODUCTION_HOST).mock(side_effect=route)
            router.route().pass_through()
            _apply_markers(request, mock)
            try:
                yield mock
            finally:
                sync_transport.close()


@pytest.fixture(scope="session")
def _nemo_live() -> Iterator[tuple[LiveServer, NemoMock]]:
    import httpx

    from mock_backend.web.server import LiveServer

    from .mock import NemoMock

    settings = Settings(seed=0, clock="scaled:1000", tokens_per_ip=10**6)
    with NemoMock.in_process(settings) as mock:
        server = LiveServer(mock.in_process_app())
        server.start()
        try:
            with httpx.Client(base_url=server.url) as admin:
                yield server, NemoMock(mock.app, server.url, admin)
        finally:
            server.stop()


_RUN = uuid.uuid4().hex[:8]  # this pytest run's namespaces on a shared mock: pytest-RUN-N
_TESTS = itertools.count(1)


@pytest.fixture
def nemo_server(request: pytest.FixtureRequest) -> Iterator[NemoMock]:
    """The session's live mock, reset for this test, or (``--nemo-url``) a namespace of its own
    on a shared one; point clients at ``nemo_server.base_url``."""
    url = request.config.getoption("nemo_url")
    if not url:
        _, mock = request.getfixturevalue("_nemo_live")
        mock.reset()
        _apply_markers(request, mock)
        yield mock
        return
    from .mock import NemoMock

    namespace = f"pytest-{_RUN}-{next(_TESTS)}"
    token = os.environ.get("NEMO_MOCK_ADMIN_TOKEN")
    with NemoMock.remote(url, namespace, admin_token=token) as mock:
        _apply_markers(request, mock)
        yield mock


def _active(request: pytest.FixtureRequest) -> NemoMock:
    for name in ("nemo_mock", "nemo_server"):
        if name in request.fixturenames:
            mock: NemoMock = request.getfixturevalue(name)
            return mock
    mock = request.getfixturevalue("nemo_mock")
    return mock


@pytest.fixture
def nemo_advance(request: pytest.FixtureRequest) -> Callable[[float], float]:
    """``nemo_advance(seconds)`` moves the test's mock clock forward."""
    return _active(request).advance


@pytest.fixture
def nemo_journal(request: pytest.FixtureRequest) -> Callable[..., list[dict[str, Any]]]:
    """``nemo_journal(operation=..., session_id=..., token=...)`` reads the test's mock journal."""
    return _active(request).journal
