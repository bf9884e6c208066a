"""Encoding in a child process, so real work never starves the server that answers clients.

An encode is seconds of CPU (numpy frames, PyAV). In a thread of the server it holds the GIL
for most of that time, and on a busy machine the event loop then answers a render poll a tenth
of a second late or more: a client on a sped-up clock (faketime at 1000x, whose read timeouts
are 0.12 s of wall time) gives up there. In its own process, at a lower CPU priority, the
encode competes with nobody's GIL, and the server's short answers get a core first.

`ProcessEngine` has the render engine's signature (a job and a progress callback that may
raise to stop it) and is run by `Renders` in a worker thread, as the in-thread engine is. The
child is forked from multiprocessing's fork server, which has imported the media stack once,
so an encode starts in milliseconds and never inherits the server's threads. The parent relays
the child's progress to the callback and calls it between reports too, so a cancel or a reset
stops the child within one poll; a child that does not stop is killed and its partial file
removed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from .render_jobs import RenderError, RenderJob, RenderResult

__all__ = ["ProcessEngine"]

# imported once by the fork server, not per encode
PRELOAD = ["mock_backend.rendering.render_engine"]
NICENESS = 10  # below the server and its clients: their short answers get a core first
POLL_SECONDS = 0.05  # how often a waiting parent checks whether the job was cancelled
STOP_GRACE_SECONDS = 2.0  # how long a child gets to stop by itself before it is killed


class _StopRequested(Exception):
    """Raised inside the child when its parent asks it to stop."""


class ProcessEngine:
    """The render engine run in a child process (see the module's docstring)."""

    def __init__(self, *, niceness: int = NICENESS) -> None:
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)
        self._niceness = niceness

    def __call__(self, job: RenderJob, progress: Callable[[float], None]) -> RenderResult:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_encode, args=(job, child, self._niceness), name="nemo-encode", daemon=True
        )
        process.start()
        child.close()  # the child's end lives in the child only: its exit shows here as EOF
        try:
            return self._relay(parent, process, progress)
        except BaseException:
            _stop(parent, process, job)
            raise
        finally:
            parent.close()
            process.join(STOP_GRACE_SECONDS)

    @staticmethod
    def _relay(parent: Connection, process: Any, progress: Callable[[float], None]) -> RenderResult:
        last = 0.0
        while True:
            if not parent.poll(POLL_SECONDS):
                progress(last)  # nothing new: still lets a cancel or a reset stop the encode
                continue
            try:
                kind, value = parent.recv()
            except EOFError:
                process.join(STOP_GRACE_SECONDS)
                raise RenderError(
                    "the encoder process ended without an answer "
                    f"(exit code {process.exitcode}); submit the render again"
                ) from None
            if kind == "progress":
                last = float(value)
                progress(last)
            elif kind == "done":
                result: RenderResult = value
                return result
            else:  # "error": the child's exception, as raised there
                raise value


def _stop(parent: Connection, process: Any, job: RenderJob) -> None:
    """Ask the child to stop, kill it if it does not, and remove what it left half-written."""
    with contextlib.suppress(OSError):
        parent.send("stop")
    process.join(STOP_GRACE_SECONDS)
    if process.is_alive():
        process.kill()
        process.join(STOP_GRACE_SECONDS)
    out = job.out_path
    for partial in out.parent.glob(f".{out.name}.*.part"):
        partial.unlink(missing_ok=True)


def _encode(job: RenderJob, conn: Connection, niceness: int) -> None:
    """The child: render, reporting progress and stopping when asked."""
    with contextlib.suppress(OSError):
        os.nice(niceness)

    def report(fraction: float) -> None:
        if conn.poll() and conn.recv() == "stop":
            raise _StopRequested
        conn.send(("progress", fraction))

    from .render_engine import render  # preloaded by the fork server: no cost per encode

    try:
        result = render(job, report)
    except _StopRequested:
        return  # the render removed its partial file; the parent no longer listens
    except BaseException as exc:  # the parent raises it in its thread, as an in-thread engine
        _send(conn, ("error", _picklable(exc)))
    else:
        _send(conn, ("done", result))
    finally:
        conn.close()


def _send(conn: Connection, message: tuple[str, object]) -> None:
    with contextlib.suppress(OSError):  # the parent stopped listening (cancelled, closed)
        conn.send(message)


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RenderError(f"{type(exc).__name__}: {exc}")
    return exc
