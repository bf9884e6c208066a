"""Mutant: sends X-Skill-Source and X-Skill-Version but drops X-Skill-Platform.

Rule broken (API-NOTES, headers): `X-Skill-Source`, `X-Skill-Version` and `X-Skill-Platform` on
every call ("Missing attribution headers make export fail with HTTP 402").
Caught by the obligation ``attribution_headers`` in every scenario that calls the API, that is
all but err-4001-local (a .txt file refused before any request). The jobs that export also
fail with 402 at the render.
"""

from __future__ import annotations

from functools import partial

from clients_under_test.reference import embed
from clients_under_test.reference.attribution import Attribution
from clients_under_test.reference.client import NemoClient

__all__ = ["Client", "run"]


class PartialAttribution(Attribution):
    def headers(self) -> dict[str, str]:
        headers = super().headers()
        del headers["X-Skill-Platform"]
        return headers


class Client(NemoClient):
    attribution_class = PartialAttribution


run = partial(embed.run, client_class=Client)
