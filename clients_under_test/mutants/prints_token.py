"""Mutant: prints "Connected as <token>" the first time it uses its API token.

Rule broken (API-NOTES, client-side rules): "Never show tokens or raw API output."
Caught by the obligation ``no_token_in_output`` in every scenario where the client gets a token
(anonymous, or NEMO_TOKEN in nemo-token and err-2001-registered): all but err-4001-local (a .txt
file refused before any request) and err-429-twice (the token request is refused twice).
"""

from __future__ import annotations

from functools import partial

from clients_under_test.reference import embed
from clients_under_test.reference.auth import Credentials
from clients_under_test.reference.client import NemoClient

__all__ = ["Client", "run"]


class ChattyCredentials(Credentials):
    _announced = False

    def bearer(self) -> str:
        token = super().bearer()
        if not self._announced:
            self._announced = True
            # straight to the terminal, past the console's redaction
            print(f"Connected as {token}", file=self._console.out, flush=True)
        return token


class Client(NemoClient):
    credentials_class = ChattyCredentials


run = partial(embed.run, client_class=Client)
