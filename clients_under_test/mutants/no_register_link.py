"""Mutant: tells an anonymous user out of credits to top up, as if registered: no registration
link.

Rule broken (API-NOTES, error table): 2001 "anonymous: show `<web>/register?bind=<user_id>`".
Caught by the obligation ``register_link_on_2001`` in err-2001-anonymous.
"""

from __future__ import annotations

import dataclasses
from functools import partial

from clients_under_test.reference import embed
from clients_under_test.reference.api import Api
from clients_under_test.reference.client import NemoClient
from clients_under_test.reference.error_table import FailureContext

__all__ = ["Client", "run"]


class LinklessApi(Api):
    def failure_context(self) -> FailureContext:
        return dataclasses.replace(super().failure_context(), registered=True)


class Client(NemoClient):
    api_class = LinklessApi


run = partial(embed.run, client_class=Client)
