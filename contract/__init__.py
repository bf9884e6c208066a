"""The compatibility suite: provider conformance and client verification.

The public API, for a test suite or a CI script of your own::

    from contract import NemoMock, run_catalogue, run_provider

    with NemoMock.in_process() as mock:          # the mock in this process, on a virtual clock
        ...
    results = run_catalogue(adapter)             # every scenario against a client: ScenarioResult
    code = run_provider(url, token=None, out=Path("reports"))   # a server against the contract

`Control` (and `AsyncControl`) drive any mock's control API over an httpx client: scenarios,
rules, the clock, the journal; `NemoMock` is one. A `ScenarioResult` holds its `Verdict`s; a
provider run's checks are `CheckResult`s. Every
exception of the suite is a `NemoContractError`. Names load on first use (PEP 562), so the
pytest plugin, which imports this package, stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .adapters import InProcessAdapter, SubprocessAdapter
    from .control import AsyncControl, Control
    from .errors import ControlError, ManifestError, NemoContractError, ProviderFailure
    from .evidence import Verdict
    from .mock import NemoMock
    from .provider import run_provider
    from .runner import ScenarioResult, run_catalogue
    from .server_api import CheckResult

_HOME = {
    "AsyncControl": "control",
    "CheckResult": "server_api",
    "Control": "control",
    "ControlError": "errors",
    "InProcessAdapter": "adapters",
    "ManifestError": "errors",
    "NemoContractError": "errors",
    "NemoMock": "mock",
    "ProviderFailure": "errors",
    "ScenarioResult": "runner",
    "SubprocessAdapter": "adapters",
    "Verdict": "evidence",
    "run_catalogue": "runner",
    "run_provider": "provider",
}
__all__ = [
    "AsyncControl",
    "CheckResult",
    "Control",
    "ControlError",
    "InProcessAdapter",
    "ManifestError",
    "NemoContractError",
    "NemoMock",
    "ProviderFailure",
    "ScenarioResult",
    "SubprocessAdapter",
    "Verdict",
    "run_catalogue",
    "run_provider",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
