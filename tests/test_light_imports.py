"""Loading the mock, the suite or the pytest plugin does not load the media stack.

Every pytest run in an environment with the package installed loads the plugin, and a mock that
serves tokens and sessions never needs PyAV, numpy or Pillow; they load with the first upload,
render or generated sample. A fresh interpreter is the only honest place to look.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("av", "numpy", "PIL")


def _loaded(code: str, modules: tuple[str, ...], env: dict[str, str] | None = None) -> str:
    """Which of ``modules`` a fresh interpreter holds after running ``code``."""
    code += f"\nprint(sorted(m for m in {modules!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
    )
    return done.stdout.strip()


@pytest.mark.parametrize(
    "modules",
    [
        "contract.pytest_plugin",
        "mock_backend.web.app, mock_backend.cli, mock_backend.web.server",
        "contract.cli, contract.provider, contract.runner, contract.mock",
    ],
)
def test_importing_does_not_load_the_media_stack(modules: str) -> None:
    loaded = _loaded(f"import sys, {modules}", HEAVY)
    assert loaded == "[]", f"importing {modules} loaded {loaded}"


# what `nemo-mock serve` does before its first request (mock_backend/cli.py)
BUILD = """
import asyncio, sys, httpx, uvicorn
from mock_backend.cli import build_parser, settings_from
from mock_backend.web.app import create_app
from mock_backend.web.server import server_limits

app = create_app(settings_from(build_parser().parse_args(["serve"])))
uvicorn.Config(app, lifespan="on", **server_limits(app.state.backend.limits)).load()
"""

# then a token and GET credits: the benchmark's start-up and hot path never wait for the media
# stack
SERVE = """
async def first_calls():
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
        minted = await client.post("/api/auth/anonymous-token", headers={"X-Client-Id": "light"})
        bearer = {"Authorization": "Bearer " + minted.json()["data"]["token"]}
        got = await client.get("/api/credits/balance/simple", headers=bearer)
        assert got.json()["code"] == 0, got.text

asyncio.run(first_calls())
"""


def test_serving_credits_does_not_load_the_media_stack() -> None:
    loaded = _loaded(BUILD + SERVE, HEAVY)
    assert loaded == "[]", f"serving GET credits loaded {loaded}"


def test_a_start_with_the_contract_cached_loads_no_yaml_or_jsonschema(tmp_path: Path) -> None:
    """Start-up reads the contract from its cache and compiles no validator: neither PyYAML nor
    jsonschema load before the first request that needs them."""
    env = {**os.environ, "NEMO_CACHE_DIR": str(tmp_path)}
    parsing, cached = (_loaded(BUILD, ("yaml", "jsonschema", "referencing"), env) for _ in "12")
    assert parsing == "['yaml']", f"the first start (parsing the contract) loaded {parsing}"
    assert cached == "[]", f"a start with the contract cached loaded {cached}"


def test_a_start_loads_no_agent_machinery_until_the_first_run() -> None:
    agent = tuple(f"mock_backend.agent.{m}" for m in ("planning", "intents", "stream", "replies"))
    loaded = _loaded(BUILD, agent)
    assert loaded == "[]", f"a start loaded {loaded}"
