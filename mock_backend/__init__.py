"""An offline twin of the NemoVideo cloud backend.

The public API, for tests and tools that build the mock in their own process::

    from . import Settings, create_app

    app = create_app(Settings(seed=7, clock="manual"))

Names load on first use (PEP 562), so ``import mock_backend`` alone (the pytest plugin does it)
stays light; `ApiError` is the documented error envelope a custom handler raises, and every
exception of the package is a `MockBackendError`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import ApiError, MockBackendError
    from .settings import Settings
    from .web.app import create_app

_HOME = {
    "ApiError": "errors",
    "MockBackendError": "errors",
    "Settings": "settings",
    "create_app": "web.app",
}
__all__ = ["ApiError", "MockBackendError", "Settings", "create_app"]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
