"""A real browser on the console: Debian's Chromium, driven by Playwright for Python.

Nothing is downloaded: Playwright's wheel carries its driver, and the browser is the system's
``/usr/bin/chromium`` (``apt-get install chromium``; ``scripts/setup.sh`` and ``.ci/run``
install it as root). Where it is missing these tests skip and say why, unless
``$NEMO_REQUIRE_BROWSER`` is set (``.ci/run`` sets it): then they fail.

One mock serves the module on a free 127.0.0.1 port, at 100x on a scaled clock; the reference
client runs as a subprocess against it at the same scale, with its own home (so its token and
client id persist from one run to the next, as a user's do).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract import Control, NemoMock
from mock_backend import Settings
from mock_backend.web.server import LiveServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CLIENT = Path(sys.executable).parent / "nemo-client"
SCALE = 100
# without the background-networking flags Chromium's own connections are refused by a closed
# network and slow its start
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _unavailable(why: str) -> None:
    if os.environ.get("NEMO_REQUIRE_BROWSER"):
        pytest.fail(f"$NEMO_REQUIRE_BROWSER is set and {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for this module, stopped at its end: Playwright's sync API runs an event loop
    in this thread while it is up, and the async tests that follow need the thread's loop."""
    if CHROMIUM is None:
        _unavailable("needs Chromium (apt-get install chromium; scripts/setup.sh does as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("needs playwright (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        # Playwright starts each browser on a fresh temporary profile of its own
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Live:
    """The module's mock: its URL, the control API over HTTP, and a home for the client."""

    url: str
    control: Control
    http: httpx.Client
    home: Path

    def client_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEMO_")}
        env.update(
            {"NEMO_API_URL": self.url, "NEMO_TIME_SCALE": str(SCALE), "HOME": str(self.home)}
        )
        env.pop("XDG_CONFIG_HOME", None)
        return env

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start ``nemo-client ARGS`` against the mock at its scale."""
        return subprocess.Popen(
            [str(CLIENT), *args],
            env=self.client_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def client(self, *args: str, timeout: float = 240) -> str:
        """Run ``nemo-client ARGS`` to its end; its output, or a failure if it failed."""
        process = self.start(*args)
        try:
            output, _ = process.communicate(timeout=timeout)
        finally:
            process.kill()
        assert process.returncode == 0, f"nemo-client {' '.join(args)} failed:\n{output}"
        return output


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("console")
    settings = Settings(seed=3, clock=f"scaled:{SCALE}", data_dir=folder / "data")
    with NemoMock.in_process(settings) as mock:
        server = LiveServer(mock.app)
        server.start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                yield Live(server.url, Control(http), http, folder / "home")
        finally:
            server.stop()


@pytest.fixture
def page(browser: Any, live: Live) -> Iterator[Any]:
    """A fresh tab on the console of a reset mock, at desktop size, failing on a script error."""
    live.control.reset()
    context = browser.new_context(viewport=DESKTOP)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.set_default_timeout(30_000)  # a bound for a loaded machine, never a measurement
    tab.goto(f"{live.url}/__mock/ui")
    tab.locator("#feed-status[data-state=live]").wait_for()
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"the page's script failed: {errors}"
