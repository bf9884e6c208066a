"""Mutant: keeps retrying a rate-limited call, up to three times (30 s apart).

Rule broken (API-NOTES, error table): 429 "retry once after 30 s" — once, then report.
Caught by the obligation ``retry_429_once`` in err-429-twice (rate limited twice: the second
retry succeeds, so the run also ends 0 where a failure message was due). A single 429
(err-429, err-429-ip) needs one retry only, so those scenarios cannot tell it apart.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import httpx

from clients_under_test.reference import embed
from clients_under_test.reference.api import Api, RequestFactory
from clients_under_test.reference.client import NemoClient
from clients_under_test.reference.error_table import RATE_LIMIT_WAIT_SECONDS
from clients_under_test.reference.errors import RateLimited

__all__ = ["Client", "run"]

RETRIES = 3


class PersistentApi(Api):
    def _exchange(
        self,
        build: RequestFactory,
        *,
        stream: bool,
        accept: Callable[[httpx.Response], bool] | None,
        session_bound: bool,
        authenticated: bool,
        envelope_required: bool,
    ) -> tuple[httpx.Response, dict[str, Any] | None]:
        options: dict[str, Any] = {
            "stream": stream,
            "accept": accept,
            "session_bound": session_bound,
            "authenticated": authenticated,
            "envelope_required": envelope_required,
        }
        # The reference's exchange waits and retries once; each further round is one more retry.
        for _ in range(RETRIES - 1):
            try:
                return super()._exchange(build, **options)
            except RateLimited:
                self.console.warn("Still rate limited; waiting 30 s and trying again…")
                self.clock.sleep(RATE_LIMIT_WAIT_SECONDS)
        return super()._exchange(build, **options)


class Client(NemoClient):
    api_class = PersistentApi


run = partial(embed.run, client_class=Client)
