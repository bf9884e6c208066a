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


# what `nemo-mock serve` does before its first request (mock_backend/cli.py), then a token and
# GET credits: the benchmark's start-up and hot path never wait for the media stack
SERVE = """
import asyncio, sys, httpx, uvicorn
from mock_backend.cli import build_parser, settings_from
from mock_backend.web.app import create_app
from mock_backend.web.server import server_limits

app = create_app(settings_from(build_parser().parse_args(["serve"])))
uvicorn.Config(app, lifespan="on", **server_limits(app.state.backend.limits)).load()

async def first_calls():
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
        minted = await client.post("/api/auth/anonymous-token", headers={"X-Client-Id": "light"})
        bearer = {"Authorization": "Bearer " + minted.json()["data"]["token"]}
        got = await client.get("/api/credits/balance/simple", headers=bearer)
        assert got.json()["code"] == 0, got.text

asyncio.run(first_calls())
print(sorted(m for m in HEAVY if m in sys.modules))
"""


def test_serving_credits_does_not_load_the_media_stack() -> None:
    code = f"HEAVY = {HEAVY!r}\n{SERVE}"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]", f"serving GET credits loaded {done.stdout.strip()}"


# start-up reads the contract from its cache and compiles no validator: neither PyYAML nor
# jsonschema load before the first request that needs them
START = """
import sys, uvicorn
from mock_backend.cli import build_parser, settings_from
from mock_backend.web.app import create_app
from mock_backend.web.server import server_limits

app = create_app(settings_from(build_parser().parse_args(["serve"])))
uvicorn.Config(app, lifespan="on", **server_limits(app.state.backend.limits)).load()
print(sorted(m for m in ("yaml", "jsonschema", "referencing") if m in sys.modules))
"""


def test_a_start_with_the_contract_cached_loads_no_yaml_or_jsonschema(tmp_path: Path) -> None:
    env = {**os.environ, "NEMO_CACHE_DIR": str(tmp_path)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", START],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
            env=env,
        ).stdout.strip()
        for _ in range(2)
    ]
    assert runs[0] == "['yaml']", f"the first start (parsing the contract) loaded {runs[0]}"
    assert runs[1] == "[]", f"a start with the contract cached loaded {runs[1]}"
