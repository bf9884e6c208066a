"""schemathesis against the mock, in-process: every phase, every check, the stateful one too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import negative_data_rejection
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import ignored_auth, missing_required_header

import contract
from mock_backend.openapi.spec import spec_path
from mock_backend.settings import Settings
from mock_backend.web.app import create_app

CONFIG = SchemathesisConfig.from_path(Path(contract.__file__).with_name("schemathesis.toml"))
# A fast clock: a 5-minute generation run streams in 0.15 s; tokens (7 days) outlive the test.
FAST = "scaled:2000"


def _schema(profile: str) -> Any:
    app = create_app(Settings(clock=FAST, error_status=profile, tokens_per_ip=10**6))  # type: ignore[arg-type]
    schema = schemathesis.openapi.from_path(str(spec_path()), config=CONFIG)
    schema.app = app
    backend = app.state.backend

    @schema.auth()
    class RegisteredToken:
        def get(self, case: Case, ctx: Any) -> str:
            record, _ = backend.accounts.mint_registered(
                credits=10**6, plan="pro", scopes=None, seq=backend.next_id("registered")
            )
            return record.token

        def set(self, case: Case, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return schema


REST = _schema("rest")
HTTP200 = _schema("http200")
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


@REST.parametrize()
@SETTINGS
def test_rest_profile_conforms_with_every_check(case: Case) -> None:
    case.call_and_validate()


@HTTP200.parametrize()
@SETTINGS
def test_http200_profile_conforms(case: Case) -> None:
    # 200 + code 1001 is the documented default for a missing or bad token, which these three
    # checks read as "auth not enforced" (they expect 401); the REST profile above runs them all.
    case.call_and_validate(
        excluded_checks=[ignored_auth, missing_required_header, negative_data_rejection]
    )


RestFlows = REST.as_state_machine()
RestFlows.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
test_rest_profile_stateful = RestFlows.TestCase


@pytest.fixture(autouse=True)
def _anyio_backend() -> str:
    return "asyncio"
