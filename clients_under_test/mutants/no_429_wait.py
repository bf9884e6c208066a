"""Mutant: retries a rate-limited call at once, without the 30 s wait.

Rule broken (API-NOTES, error table): 429 "rate limited … retry once after 30 s".
Caught by the obligation ``retry_429_once`` in err-429, err-429-twice and err-429-ip.
"""

from __future__ import annotations

from functools import partial

from clients_under_test.reference import embed
from clients_under_test.reference.api import Api
from clients_under_test.reference.client import NemoClient
from clients_under_test.reference.error_table import Recovery

__all__ = ["Client", "run"]


class ImpatientApi(Api):
    def _recover(self, recovery: Recovery) -> None:
        if recovery is Recovery.WAIT_AND_RETRY:
            self.console.warn("NemoVideo is busy (rate limited); retrying now…")
            return  # the broken rule: no 30 s wait before the retry
        super()._recover(recovery)


class Client(NemoClient):
    api_class = ImpatientApi


run = partial(embed.run, client_class=Client)
