"""Render jobs: their lifecycle on the mock's clock, and the real encoding behind them.

A job's status is a function of virtual time and of the real render running in a worker
thread: `pending` until its start time, `processing` while virtual time has not reached its
due time (30-90 s, seeded) or the encoder has not finished, then `completed` (or `failed`).
Progress is the smaller of the virtual and the real fraction, and never falls. Nothing ticks:
the status is computed when asked, so a manual clock moved by 60 s shows the job 60 s older.
"""

from __future__ import annotations

import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from .clock import Clock
from .errors import ApiError
from .randomness import Randomness
from .render_engine import RenderError, RenderJob, render
from .settings import Settings
from .store import RenderRecord, SessionRecord, Store

__all__ = ["Renders", "draft_is_ready"]

CONTENT_TYPES = {"mp4": "video/mp4", "mp3": "audio/mpeg"}
SLOW_RENDER_SECONDS = (250.0, 290.0)  # slow, yet done within 10 polls 30 s apart


class _Cancelled(Exception):
    """Raised from the progress callback to stop an encode whose job was cancelled."""


def draft_is_ready(draft: Any) -> bool:
    """Ready for export: a track with a non-empty ``sg`` (v1.9)."""
    tracks = draft.get("t") if isinstance(draft, dict) else None
    return isinstance(tracks, list) and any(
        isinstance(t, dict) and isinstance(t.get("sg"), list) and t["sg"] for t in tracks
    )


class Renders:
    def __init__(
        self, store: Store, clock: Clock, rng: Randomness, settings: Settings, folder: Path
    ) -> None:
        self.store = store
        self.clock = clock
        self.rng = rng
        self.settings = settings
        self.folder = folder
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, settings.render_workers), thread_name_prefix="nemo-render"
        )
        self._futures: dict[str, Future[None]] = {}
        self._submitted: dict[str, int] = {}

    def submit(
        self,
        render_id: str,
        session: SessionRecord,
        draft: dict[str, Any],
        output_format: str,
        quality: str,
        *,
        slow: bool = False,
        fail: bool = False,
        lose: bool = False,
        break_url: bool = False,
    ) -> RenderRecord:
        if self.store.get_render(render_id) is not None:
            raise ApiError(
                409,
                f"render id {render_id} is already used; submit with a new id",
                data={"field": "body.id"},
            )
        if not draft_is_ready(draft):
            raise ApiError(
                422,
                "body.draft: the draft has no track with segments; ask the agent to build a "
                "timeline first",
                data={"field": "body.draft.t", "rule": "ready-for-export"},
            )
        # keyed by the session's submission count, not the client-chosen id (render_<ms> varies
        # from run to run): the same requests give the same render lengths
        self._submitted[session.session_id] = self._submitted.get(session.session_id, 0) + 1
        rng = self.rng.stream("render", session.session_id, self._submitted[session.session_id])
        now = self.clock.now()
        pending = rng.uniform(*self.settings.render_pending_seconds)
        total = rng.uniform(*(SLOW_RENDER_SECONDS if slow else self.settings.render_seconds))
        record = RenderRecord(
            render_id=render_id,
            user_id=session.user_id,
            session_id=session.session_id,
            draft=draft,
            output_format=output_format,
            quality=quality,
            created_at=now,
            starts_at=now + pending,
            due_at=now + max(total, pending + 1.0),
        )
        if lose:
            record.vanish_at = now + pending
        record.output_url_broken = break_url
        if fail or rng.random() < self.settings.render_failure_rate:
            record.fail_reason = "render node lost; submit again with a new id"
        if record.fail_reason is not None:
            record.fail_at = record.starts_at + rng.uniform(0.2, 0.8) * (
                record.due_at - record.starts_at
            )
        self.store.put_render(record)
        if record.fail_reason is None:
            self._start(record)
        return record

    def _start(self, record: RenderRecord) -> None:
        media: dict[str, Path] = {}
        for track in record.draft.get("t", []):
            for segment in track.get("sg", []) if isinstance(track, dict) else []:
                src = (segment.get("m") or {}).get("src") if isinstance(segment, dict) else None
                if isinstance(src, str) and (path := self._local(src)) is not None:
                    media[src] = path
        out_dir = self.folder / record.render_id
        out_dir.mkdir(parents=True, exist_ok=True)
        fmt: Literal["mp4", "mp3"] = "mp3" if record.output_format == "mp3" else "mp4"
        job = RenderJob(
            draft=record.draft,
            media=media,
            output_format=fmt,
            out_path=out_dir / f"output.{fmt}",
            quality=record.quality,
        )

        def progress(fraction: float) -> None:
            if record.cancelled_at is not None:  # the engine aborts and removes its partial file
                raise _Cancelled(record.render_id)
            record.engine_progress = max(record.engine_progress, min(1.0, fraction))

        def work() -> None:
            try:
                result = render(job, progress)
            except _Cancelled:
                record.engine_error = "cancelled"
            except RenderError as exc:
                record.engine_error = str(exc)
            except Exception as exc:  # an engine bug must fail the job, not vanish in a thread
                record.engine_error = f"render engine failed: {type(exc).__name__}: {exc}"
            else:
                record.out_path = result.path
                record.size = result.size
                record.duration = result.duration
                record.engine_progress = 1.0
            record.engine_done = True

        self._futures[record.render_id] = self._pool.submit(work)

    def _local(self, src: str) -> Path | None:
        parts = urlsplit(src).path.split("/")
        if len(parts) >= 3 and parts[1] == "cdn":
            upload = self.store.find_upload(parts[2])
            if upload is not None and upload.path is not None:
                return upload.path
        return None

    def cancel(self, record: RenderRecord) -> None:
        status, _, _ = self.status(record)
        if status in ("completed", "failed"):
            raise ApiError(
                409,
                f"render {record.render_id} already {status}; nothing to cancel",
                data={"status": status},
            )
        record.cancelled_at = self.clock.now()
        record.finished_at = record.cancelled_at
        future = self._futures.pop(record.render_id, None)
        if future is not None:
            future.cancel()

    def status(self, record: RenderRecord) -> tuple[str, int, str | None]:
        """(status, progress 0-100, error) at the current virtual time."""
        now = self.clock.now()
        if record.cancelled_at is not None:
            return "failed", record.last_progress, "cancelled"
        if record.fail_at is not None and now >= record.fail_at:
            record.finished_at = record.finished_at or record.fail_at
            return "failed", record.last_progress, record.fail_reason
        if now < record.starts_at:
            return "pending", 0, None
        if record.engine_done and record.engine_error is not None:
            record.finished_at = record.finished_at or now
            return "failed", record.last_progress, record.engine_error
        span = max(record.due_at - record.starts_at, 1e-9)
        virtual = min(1.0, (now - record.starts_at) / span)
        if virtual >= 1.0 and record.engine_done:
            record.finished_at = record.finished_at or max(record.due_at, record.created_at)
            record.last_progress = 100
            return "completed", 100, None
        fraction = virtual
        if record.fail_at is None:
            fraction = min(virtual, record.engine_progress)
        progress = max(record.last_progress, min(99, int(fraction * 100)))
        record.last_progress = progress
        return "processing", progress, None

    def view(self, record: RenderRecord, base_url: str) -> dict[str, Any]:
        """The job in both documented shapes at once (see RenderJob in openapi.yaml)."""
        status, progress, error = self.status(record)
        url = None
        output = None
        if status == "completed" and record.out_path is not None:
            name = record.out_path.name
            if record.output_url_broken:
                name = "expired-" + name  # the CDN answers 404: a client must fall back
            url = f"{base_url}/cdn/renders/{record.render_id}/{name}"
            output = {
                "url": url,
                "duration": round(record.duration or 0.0, 3),
                "size": record.size or 0,
                "format": record.output_format,
            }
        finished = record.finished_at if status in ("completed", "failed") else None
        return {
            "code": 0,
            "message": "ok",
            "success": status != "failed",
            "id": record.render_id,
            "status": status,
            "progress": progress,
            "output": output,
            "error": error,
            "data": {
                "id": record.render_id,
                "status": status,
                "progress": progress,
                "outputUrl": url,
                "createdAt": int(record.created_at * 1000),
                "completedAt": None if finished is None else int(finished * 1000),
            },
        }

    def output_file(self, record: RenderRecord) -> tuple[Path, str]:
        status, progress, error = self.status(record)
        if status != "completed" or record.out_path is None:
            detail = f"{status} ({progress}%)" if status != "failed" else f"failed: {error}"
            raise ApiError(
                409,
                f"render {record.render_id} is {detail}; poll until completed",
                data={"status": status},
            )
        return record.out_path, CONTENT_TYPES.get(record.output_format, "application/octet-stream")

    def reset(self) -> None:
        for future in self._futures.values():
            future.cancel()
        self._futures.clear()
        self._submitted.clear()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
