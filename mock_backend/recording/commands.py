"""The ``nemo-mock record`` command and ``nemo-mock serve --replay``: the CLI's glue to
`proxy` and `replay` (argument checks, the listening socket, uvicorn)."""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
from typing import Any

from ..cli import listen
from ..control.redact import redact_logs
from ..state.clock import Clock

__all__ = ["record", "replay"]


def _run(app: Any, sock: socket.socket, log_level: str) -> None:
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, lifespan="on")
    redact_logs("uvicorn.access", "uvicorn.error", "nemo_mock")
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])


def _url(host: str, sock: socket.socket) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{sock.getsockname()[1]}"


def record(args: argparse.Namespace, clock: Clock) -> int:
    from urllib.parse import urlsplit

    from .proxy import create_recorder

    upstream = str(args.upstream).rstrip("/")
    parts = urlsplit(upstream)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        print(
            f"nemo-mock: --upstream {upstream!r}: expected an http(s) URL such as "
            "https://mega-api-prod.nemovideo.ai",
            file=sys.stderr,
        )
        return 2
    try:
        app = create_recorder(
            upstream, args.out, clock=clock, clock_name=args.clock, keep_media=args.keep_media
        )
    except OSError as exc:
        print(f"nemo-mock: cannot write the recording in {args.out}: {exc}", file=sys.stderr)
        return 2
    sock = listen(args.host, args.port)
    if sock is None:
        return 1
    media = "media kept" if args.keep_media else "media as sha256 + size"
    print(
        f"nemo-mock recording at {_url(args.host, sock)} → {upstream} into {args.out} "
        f"(clock {args.clock}, {media}); Ctrl-C stops it",
        flush=True,
    )
    _run(app, sock, args.log_level)
    return 0


def replay(args: argparse.Namespace, clock: Clock) -> int:
    from .cassette import CassetteError, load_recording
    from .replay import create_replayer

    if args.scenario or args.rules:
        print(
            "nemo-mock: --replay serves a recording as it was; --scenario and --rules "
            "do not apply to it (drop them, or serve the mock without --replay)",
            file=sys.stderr,
        )
        return 2
    try:
        recording = load_recording(args.replay)
    except CassetteError as exc:
        print(f"nemo-mock: {exc}", file=sys.stderr)
        return 2
    sock = listen(args.host, args.port)
    if sock is None:
        return 1
    count = sum(len(e) for e in recording.sessions.values())
    print(
        f"nemo-mock replaying {args.replay} ({count} exchanges, {len(recording.sessions)} "
        f"sessions) at {_url(args.host, sock)} (clock {args.clock}); Ctrl-C stops it",
        flush=True,
    )
    _run(create_replayer(recording, clock=clock), sock, args.log_level)
    return 0
