"""Mutant: on 1002 (session not found), reports the error instead of starting a new session.

Rule broken (API-NOTES, error table): 1002 "create a new session".
Caught by the obligation ``new_session_on_1002`` in err-1002-chat, err-1002-status and
err-1002-rest.
"""

from __future__ import annotations

from functools import partial

from clients_under_test.reference import embed
from clients_under_test.reference.api import Api
from clients_under_test.reference.client import NemoClient
from clients_under_test.reference.error_table import Recovery

__all__ = ["Client", "run"]


class StubbornApi(Api):
    def _can(self, recovery: Recovery, session_bound: bool, authenticated: bool) -> bool:
        if recovery is Recovery.NEW_SESSION:
            return False
        return super()._can(recovery, session_bound, authenticated)


class Client(NemoClient):
    api_class = StubbornApi


run = partial(embed.run, client_class=Client)
