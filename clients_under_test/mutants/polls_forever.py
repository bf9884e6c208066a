"""Mutant (the suite misses it): polls a render up to 60 times (30 minutes), not 10.

Rule broken (API-NOTES, credits, plans and limits): "Render: poll every 30 s, at most 10 polls".
Should be caught by the obligation ``at_most_10_polls``, but no scenario has a render that is
still running after 10 polls: slow-render is done within 10 by design, and an orphaned render
answers 404, which ends the polling at once.
"""

from __future__ import annotations

from functools import partial

from clients_under_test.reference import embed
from clients_under_test.reference.client import NemoClient
from clients_under_test.reference.export import Exporter

__all__ = ["Client", "run"]


class TirelessExporter(Exporter):
    max_polls = 60


class Client(NemoClient):
    exporter_class = TirelessExporter


run = partial(embed.run, client_class=Client)
