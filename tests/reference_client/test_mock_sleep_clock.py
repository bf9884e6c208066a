"""NEMO_MOCK_SLEEP_URL: the reference client takes its waits on the mock's clock."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx

from clients_under_test.reference.cli import _clock
from clients_under_test.reference.clock import MockSleepClock, ScaledClock
from clients_under_test.reference.config import Settings

URL = "http://127.0.0.1:9/__mock/clock/sleep"


def settings(**env: str) -> Settings:
    return Settings.from_env({"NEMO_TIME_SCALE": "100", **env}, home=Path("/nonexistent"))


def test_the_environment_picks_the_clock() -> None:
    assert type(_clock(settings())) is ScaledClock
    clock = _clock(settings(NEMO_MOCK_SLEEP_URL=URL, NEMO_MOCK_ADMIN_TOKEN="s3cret"))
    assert isinstance(clock, MockSleepClock)
    assert clock.url == URL
    assert clock.headers == {"X-Mock-Admin-Token": "s3cret"}


@respx.mock
def test_a_sleep_is_a_post_to_the_mock_with_its_admin_token() -> None:
    route = respx.post(URL).mock(
        return_value=httpx.Response(200, json={"code": 0, "data": {"slept": 30, "now": 1.0}})
    )
    MockSleepClock(100, URL, "s3cret").sleep(30)
    MockSleepClock(100, URL).sleep(0)  # nothing to wait: no call
    (call,) = route.calls
    assert call.request.headers["X-Mock-Admin-Token"] == "s3cret"
    assert call.request.content == b'{"seconds":30}'


@respx.mock
def test_a_refused_sleep_says_what_to_do() -> None:
    respx.post(URL).mock(return_value=httpx.Response(401, json={"code": 401}))
    with pytest.raises(RuntimeError, match="unset NEMO_MOCK_SLEEP_URL"):
        MockSleepClock(100, URL).sleep(30)
