"""Settings from the environment, and the config folder the client persists state in.

The environment is read in one place, `Settings.from_env`, at the edge (the CLI); everything
else takes a `Settings`. The config folder holds ``client_id``, ``token.json`` and
``session.json``, each written atomically with mode 0600 (the token file is a secret).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import UsageError

__all__ = ["DEFAULT_API_URL", "DEFAULT_WEB_URL", "ConfigStore", "Settings"]

DEFAULT_API_URL = "https://mega-api-prod.nemovideo.ai"
DEFAULT_WEB_URL = "https://nemovideo.com"


@dataclass(frozen=True)
class Settings:
    config_dir: Path
    home: Path
    api_url: str = DEFAULT_API_URL
    web_url: str = DEFAULT_WEB_URL
    token: str | None = None  # NEMO_TOKEN: a registered account's token
    client_id: str | None = None  # NEMO_CLIENT_ID: overrides the persisted client id
    platform: str | None = None  # SKILL_SOURCE: overrides the detected X-Skill-Platform
    time_scale: float = 1.0  # NEMO_TIME_SCALE: run the client's clock N times faster (testing)
    sleep_url: str | None = None  # NEMO_MOCK_SLEEP_URL: sleep on the mock's clock (testing)
    mock_admin_token: str | None = None  # NEMO_MOCK_ADMIN_TOKEN: what that mock asks for

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, home: Path | None = None) -> Settings:
        home = home if home is not None else Path.home()
        xdg = env.get("XDG_CONFIG_HOME", "").strip()
        base = Path(xdg) if xdg else home / ".config"
        return cls(
            config_dir=base / "nemovideo",
            home=home,
            api_url=_url(env, "NEMO_API_URL", DEFAULT_API_URL),
            web_url=_url(env, "NEMO_WEB_URL", DEFAULT_WEB_URL),
            token=env.get("NEMO_TOKEN", "").strip() or None,
            client_id=env.get("NEMO_CLIENT_ID", "").strip() or None,
            platform=env.get("SKILL_SOURCE", "").strip() or None,
            time_scale=_scale(env),
            sleep_url=(
                _url(env, "NEMO_MOCK_SLEEP_URL", "http://127.0.0.1:8000/__mock/clock/sleep")
                if env.get("NEMO_MOCK_SLEEP_URL", "").strip()
                else None
            ),
            mock_admin_token=env.get("NEMO_MOCK_ADMIN_TOKEN", "").strip() or None,
        )


def _scale(env: Mapping[str, str]) -> float:
    raw = env.get("NEMO_TIME_SCALE", "").strip()
    if not raw:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise UsageError(f"NEMO_TIME_SCALE must be a positive number such as 100, got {raw!r}")
    return value


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{name} must be an http(s) URL such as {default}, got {value!r}")
    return value.rstrip("/")


class ConfigStore:
    """Small files in the config folder; unreadable or corrupt files read as absent."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
        return self.directory / name

    def read_text(self, name: str) -> str | None:
        try:
            return self.path(name).read_text(encoding="utf-8").strip() or None
        except (OSError, UnicodeDecodeError):
            return None

    def write_text(self, name: str, text: str) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, self.path(name))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def read_json(self, name: str) -> dict[str, Any] | None:
        text = self.read_text(name)
        if text is None:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def write_json(self, name: str, data: Mapping[str, Any]) -> None:
        self.write_text(name, json.dumps(dict(data), indent=2) + "\n")

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(name).unlink()
