"""The wheel users install: the three packages and their data, no test mutants, no warnings."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SHIPPED = ("mock_backend/", "contract/", "clients_under_test/")
NOT_SHIPPED = ("clients_under_test/mutants/", "servers_under_test/", "tests/", "benchmarks/")


def _tracked() -> list[str]:
    done = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"not a git checkout: {done.stderr.strip()}")
    return done.stdout.split()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], str]:
    """A wheel built from a copy of the tracked files (the checkout stays untouched)."""
    source = tmp_path_factory.mktemp("source")
    for name in _tracked():
        origin, target = ROOT / name, source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_symlink():
            target.symlink_to(origin.readlink())
        elif origin.exists():  # a file deleted but not yet committed is skipped
            shutil.copy2(origin, target)
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"pip wheel failed:\n{done.stdout}\n{done.stderr}"
    (built,) = out.glob("*.whl")
    with zipfile.ZipFile(built) as archive:
        return archive.namelist(), done.stdout + done.stderr


def test_the_wheel_ships_every_data_file_of_the_three_packages(
    wheel: tuple[list[str], str],
) -> None:
    names, _ = wheel
    wanted = {
        n
        for n in _tracked()
        if n.startswith(SHIPPED) and not n.startswith(NOT_SHIPPED) and (ROOT / n).exists()
    }
    missing = sorted(wanted - set(names))
    assert not missing, f"files the installed tools need are not in the wheel: {missing}"


def test_the_wheel_leaves_out_the_broken_clients_and_servers(wheel: tuple[list[str], str]) -> None:
    names, _ = wheel
    shipped = sorted(n for n in names if n.startswith(NOT_SHIPPED))
    assert not shipped, f"test-only code in the wheel: {shipped}"


def test_building_the_wheel_prints_no_setuptools_warning(wheel: tuple[list[str], str]) -> None:
    _, output = wheel
    warnings = [line for line in output.splitlines() if "warning" in line.lower() or "!!" in line]
    assert not warnings, "the build warns:\n" + "\n".join(warnings)
