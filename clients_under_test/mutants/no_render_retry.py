"""Mutant: gives up on the first failed render, without submitting it again.

Rule broken (API-NOTES, credits, plans and limits): "on failure submit again with a new `id`,
once".
Caught by the obligation ``retry_new_id_after_failure`` in render-retry, render-fails-twice and
extract-render-retry.
"""

from __future__ import annotations

from functools import partial

from clients_under_test.reference import embed
from clients_under_test.reference.client import NemoClient
from clients_under_test.reference.export import Exporter

__all__ = ["Client", "run"]


class OneShotExporter(Exporter):
    max_submissions = 1


class Client(NemoClient):
    exporter_class = OneShotExporter


run = partial(embed.run, client_class=Client)
