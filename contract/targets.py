"""Where a scenario's client is sent: a mock of its own, private or in a shared server.

`PrivateMock`: an in-process mock made for the one scenario (the default): the client reaches
it in-process, or through a live server on a free 127.0.0.1 port (a subprocess client).

`SharedNamespace`: a namespace of its own on a ``nemo-mock serve`` that many CI jobs share
(``nemo-contract client --mock-url URL``). The namespace chooses the scenario's settings first
(``PUT /__mock/namespace``: seed, clock scale, draws by order, render lengths), the client is
sent to ``URL/__ns/NAME``, and the evidence is read back over the control API: the journal,
the tokens issued, the clock's lateness and held spans, the runs going on. It is closed (its
records forgotten) when the scenario ends.

Both answer the runner alike (`MockTarget`), so a scenario is judged the same way wherever its
mock runs.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from mock_backend.control.admin import SLEEP_PATH
from mock_backend.settings import Settings
from mock_backend.state.clock import Clock
from mock_backend.web.app import create_app
from mock_backend.web.server import LiveServer

from .catalogue import ClientScenario
from .control import Control
from .encodes import EncodeCache
from .errors import ControlError, NemoContractError
from .timing import Sleep

__all__ = [
    "MockTarget",
    "PrivateMock",
    "SharedMock",
    "SharedMockUnreachable",
    "SharedNamespace",
    "TargetClock",
    "check_shared_mock",
    "scenario_settings",
]

# renders due 70-80 s after submission: a client polling every 30 s polls at least twice and
# at most three times, whatever the noise, so each render scenario reaches the client the same
# way at every scale
RENDER_SECONDS = (70.0, 80.0)
ADMIN_TOKEN_ENV = "NEMO_MOCK_ADMIN_TOKEN"


@dataclass(frozen=True)
class SharedMock:
    """A ``nemo-mock serve`` many CI jobs share: where, and its admin token if it has one."""

    url: str
    admin_token: str | None = None


class SharedMockUnreachable(NemoContractError):
    """The shared mock (--mock-url) does not answer its control API as this suite needs."""


class TargetClock(Protocol):
    """The mock's clock, as the runner and the subprocess adapter read it."""

    @property
    def lateness(self) -> float: ...
    def now(self) -> float: ...
    def wall(self) -> float: ...
    def held_since(self, wall: float) -> list[tuple[float, float]]: ...


class MockTarget(Protocol):
    @property
    def base_url(self) -> str: ...
    @property
    def clock(self) -> TargetClock: ...
    @property
    def admin_token(self) -> str | None:
        """What the mock's control API asks of a caller (``X-Mock-Admin-Token``), if anything."""
        ...

    def apply(self, request: dict[str, Any]) -> None:
        """Apply a scenario's setup (a body of ``POST /__mock/scenarios``)."""
        ...

    def mint_registered(self, credits: int | None, plan: str) -> str:
        """A registered token (for a ``NEMO_TOKEN`` client)."""
        ...

    def entries(self) -> list[dict[str, Any]]:
        """The client's journal entries, as the control API shows them, oldest first."""
        ...

    def client_sleeps(self, since: float) -> list[Sleep]:
        """The sleeps the client took on the mock's clock (``POST /__mock/clock/sleep``) that
        began at wall time ``since`` or later, oldest first, read from the journal (which every
        worker of a ``--workers`` mock shares)."""
        ...

    def tokens(self) -> tuple[list[str], list[str]]:
        """(the tokens issued but claim tokens, every user id that holds a token)."""
        ...

    def settle(self, scale: float, limit: float = 5.0) -> None:
        """Wait (at most ``limit`` wall seconds) until no agent run is going on and every
        exchange is journaled to its end."""
        ...

    def close(self) -> None: ...


def scenario_settings(scenario: ClientScenario, seed: int, scale: float) -> dict[str, Any]:
    """The settings every scenario's mock runs on (JSON, as a namespace chooses them).

    Draws keyed by the order of calls, not the client id: a client that ignores NEMO_CLIENT_ID
    still meets the same agent replies, silent closes and render lengths."""
    chosen: dict[str, Any] = {
        "seed": seed,
        "clock": f"scaled:{scale:g}",
        "tokens_per_ip": 10**6,
        "draws": "order",
        "render_seconds": list(RENDER_SECONDS),
    }
    for name, value in scenario.settings.items():
        chosen[name] = list(value) if isinstance(value, tuple) else value
    return chosen


class PrivateMock:
    """A scenario's private in-process mock; ``live``: served on a free 127.0.0.1 port."""

    def __init__(
        self,
        scenario: ClientScenario,
        seed: int,
        scale: float,
        live: bool,
        encodes: EncodeCache | None = None,
    ) -> None:
        chosen = scenario_settings(scenario, seed, scale)
        chosen["render_seconds"] = tuple(chosen["render_seconds"])
        self.app = create_app(Settings().with_(**chosen))
        self.backend = self.app.state.backend
        self.clock: Clock = self.backend.clock
        if encodes is not None:  # the run's scenarios encode each distinct job once
            self.backend.renders.engine = encodes.around(self.backend.renders.engine)
        # a scripted cut aborts the connection by raising: expected, not a server error
        self.server = LiveServer(self.app, raise_app_exceptions=False).start() if live else None
        self.base_url = self.server.url if self.server else "http://nemo-mock.test"
        self.admin_token: str | None = None  # on loopback, the control API needs none

    def apply(self, request: dict[str, Any]) -> None:
        book = self.backend.scenarios
        book.add(book.build(request))

    def mint_registered(self, credits: int | None, plan: str) -> str:
        record, _ = self.backend.accounts.mint_registered(
            credits=credits, plan=plan, scopes=None, seq=1
        )
        token: str = record.token
        return token

    def entries(self) -> list[dict[str, Any]]:
        # a client's sleeps on the mock's clock are control calls, not product requests
        return [e.public() for e in self.backend.journal.entries() if not _control_path(e.path)]

    def client_sleeps(self, since: float) -> list[Sleep]:
        return _sleeps([e.public() for e in self.backend.journal.entries()], since)

    def tokens(self) -> tuple[list[str], list[str]]:
        records = self.backend.store.tokens()
        return (
            [t.token for t in records if t.kind != "claim"],
            sorted({t.user_id for t in records}),
        )

    def settle(self, scale: float, limit: float = 5.0) -> None:
        # a run the client walked away from, and an exchange the client read to its end while
        # the mock was still noting it (a loaded machine: its answer's code not yet journaled)
        deadline = time.monotonic() + limit
        while (self.backend.runs or self._open()) and time.monotonic() < deadline:
            time.sleep(min(0.05, 30.0 / scale))

    def _open(self) -> bool:
        return any(e.real_end is None for e in self.backend.journal.entries())

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.backend.close()


class _RemoteClock:
    """A shared mock's clock, read over its control API (``GET /__mock/clock``)."""

    def __init__(self, control: Control) -> None:
        self._control = control

    @property
    def lateness(self) -> float:
        return float(self._control.clock_details()["lateness"])

    def now(self) -> float:
        return self._control.now()

    def wall(self) -> float:
        return float(self._control.clock_details()["wall"])

    def held_since(self, wall: float) -> list[tuple[float, float]]:
        held = self._control.clock_details(held_since=wall)["held"]
        return [(float(s), float(e)) for s, e in held]


def _admin_headers(admin_token: str | None) -> dict[str, str]:
    return {"X-Mock-Admin-Token": admin_token} if admin_token else {}


def check_shared_mock(url: str, admin_token: str | None = None) -> dict[str, Any]:
    """The shared mock's health, or `SharedMockUnreachable` saying what to do."""
    try:
        with httpx.Client(
            base_url=url.rstrip("/"), headers=_admin_headers(admin_token), timeout=10
        ) as http:
            return Control(http).health()
    except httpx.HTTPError as exc:
        raise SharedMockUnreachable(
            f"no mock answers at {url} ({exc}): start one with `nemo-mock serve --port PORT` "
            "(--workers N --state redis://HOST:PORT/0 for many CI jobs), or leave out "
            "--mock-url to run each scenario on a private mock"
        ) from None
    except ControlError as exc:
        hint = (
            f"set ${ADMIN_TOKEN_ENV} to the mock's admin token"
            if exc.status in (401, 403)
            else "is it a nemo-mock of this version?"
        )
        raise SharedMockUnreachable(
            f"the mock at {url} refused its control API: {exc}; {hint}"
        ) from None


class SharedNamespace:
    """A scenario's own namespace on the shared mock at ``url``."""

    def __init__(
        self,
        url: str,
        scenario: ClientScenario,
        seed: int,
        scale: float,
        *,
        admin_token: str | None = None,
    ) -> None:
        tail = re.sub(r"[^A-Za-z0-9._-]", "-", scenario.id)
        self.name = f"nc-{uuid.uuid4().hex[:12]}-{tail}"[:64]
        self.base_url = f"{url.rstrip('/')}/__ns/{self.name}"
        self.admin_token = admin_token  # a time: mock client's sleeps need it too
        self._http = httpx.Client(
            base_url=self.base_url, headers=_admin_headers(admin_token), timeout=60
        )
        self._control = Control(self._http)
        self.clock = _RemoteClock(self._control)
        try:
            self._control.configure(**scenario_settings(scenario, seed, scale))
        except (ControlError, httpx.HTTPError) as exc:
            self._http.close()
            raise SharedMockUnreachable(
                f"the mock at {url} would not make namespace {self.name}: {exc}"
            ) from None

    def apply(self, request: dict[str, Any]) -> None:
        self._control.apply(request)

    def mint_registered(self, credits: int | None, plan: str) -> str:
        options: dict[str, Any] = {"plan": plan}
        if credits is not None:
            options["credits"] = credits
        token: str = self._control.mint_token(**options)["token"]
        return token

    def entries(self) -> list[dict[str, Any]]:
        # the suite's own control calls (its setup, a minted token) are not the client's
        return [e for e in self._control.journal() if not _control_call(e)]

    def client_sleeps(self, since: float) -> list[Sleep]:
        return _sleeps(self._control.journal(), since)

    def tokens(self) -> tuple[list[str], list[str]]:
        records = self._control.tokens()
        return (
            [t["token"] for t in records if t["kind"] != "claim"],
            sorted({t["user_id"] for t in records}),
        )

    def settle(self, scale: float, limit: float = 5.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and (
            self._control.health()["runs"]
            or any(e.get("real_end") is None for e in self._control.journal())
        ):
            time.sleep(min(0.05, 30.0 / scale))

    def close(self) -> None:
        # the mock may be gone already: what the scenario found stands, whatever this says
        with contextlib.suppress(ControlError, httpx.HTTPError):
            self._control.close_namespace()
        self._http.close()


def _control_call(entry: dict[str, Any]) -> bool:
    return entry.get("operation") is None and _control_path(str(entry.get("path", "")))


def _control_path(path: str) -> bool:
    return path.startswith("/__mock/")  # as journaled: without a namespace's /__ns/NAME


def _sleeps(entries: list[dict[str, Any]], since: float) -> list[Sleep]:
    """The client's sleeps on the mock's clock among ``entries`` (as the control API shows
    them), each as the timing verdicts read an in-process client's: its wall span, and where it
    began in virtual time and for how long (what the mock answered it slept)."""
    found = []
    for entry in entries:
        response = entry.get("response")
        data = response.get("data") if isinstance(response, dict) else None
        if (
            entry.get("path") != SLEEP_PATH
            or entry.get("status") != 200
            or entry.get("real_end") is None
            or float(entry["real_start"]) < since
            or not isinstance(data, dict)
            or not isinstance(data.get("slept"), int | float)
        ):
            continue
        found.append(
            Sleep(
                float(entry["real_start"]),
                float(entry["real_end"]),
                since=float(entry["virtual_start"]),
                asked=float(data["slept"]),
            )
        )
    return found
