"""Mutant: polls a render every 10 s, not every 30 s (over the same 5 minutes: up to 30 polls).

Rule broken (API-NOTES, credits, plans and limits): "Render: poll every 30 s, at most 10 polls".
Caught by the obligation ``polls_30s_apart`` in the scenarios that judge it: happy-convert,
happy-extract, happy-convert-portrait, err-1001-mid-render, render-slow and render-retry. Where a
render takes more than 100 s (render-slow, by design), ``at_most_10_polls`` fails too, and it is
in render-stuck (a render that never finishes: 30 polls 10 s apart).

Why 10 s, and why the 5-minute budget is kept: a 1 s cadence, or 10 polls 10 s apart, gives up
on renders that take 30-90 s of scaled time (more when the real encode lags), so the mutant
would also fail the other exports (download-fallback, extract-render-retry) for another reason.
"""

from __future__ import annotations

from functools import partial

from clients_under_test.reference import embed
from clients_under_test.reference.client import NemoClient
from clients_under_test.reference.export import Exporter

__all__ = ["Client", "run"]


class EagerExporter(Exporter):
    poll_interval = 10.0
    max_polls = 30


class Client(NemoClient):
    exporter_class = EagerExporter


run = partial(embed.run, client_class=Client)
