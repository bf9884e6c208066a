"""Mutant: downloads from ``output.url`` only; when that fails, the export fails.

Rule broken (API-NOTES, endpoints): the download fallback `GET /api/render/proxy/<id>/download`.
Caught by the obligation ``download_fallback`` in download-fallback.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from clients_under_test.reference import embed
from clients_under_test.reference.client import NemoClient
from clients_under_test.reference.errors import ExportError, NemoClientError
from clients_under_test.reference.export import Exporter

__all__ = ["Client", "run"]


class DirectExporter(Exporter):
    def download(self, render_id: str, url: str | None, dest: Path) -> Path:
        if not url:
            raise ExportError("The render finished without a download link.")
        try:
            return self._save(lambda: self.api.request("GET", url), dest)
        except NemoClientError as error:
            raise ExportError(
                f"The render finished, but the file could not be downloaded: {error}"
            ) from None


class Client(NemoClient):
    exporter_class = DirectExporter


run = partial(embed.run, client_class=Client)
