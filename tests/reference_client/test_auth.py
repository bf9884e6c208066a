"""Tokens: NEMO_TOKEN, the persisted client id, the cached anonymous token and its expiry."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

import pytest

from clients_under_test.reference import Settings
from clients_under_test.reference.errors import UsageError

from .backend import Backend, FakeClock, envelope
from .conftest import MakeClient


def test_nemo_token_is_used_as_is_and_no_anonymous_token_is_requested(
    make_client: MakeClient, backend: Backend
) -> None:
    make_client(token="nmv_registered_token").credits()
    assert backend.ops("token") == []
    assert backend.ops("credits")[0].request.headers["Authorization"] == (
        "Bearer nmv_registered_token"
    )


def test_anonymous_token_is_cached_with_its_expiry_in_a_0600_file(
    make_client: MakeClient, backend: Backend, settings: Settings, clock: FakeClock
) -> None:
    make_client().credits()

    token_file = settings.config_dir / "token.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    cached = json.loads(token_file.read_text())
    assert cached["token"] == "nmv_usr_secret1"
    assert cached["expires_at"] == pytest.approx(clock.now() + 7 * 86400)
    assert cached["user_id"] == "anon_42"
    client_id = (settings.config_dir / "client_id").read_text().strip()
    assert cached["client_id"] == client_id
    assert uuid.UUID(client_id).version == 4
    assert stat.S_IMODE((settings.config_dir / "client_id").stat().st_mode) == 0o600


def test_a_cached_token_is_reused_by_the_next_run(
    make_client: MakeClient, backend: Backend, clock: FakeClock
) -> None:
    make_client().credits()
    clock.advance(6 * 86400)
    make_client().credits()

    assert backend.tokens_issued == 1
    assert {c.request.headers["Authorization"] for c in backend.ops("credits")} == {
        "Bearer nmv_usr_secret1"
    }


def test_an_expired_token_is_replaced_with_the_same_client_id(
    make_client: MakeClient, backend: Backend, clock: FakeClock
) -> None:
    make_client().credits()
    clock.advance(7 * 86400)
    make_client().credits()

    tokens = backend.ops("token")
    assert len(tokens) == 2
    assert len({t.request.headers["X-Client-Id"] for t in tokens}) == 1
    assert backend.ops("credits")[-1].request.headers["Authorization"] == "Bearer nmv_usr_secret2"


def test_a_token_already_expired_by_our_clock_is_used_for_the_run(
    make_client: MakeClient, backend: Backend, clock: FakeClock
) -> None:
    clock.advance(30 * 86400)  # our clock is ahead of the server's
    backend.queue("token", envelope({"token": "nmv_usr_old", "expires_at": "2020-01-01T00:00:00Z"}))
    client = make_client()
    client.credits()
    client.credits()
    assert backend.tokens_issued == 0
    assert len(backend.ops("token")) == 1


def test_nemo_client_id_overrides_the_persisted_one(
    make_client: MakeClient, backend: Backend
) -> None:
    make_client().credits()
    make_client(client_id="my-own-client-id").credits()

    ids = [t.request.headers["X-Client-Id"] for t in backend.ops("token")]
    assert ids[1] == "my-own-client-id"
    assert ids[0] != ids[1]  # a token cached for another client id is not reused


def test_a_corrupt_token_file_is_ignored(
    make_client: MakeClient, backend: Backend, settings: Settings
) -> None:
    settings.config_dir.mkdir(parents=True)
    (settings.config_dir / "token.json").write_text("{not json")
    make_client().credits()
    assert backend.tokens_issued == 1


def test_a_token_for_another_api_url_is_not_reused(
    make_client: MakeClient, backend: Backend
) -> None:
    make_client().credits()
    make_client(api_url="https://other-api.test").credits()

    assert backend.tokens_issued == 2
    assert backend.ops("token")[1].request.url.host == "other-api.test"


@pytest.mark.parametrize(
    ("env", "expected_dir"),
    [
        ({}, "home/.config/nemovideo"),
        ({"XDG_CONFIG_HOME": "{tmp}/xdg"}, "xdg/nemovideo"),
    ],
)
def test_config_folder_follows_xdg(tmp_path: Path, env: dict[str, str], expected_dir: str) -> None:
    env = {key: value.format(tmp=tmp_path) for key, value in env.items()}
    settings = Settings.from_env(env, home=tmp_path / "home")
    assert settings.config_dir == tmp_path / expected_dir


def test_settings_read_the_documented_variables(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "NEMO_TOKEN": "nmv_tok",
            "NEMO_CLIENT_ID": "cid",
            "NEMO_API_URL": "http://127.0.0.1:8000/",
            "NEMO_WEB_URL": "http://web.local",
            "SKILL_SOURCE": "openclaw",
        },
        home=tmp_path,
    )
    assert (settings.token, settings.client_id, settings.platform) == ("nmv_tok", "cid", "openclaw")
    assert settings.api_url == "http://127.0.0.1:8000"
    assert settings.web_url == "http://web.local"
    defaults = Settings.from_env({}, home=tmp_path)
    assert defaults.api_url == "https://mega-api-prod.nemovideo.ai"
    assert defaults.web_url == "https://nemovideo.com"
    assert defaults.token is None


def test_a_bad_api_url_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="NEMO_API_URL"):
        Settings.from_env({"NEMO_API_URL": "mega-api-prod.nemovideo.ai"}, home=tmp_path)
