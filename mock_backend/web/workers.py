"""``nemo-mock serve --workers N``: N server processes on one port, one state.

The parent binds N listening sockets to the port (``SO_REUSEPORT``), puts the rules given at
start in Redis, starts N children (``spawn``: nothing of the parent's state is inherited), one
per socket, and waits; each child builds the app from the same `Settings` and serves its
socket. The kernel spreads new connections over the sockets by a hash of their addresses, so
the workers share them evenly even when one is busy (one socket that all accept from goes
mostly to whichever worker is idle at that instant: 200 connections in a row to one of two
workers was seen here). Every socket listens before the URL is printed, so no connection is
refused while the workers start.

What they must agree on lives in Redis (``--state redis://…``, required): records, credits
(frozen and settled by Lua, never oversold), id counts, the rules with their call counts
(`SharedScenarioBook`), the scripted session faults, the journal's finished entries and their
announcements, which each worker's live feed follows (`SharedJournal`), and the clock's moves
and holds (`ClockSync`). Their running clocks read alike: the parent fixes the clock's epoch
and the wall time it read it at (`Settings.clock_started_at`). Nothing of the control API stays
in one worker: any worker answers it for all.

A worker that dies ends the whole server (the others are stopped and the exit status is 1):
half a mock answering is worse than none. Ctrl-C or SIGTERM stops every worker gracefully.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import socket
import time

from ..settings import Settings

__all__ = ["serve_workers"]

STOP_SECONDS = 30.0  # each worker's graceful stop, then it is killed


def serve_workers(settings: Settings, socks: list[socket.socket], *, log_level: str) -> int:
    """Run one worker per socket of ``socks`` until interrupted; the exit status."""
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(
            target=_worker,
            args=(settings, sock, log_level),
            name=f"nemo-mock worker {n + 1}",
            daemon=False,
        )
        for n, sock in enumerate(socks)
    ]
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    previous = signal.signal(signal.SIGTERM, on_signal)
    status = 0
    try:
        for worker in workers:
            worker.start()
        with contextlib.suppress(KeyboardInterrupt):
            while not stop:
                dead = [w for w in workers if not w.is_alive()]
                if dead:
                    names = ", ".join(f"{w.name} (exit {w.exitcode})" for w in dead)
                    print(f"nemo-mock: {names} ended; stopping the others", flush=True)
                    status = 1
                    break
                time.sleep(0.2)
    finally:
        signal.signal(signal.SIGTERM, previous)
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    worker.terminate()  # SIGTERM: uvicorn ends its streams and drains
        deadline = time.monotonic() + STOP_SECONDS
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                worker.kill()
                worker.join()
    return status


def _worker(settings: Settings, sock: socket.socket, log_level: str) -> None:
    """One worker process: the app (its rules are in Redis already), uvicorn on the socket."""
    import gc

    from ..control.redact import redact_logs
    from .app import create_app
    from .server import DrainingServer, serve_config

    app = create_app(settings)
    gc.freeze()
    config = serve_config(app, log_level)
    redact_logs("uvicorn.access", "uvicorn.error", "nemo_mock")
    DrainingServer(config, app).run(sockets=[sock])
