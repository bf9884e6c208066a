"""The packages' public names: what a user imports, exactly, and each of them real."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PUBLIC = {
    "mock_backend": {"ApiError", "MockBackendError", "Settings", "create_app"},
    "contract": {
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
    },
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_names_are_exactly_all_and_each_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert set(module.__all__) == PUBLIC[package]
    for name in module.__all__:
        assert getattr(module, name) is not None, name
        assert name in dir(module)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = module.nope


def test_the_readme_imports_work_and_build_a_working_mock() -> None:
    from contract import NemoMock
    from mock_backend import Settings, create_app

    app = create_app(Settings(seed=7, clock="manual"))
    assert app.state.backend.settings.seed == 7
    with NemoMock.in_process(Settings(seed=7)) as mock:
        assert mock.journal() == []


@pytest.mark.parametrize("package", ["mock_backend", "contract"])
def test_every_exception_has_the_package_root(package: str) -> None:
    root = {"mock_backend": "MockBackendError", "contract": "NemoContractError"}[package]
    errors = importlib.import_module(f"{package}.errors")
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, getattr(errors, root)), name


def test_importing_the_packages_loads_neither_server_nor_media_stack() -> None:
    heavy = ("av", "numpy", "PIL", "fastapi", "uvicorn", "respx", "schemathesis")
    code = (
        "import sys, mock_backend, contract, contract.pytest_plugin; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]", done.stdout
