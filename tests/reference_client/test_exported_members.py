"""The package's public names are exactly its ``__all__``, and each module declares one."""

from __future__ import annotations

import importlib
import pkgutil

import clients_under_test.reference as reference


def test_public_names() -> None:
    assert set(reference.__all__) == {
        "Clock",
        "Console",
        "ExitCode",
        "NemoClient",
        "NemoClientError",
        "Settings",
        "SystemClock",
        "__version__",
    }
    for name in reference.__all__:
        assert hasattr(reference, name)


def test_every_module_declares_all() -> None:
    for module in pkgutil.iter_modules(reference.__path__):
        if module.name == "__main__":
            continue
        imported = importlib.import_module(f"{reference.__name__}.{module.name}")
        assert hasattr(imported, "__all__"), module.name
        for name in imported.__all__:
            assert hasattr(imported, name), f"{module.name}.{name}"


def test_every_error_is_a_nemo_client_error_with_an_exit_code() -> None:
    from clients_under_test.reference import errors

    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, reference.NemoClientError)
            assert isinstance(value.exit_code, reference.ExitCode)
