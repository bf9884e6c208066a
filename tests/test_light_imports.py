"""Loading the mock, the suite or the pytest plugin does not load the media stack.

Every pytest run in an environment with the package installed loads the plugin, and a mock that
serves tokens and sessions never needs PyAV, numpy or Pillow; they load with the first upload,
render or generated sample. A fresh interpreter is the only honest place to look.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("av", "numpy", "PIL")


@pytest.mark.parametrize(
    "modules",
    [
        "contract.pytest_plugin",
        "mock_backend.web.app, mock_backend.cli, mock_backend.web.server",
        "contract.cli, contract.provider, contract.runner, contract.mock",
    ],
)
def test_importing_does_not_load_the_media_stack(modules: str) -> None:
    code = f"import sys, {modules}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]", f"importing {modules} loaded {done.stdout.strip()}"

