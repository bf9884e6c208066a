"""Mutant: submits a failed render again, with the same id.

Rule broken (API-NOTES, credits, plans and limits): "on failure submit again with a new `id`,
once". The mock refuses a used id (409), so the retry never renders.
Caught by the obligation ``retry_new_id_after_failure`` in render-retry, render-fails-twice and
extract-render-retry.
"""

from __future__ import annotations

from functools import partial

from clients_under_test.reference import embed
from clients_under_test.reference.client import NemoClient
from clients_under_test.reference.export import Exporter

__all__ = ["Client", "run"]


class SameIdExporter(Exporter):
    _render_id: str | None = None

    def _new_id(self) -> str:
        if self._render_id is None:
            self._render_id = super()._new_id()
        return self._render_id


class Client(NemoClient):
    exporter_class = SameIdExporter


run = partial(embed.run, client_class=Client)
