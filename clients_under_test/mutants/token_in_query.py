"""Mutant (the suite misses it): also sends its API token in the query string
(``?token=nmv_usr_…``) of every authenticated request.

Rule broken (API-NOTES, headers): "Never put the `nmv_usr_` token in a URL (v1.9 changelog, a
P0 security fix)."
Should be caught by the obligation ``no_token_in_url`` in every scenario that calls the API, but
is not: the mock's journal records the request path without its query string, and the check
reads the path only.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx

from clients_under_test.reference import embed
from clients_under_test.reference.api import Api
from clients_under_test.reference.client import NemoClient

__all__ = ["Client", "run"]


class LeakyApi(Api):
    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        authenticated: bool = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Request:
        request = super().request(
            method, path_or_url, authenticated=authenticated, headers=headers, **kwargs
        )
        if "Authorization" in request.headers:
            token = request.headers["Authorization"].removeprefix("Bearer ")
            request.url = request.url.copy_merge_params({"token": token})
        return request


class Client(NemoClient):
    api_class = LeakyApi


run = partial(embed.run, client_class=Client)
