"""Who the client is: ``NEMO_TOKEN`` when set, else an anonymous token for a persisted client id.

- The client id is a UUID persisted in the config folder; ``NEMO_CLIENT_ID`` overrides it.
- The anonymous token is cached in ``token.json`` (mode 0600) with its expiry, the client id and
  the API URL it belongs to, and reused until it expires (a minute early, to be safe).
- 1001 renews the token with the same client id; 400 (missing client id) makes a new client id.
  A registered token (``NEMO_TOKEN``) cannot be renewed: the error table reports it instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from .clock import Clock
from .config import ConfigStore, Settings
from .console import Console
from .models import TokenGrant

__all__ = ["Credentials", "TokenFetcher"]

TOKEN_FILE = "token.json"
CLIENT_ID_FILE = "client_id"
EXPIRY_MARGIN_SECONDS = 60.0
# Used when the backend sends no readable expiry: the documented lifetime of an anonymous token.
ANONYMOUS_TOKEN_LIFETIME_SECONDS = 7 * 24 * 3600.0

TokenFetcher = Callable[[str], TokenGrant]
"""Asks the backend for an anonymous token for a client id."""


class Credentials:
    def __init__(
        self,
        settings: Settings,
        store: ConfigStore,
        clock: Clock,
        console: Console,
        fetch: TokenFetcher,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._console = console
        self._fetch = fetch
        self._client_id: str | None = settings.client_id
        self._grant: TokenGrant | None = None
        if settings.token:
            console.add_secret(settings.token)

    @property
    def registered(self) -> bool:
        """True when ``NEMO_TOKEN`` is set: a registered account, never renewed by the client."""
        return self._settings.token is not None

    @property
    def user_id(self) -> str | None:
        return self._grant.user_id if self._grant else None

    def client_id(self) -> str:
        if self._client_id is None:
            self._client_id = self._store.read_text(CLIENT_ID_FILE)
        if self._client_id is None:
            self._client_id = self._new_client_id()
        return self._client_id

    def bearer(self) -> str:
        if self._settings.token is not None:
            return self._settings.token
        # Expiry is checked when reading the cache; within one run a token that expires is
        # renewed on 1001, so a server clock ahead of ours cannot cause a token per request.
        if self._grant is None:
            self._grant = self._cached() or self._acquire()
        return self._grant.token

    def reauthenticate(self) -> None:
        """After 1001: a new anonymous token for the same client id."""
        self._grant = self._acquire()

    def rotate_client_id(self) -> None:
        """After 400 (missing client id): a new client id, persisted, and no token for the old."""
        self._client_id = self._new_client_id()
        self._grant = None

    def _new_client_id(self) -> str:
        client_id = str(uuid.uuid4())
        self._store.write_text(CLIENT_ID_FILE, client_id + "\n")
        return client_id

    def _expired(self, grant: TokenGrant) -> bool:
        expires_at = grant.expires_at
        return expires_at is not None and self._clock.now() >= expires_at - EXPIRY_MARGIN_SECONDS

    def _cached(self) -> TokenGrant | None:
        cached = self._store.read_json(TOKEN_FILE)
        if cached is None:
            return None
        token, expires_at = cached.get("token"), cached.get("expires_at")
        if (
            not isinstance(token, str)
            or not token
            or cached.get("client_id") != self.client_id()
            or cached.get("api_url") != self._settings.api_url
            or isinstance(expires_at, bool)
            or not isinstance(expires_at, int | float)
        ):
            return None
        user_id = cached.get("user_id")
        grant = TokenGrant(
            token=token,
            user_id=user_id if isinstance(user_id, str) else None,
            expires_at=float(expires_at),
        )
        if self._expired(grant):
            return None
        self._console.add_secret(token)
        return grant

    def _acquire(self) -> TokenGrant:
        grant = self._fetch(self.client_id())
        self._console.add_secret(grant.token)
        if grant.expires_at is None:
            expires_at = self._clock.now() + ANONYMOUS_TOKEN_LIFETIME_SECONDS
            grant = TokenGrant(grant.token, grant.user_id, expires_at)
        self._store.write_json(
            TOKEN_FILE,
            {
                "token": grant.token,
                "user_id": grant.user_id,
                "expires_at": grant.expires_at,
                "client_id": self.client_id(),
                "api_url": self._settings.api_url,
            },
        )
        return grant
