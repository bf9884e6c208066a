"""Mutant: on 1001 (bad or expired token), makes a new client id before asking for a token.

Rule broken (API-NOTES, error table): 1001 "re-authenticate with the anonymous-token call, same
client id".
Caught by the obligation ``reauth_on_1001`` in err-1001-expired, err-1001-revoked,
err-1001-mid-render and err-1001-rest.
"""

from __future__ import annotations

from functools import partial

from clients_under_test.reference import embed
from clients_under_test.reference.auth import Credentials
from clients_under_test.reference.client import NemoClient

__all__ = ["Client", "run"]


class ForgetfulCredentials(Credentials):
    def reauthenticate(self) -> None:
        self.rotate_client_id()  # the broken rule: 1001 is not 400
        super().reauthenticate()


class Client(NemoClient):
    credentials_class = ForgetfulCredentials


run = partial(embed.run, client_class=Client)
