"""Render jobs: a lifecycle on the mock's clock, and a real encode behind each one.

The lifecycle is decided at submit time by the clock and the seeded randomness alone:
`pending` until the job's start time, `processing` until its due time (30-90 s, seeded), then
`completed`; or `failed` at a time chosen at submit (a scripted or seeded failure, or a draft
the render engine refuses: `render_engine.check` runs at submit, so every refusal the engine
can foresee fails the job as it starts, with the engine's reason). Progress is the virtual
fraction of the processing span. Nothing ticks: the status is computed when asked, so a manual
clock moved by 60 s shows the job 60 s older. How fast the machine encodes never shows in the
lifecycle: on a loaded machine, or on a scaled clock (1000x), virtual time outruns the real
encode, and the job is still `completed` at its due time.

The real encode starts at submit, from a worker thread, in a child process
(`encoder_process.ProcessEngine`; ``Settings.encoder`` "thread" runs `render_engine.render` in
the thread itself, and a test may inject another engine). What needs its file waits for it, in
real time, bounded by the contract's ``info.x-limits.file_wait_seconds``, without blocking the
event loop:

- the downloads (the operation and the CDN URL) stream the file once it is written; an encode
  that failed (an engine bug, an I/O error) or that is still running when the wait runs out
  answers 409 as the envelope, saying which and what to do;
- ``output.size``, decision (a): the first poll that reports `completed` waits for the encode
  (its handler sends the headers at once and JSON whitespace meanwhile),
  so that ``size`` is the real file's. The contract's RenderOutput requires only ``url``, so
  the size could have been left out until known, but then the same requests would get
  different answers on a fast and on a loaded machine, and a seed and a request sequence give
  one answer here, byte for byte. Only when the encode failed, or outlasts the wait, is
  ``size`` left out (which RenderOutput allows). ``duration`` is the draft's length, known at
  submit (`render_engine.check`); the encoder's file lasts that long to within a frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from ..errors import ApiError
from ..openapi.envelope import FlatBody
from ..settings import Settings
from ..state.clock import Clock
from ..state.randomness import Randomness
from ..state.store import RenderRecord, SessionRecord, Store
from .encode_queue import EncodeQueue
from .encoder_process import ProcessEngine
from .render_jobs import CONTENT_TYPES, RenderError, RenderJob, RenderResult

__all__ = ["Engine", "Renders"]

SLOW_RENDER_SECONDS = (250.0, 290.0)  # slow, yet done within 10 polls 30 s apart
FINISHED = ("completed", "failed")
# an uploaded file's path, its id in it; under the prefix a namespace's URLs carry (namespaces.py)
_CDN_PATH = re.compile(r"(?:/__ns/[^/]+)?/cdn/([^/]+)/")

# the render engine's signature: the job, and a progress callback that may raise to stop it
Engine = Callable[[RenderJob, Callable[[float], None]], RenderResult]


def _encode_in_thread(
    job: RenderJob, progress: Callable[[float], None] | None = None
) -> RenderResult:
    """``Settings.encoder`` "thread": `render_engine.render` in the server's own process."""
    from .render_engine import render  # the media stack loads on first use

    return render(job, progress)


class _Stopped(Exception):
    """Raised from the progress callback to stop an encode whose job was cancelled or reset."""


class Renders:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        rng: Randomness,
        settings: Settings,
        folder: Path,
        *,
        next_id: Callable[..., int],
        engine: Engine | None = None,
        wait_seconds: float = 100.0,
    ) -> None:
        self.store = store
        self._next_id = next_id  # Backend.next_id: counted in the store
        self.clock = clock
        self.rng = rng
        self.settings = settings
        self.folder = folder
        if engine is None:
            engine = ProcessEngine() if settings.encoder == "process" else _encode_in_thread
        self.engine = engine  # replaceable, so tests can hold back or break the encoder
        self.wait_seconds = wait_seconds  # info.x-limits.file_wait_seconds; tests may shorten it
        self._queue = EncodeQueue(settings.render_workers)
        # encodes whose outcome no request has noted on its record yet
        self._encodes: dict[str, Future[RenderResult]] = {}
        # cancelled renders whose encode runs here: the encoder's thread reads this, not the
        # record (a store hands out copies, and it is not to be read from a thread per frame)
        self._cancelled: set[str] = set()
        self._generation = 0  # bumped by reset and close: older encodes stop

    # -- submitting ------------------------------------------------------------------------

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
        # keyed by the session's submission count (in the store: every process counts on from
        # the same number), not the client-chosen id (render_<ms> varies from run to run): the
        # same requests give the same render lengths
        submitted = self._next_id("render", session.session_id)
        rng = self.rng.fresh("render", session.session_id, submitted)
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
            record.fail_at = record.starts_at + rng.uniform(0.2, 0.8) * (
                record.due_at - record.starts_at
            )
        job = self.job(record)
        if record.fail_reason is None:
            try:
                with self.clock.held():  # reading the media is real work: time waits
                    from .render_engine import check  # the media stack loads on first use

                    record.duration = check(job).duration
            except RenderError as exc:
                # refused as the job starts, as a render node would: decided now, so a job
                # never reports `completed` and then has no file
                record.fail_reason = str(exc)
                record.fail_at = record.starts_at
            else:
                record.out_path = job.out_path
        self.store.put_render(record)
        if record.out_path is not None:
            self._start(record, job)
        return record

    def job(self, record: RenderRecord) -> RenderJob:
        """What the render engine gets for ``record``: its draft, the session's uploaded files
        behind the draft's URLs, and where the file goes."""
        media: dict[str, Path] = {}
        session = self.store.get_session(record.session_id)
        # only this session's own uploads: another user's cdn_url must not be renderable
        own = {u.file_id for u in session.uploads} if session is not None else set()
        for track in record.draft.get("t", []):
            for segment in track.get("sg", []) if isinstance(track, dict) else []:
                src = (segment.get("m") or {}).get("src") if isinstance(segment, dict) else None
                if isinstance(src, str) and (path := self._local(src, own)) is not None:
                    media[src] = path
        fmt: Literal["mp4", "mp3"] = "mp3" if record.output_format == "mp3" else "mp4"
        return RenderJob(
            draft=record.draft,
            media=media,
            output_format=fmt,
            out_path=self.folder / record.render_id / f"output.{fmt}",
            quality=record.quality,
        )

    def _local(self, src: str, own: set[str]) -> Path | None:
        # /cdn/{file_id}/{name}, or /__ns/{namespace}/cdn/... as a namespace hands it out
        found = _CDN_PATH.match(urlsplit(src).path)
        if found is not None and found[1] in own:
            upload = self.store.find_upload(found[1])
            if upload is not None and upload.path is not None:
                return upload.path
        return None

    def _start(self, record: RenderRecord, job: RenderJob) -> None:
        generation = self._generation

        render_id = record.render_id

        def progress(_: float) -> None:
            # read from the encoder's thread: one lookup each, so no lock is needed
            if render_id in self._cancelled or generation != self._generation:
                raise _Stopped(render_id)  # the engine removes its partial file

        job.out_path.parent.mkdir(parents=True, exist_ok=True)
        future = self._queue.submit(record.render_id, self.engine, job, progress)
        self._encodes[record.render_id] = future
        # the outcome is noted in the store as soon as the encode ends, not only when a request
        # here asks: a mock's other processes (--workers) read it from there
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # submitted outside an event loop (a test): noted when asked
            return

        def ended(_: Future[RenderResult]) -> None:  # in the encoder's thread
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(self._note, render_id, future)

        future.add_done_callback(ended)

    # -- the lifecycle: the clock alone ------------------------------------------------------

    def status(self, record: RenderRecord) -> tuple[str, int, str | None]:
        """(status, progress 0-100, error) at the current virtual time."""
        now = self.clock.now()
        if record.cancelled_at is not None:
            return "failed", _progress(record, record.cancelled_at), "cancelled"
        if record.fail_at is not None and now >= record.fail_at:
            return "failed", _progress(record, record.fail_at), record.fail_reason
        if now < record.starts_at:
            return "pending", 0, None
        if now >= record.due_at:
            return "completed", 100, None
        return "processing", _progress(record, now), None

    def cancel(self, record: RenderRecord) -> None:
        status, _, _ = self.status(record)
        if status in FINISHED:
            raise ApiError(
                409,
                f"render {record.render_id} already {status}; nothing to cancel",
                data={"status": status},
            )
        record.cancelled_at = self.clock.now()
        self.store.put_render(record)
        self._cancelled.add(record.render_id)
        future = self._encodes.pop(record.render_id, None)
        if future is not None:
            future.cancel()  # a queued encode never starts; a running one stops (progress)

    def view(self, record: RenderRecord, base_url: str) -> FlatBody:
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
                "size": record.size,
                "format": record.output_format,
            }
            if record.size is None:  # the encode failed or outlasted the wait (see above)
                del output["size"]
        finished = _finished_at(record, status)
        return FlatBody(
            {
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
        )

    # -- the file: real work, waited for ---------------------------------------------------

    def encoding(self, record: RenderRecord) -> bool:
        """A completed job whose file is still being written (virtual time ran ahead of it)."""
        future = self._encodes.get(record.render_id)
        return future is not None and not future.done() and self.status(record)[0] == "completed"

    async def settle(self, record: RenderRecord) -> None:
        """For a completed job: wait (bounded) for its encode and note the outcome, so that the
        answer carries the file's real size. Other jobs are answered at once."""
        status, _, _ = self.status(record)
        if status != "completed":
            return
        future = self._encodes.get(record.render_id)
        if future is None:
            if record.size is None and record.engine_error is None:
                await self._noted_elsewhere(record)
            return  # noted already
        self._queue.hurry(record.render_id)  # somebody waits for this one: it goes next
        # virtual time stops while the file is written: it must never outrun real work
        with self.clock.held(), contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.wait_seconds):
                await _done(future)
        if not future.done():
            return  # still encoding: answered without a size; a later request notes it
        noted = self._note(record.render_id, future)
        if noted is not None:
            record.size, record.engine_error = noted.size, noted.engine_error
        else:  # noted already, by the callback or another request: read back what it wrote
            found = self.store.get_render(record.render_id)
            if found is not None:
                record.size, record.engine_error = found.size, found.engine_error

    def _note(self, render_id: str, future: Future[RenderResult]) -> RenderRecord | None:
        """Write an ended encode's outcome (the file's size, or why it failed) to the store,
        once: the record written, or None if it was noted already or belongs to a reset."""
        if self._encodes.get(render_id) is not future:
            return None
        del self._encodes[render_id]
        record = self.store.get_render(render_id)
        if record is None:
            return None
        if future.cancelled():
            record.engine_error = "the encode was stopped"
        elif (exc := future.exception()) is None:
            record.size = future.result().size
        elif isinstance(exc, RenderError):  # a refusal `check` could not foresee
            record.engine_error = str(exc)
        else:  # an engine bug or an I/O error: the job must still answer, never a 500
            # an OSError's text without its file name: the message reaches clients, paths must not
            why = getattr(exc, "strerror", None) or str(exc)
            record.engine_error = f"{type(exc).__name__}: {why}"
        self.store.put_render(record)
        return record

    async def _noted_elsewhere(self, record: RenderRecord) -> None:
        """A completed job with no outcome and no encode here: another process of this mock
        (--workers) encodes it. Wait, bounded, for it to note the outcome in the store."""
        with self.clock.held(), contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.wait_seconds):
                while True:
                    found = self.store.get_render(record.render_id)
                    if found is None or found.size is not None or found.engine_error is not None:
                        break
                    await asyncio.sleep(0.05)
                record.size = found.size if found else None
                record.engine_error = found.engine_error if found else None

    async def output_file(self, record: RenderRecord) -> tuple[Path, str]:
        """The finished file of a completed job, waited for; else the 409 envelope."""
        status, progress, error = self.status(record)
        if status != "completed" or record.out_path is None:
            detail = f"{status} ({progress}%)" if status != "failed" else f"failed: {error}"
            raise ApiError(
                409,
                f"render {record.render_id} is {detail}; poll until completed",
                data={"status": status},
            )
        await self.settle(record)
        if record.engine_error is not None:
            raise ApiError(
                409,
                f"the render's encoding failed: {record.engine_error}; submit the render again "
                "with a new id",
                data={"status": status, "reason": "encoding-failed"},
            )
        if record.size is None:
            raise ApiError(
                409,
                f"render {record.render_id} is completed but its file is still being written "
                f"after {self.wait_seconds:g} s; retry the download in a minute",
                data={"status": status, "reason": "encoding"},
            )
        return record.out_path, CONTENT_TYPES.get(record.output_format, "application/octet-stream")

    # -- lifetime --------------------------------------------------------------------------

    def reset(self) -> None:
        self._generation += 1  # running encodes stop at their next progress report
        for future in self._encodes.values():
            future.cancel()
        self._encodes.clear()
        self._cancelled.clear()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        self._generation += 1  # else the interpreter's exit would wait for a long encode
        self._queue.shutdown()


def _progress(record: RenderRecord, at: float) -> int:
    """Percent of the processing span behind at virtual time ``at``; below 100 until due."""
    if at <= record.starts_at:
        return 0
    span = max(record.due_at - record.starts_at, 1e-9)
    return min(99, int((at - record.starts_at) / span * 100))


def _finished_at(record: RenderRecord, status: str) -> float | None:
    if status == "completed":
        return record.due_at
    if status != "failed":
        return None
    if record.cancelled_at is not None:
        return record.cancelled_at
    return record.fail_at


async def _done(future: Future[Any]) -> None:
    """Until ``future`` is done, letting the event loop run meanwhile.

    Not `asyncio.wrap_future`: cancelling its wrapper (a client that hangs up while waiting, a
    timeout) would cancel a queued encode too, and a wrapper left behind would later be completed
    on a loop that may have closed.
    """
    if future.done():
        return
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def wake(_: Future[Any]) -> None:  # runs in the encoder's thread, or in a canceller's
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            loop.call_soon_threadsafe(done.set)

    future.add_done_callback(wake)
    await done.wait()
