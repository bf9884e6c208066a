"""Export: render the draft in the cloud, poll it, and download the file.

- Submit ``{"id": "render_<ms>", "sessionId", "draft", "output": {"format", "quality": "high"}}``.
- Poll every 30 s, at most 10 polls; status from the top level, else ``data.status``.
- On ``failed``, submit once more with a new id; a second failure ends the export.
- Download from ``output.url`` (or ``data.outputUrl``) to a ``.part`` file, renamed when complete;
  if that fails, from ``/api/render/proxy/<id>/download``.

A render still running after 10 polls is not submitted again: it may still finish, and a second
job would be charged and orphaned.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from .api import Api, RequestFactory
from .clock import Clock
from .console import Console, human_size
from .errors import ExportError, NemoClientError, NetworkError
from .models import RenderStatus

__all__ = ["Exporter"]

POLL_INTERVAL_SECONDS = 30.0
MAX_POLLS = 10
MAX_SUBMISSIONS = 2  # the first, and one more after a failure
FORMATS = ("mp4", "mp3")
_FAILED = frozenset({"failed", "error", "cancelled", "canceled"})
_CHUNK = 64 * 1024
_MB = 1024 * 1024


class Exporter:
    # The documents' limits as class attributes, so a variant of the client is a subclass that
    # changes one (see `client.NemoClient`).
    poll_interval: float = POLL_INTERVAL_SECONDS
    max_polls: int = MAX_POLLS
    max_submissions: int = MAX_SUBMISSIONS

    def __init__(self, api: Api, console: Console, clock: Clock) -> None:
        self.api = api
        self.console = console
        self.clock = clock
        self._last_id_ms = 0

    def render(self, session_id: str, draft: dict[str, Any], fmt: str) -> tuple[str, str | None]:
        """Render until completed; returns the render id and the download URL (if any)."""
        if fmt not in FORMATS:
            raise ExportError(f"Unknown export format {fmt!r}: use mp4 or mp3.")
        reason = None
        for submission in range(1, self.max_submissions + 1):
            render_id = self._new_id()
            status = self._submit(render_id, session_id, draft, fmt)
            if status not in _FAILED:
                result = self._poll(render_id)
                if result.status == "completed":
                    self.console.progress("Rendering… 100%")
                    return render_id, result.url
                reason = result.error
            if submission < self.max_submissions:
                self.console.warn("The render failed; trying once more…")
        detail = f" ({reason})" if reason else ""
        raise ExportError(
            f"The render failed twice{detail}. Try again later, or simplify the project first."
        )

    def download(self, render_id: str, url: str | None, dest: Path) -> Path:
        attempts: list[RequestFactory] = []
        if url:
            attempts.append(lambda: self.api.request("GET", url))
        attempts.append(lambda: self.api.request("GET", f"/api/render/proxy/{render_id}/download"))
        failure: NemoClientError | None = None
        for number, build in enumerate(attempts, start=1):
            try:
                return self._save(build, dest)
            except NemoClientError as error:
                failure = error
                if number < len(attempts):
                    self.console.warn("Download failed; trying NemoVideo's download endpoint…")
        raise ExportError(f"The render finished, but the file could not be downloaded: {failure}")

    def _new_id(self) -> str:
        # Milliseconds of the clock, bumped when a retry comes within the same millisecond.
        ms = max(int(self.clock.now() * 1000), self._last_id_ms + 1)
        self._last_id_ms = ms
        return f"render_{ms}"

    def _submit(self, render_id: str, session_id: str, draft: dict[str, Any], fmt: str) -> str:
        body = {
            "id": render_id,
            "sessionId": session_id,
            "draft": draft,
            "output": {"format": fmt, "quality": "high"},
        }
        answer = self.api.call(
            lambda: self.api.request("POST", "/api/render/proxy/lambda", json=body),
            envelope_required=False,
        )
        if answer.get("success") is False:
            return "failed"
        self.console.progress("Rendering… queued")
        status = answer.get("status")
        return status.lower() if isinstance(status, str) else "pending"

    def _poll(self, render_id: str) -> RenderStatus:
        status = RenderStatus(status="pending", progress=None, url=None, error=None)
        for _ in range(self.max_polls):
            self.clock.sleep(self.poll_interval)
            body = self.api.call(
                lambda: self.api.request("GET", f"/api/render/proxy/lambda/{render_id}"),
                envelope_required=False,
            )
            status = RenderStatus.parse(body)
            if status.status == "completed" or status.status in _FAILED:
                return status
            percent = f"{status.progress:.0f}%" if status.progress is not None else status.status
            self.console.progress(f"Rendering… {percent}")
        raise ExportError(
            f"The render is still not finished after {self.max_polls} checks "
            f"({self.max_polls * self.poll_interval / 60:.0f} minutes). It may still complete; "
            "run the export again later."
        )

    def _save(self, build: RequestFactory, dest: Path) -> Path:
        response = self.api.open_stream(build, accept=_is_file_response)
        partial = dest.with_name(dest.name + ".part")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            total = int(response.headers.get("content-length", "0") or 0)
            received = 0
            reported = -1
            with partial.open("wb") as handle:
                for chunk in response.iter_bytes(_CHUNK):
                    handle.write(chunk)
                    received += len(chunk)
                    step = received * 10 // total if total else received // (5 * _MB)
                    if step != reported:
                        reported = step
                        self.console.progress(f"Downloading… {_amount(received, total)}")
            if received == 0:
                raise ExportError(
                    "The download was empty. Run the export again; if the file is "
                    "empty again, the render itself went wrong."
                )
            os.replace(partial, dest)
        except httpx.TransportError as error:
            raise NetworkError(f"the download was interrupted ({type(error).__name__})") from None
        except OSError as error:
            raise ExportError(f"Cannot write {dest}: {error.strerror}") from None
        finally:
            response.close()
            partial.unlink(missing_ok=True)
        self.console.progress(f"Downloaded {_amount(received, 0)}")
        return dest


def _is_file_response(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "").lower()
    return response.is_success and "json" not in content_type


def _amount(received: int, total: int) -> str:
    if total:
        return f"{human_size(received)} of {human_size(total)} ({received * 100 // total}%)"
    return human_size(received)
