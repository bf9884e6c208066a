"""``nemo-mock``: run the offline NemoVideo backend."""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import shutil
import socket
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from .control.redact import redact_logs
from .errors import ApiError
from .settings import Settings
from .state.clock import ClockError, parse_clock
from .web.server import DrainingServer, serve_config

__all__ = ["build_parser", "main"]

EPILOG = """\
examples:
  nemo-mock serve                              # real time, seed 0, on http://127.0.0.1:8000
  nemo-mock serve --clock scaled:100 --seed 7  # 100x faster: a 30 s render poll takes 0.3 s
  nemo-mock serve --clock manual               # time moves only via POST /__mock/clock
  nemo-mock serve --error-status rest          # 1001→401, 1002→404, 2001→403, 4001→415, 4002→413
  nemo-mock serve --state redis://127.0.0.1:6379/0   # the records in Redis (see --state)
  nemo-mock record --upstream https://mega-api-prod.nemovideo.ai --out rec/   # record a backend
  nemo-mock serve --replay rec/ --clock scaled:100   # serve a recording back, 100x faster

point a client at it:
  NEMO_API_URL=http://127.0.0.1:8000 nemo-client credits

control API (loopback only unless an admin token is set: $NEMO_MOCK_ADMIN_TOKEN,
--admin-token-file or --admin-token): POST /__mock/reset, GET|POST /__mock/clock,
POST /__mock/tokens, POST /__mock/sessions/<sid>/faults. The contract: GET /openapi.yaml.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nemo-mock",
        description="An offline twin of the NemoVideo cloud backend: tokens, credits, sessions, "
        "uploads, the agent's SSE stream and renders, on a virtual clock, deterministic by seed.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="serve the mock backend over HTTP",
        description="Serve the mock backend over HTTP until interrupted (Ctrl-C).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port", type=int, default=8000, help="port; 0 picks a free one (default: %(default)s)"
    )
    serve.add_argument(
        "--seed", type=int, default=0, help="seed of every random choice (default: %(default)s)"
    )
    serve.add_argument(
        "--clock",
        default="real",
        help="real, scaled:N (N times faster) or manual (moves only when told); "
        "default: %(default)s",
    )
    serve.add_argument(
        "--error-status",
        choices=["http200", "rest"],
        default="http200",
        help="HTTP status of business codes 1001-4002: 200 (default) or the REST mapping",
    )
    serve.add_argument(
        "--state",
        default="memory",
        metavar="memory|redis://HOST:PORT/DB",
        help="where users, credits, tokens, rate limits, sessions, uploads' records and renders "
        "live: in this process (default), or in a Redis server, under keys nemo:default:*, "
        "where the credits are frozen and settled atomically (Lua) and ids are counted "
        "(processes sharing it never mint the same id), and the rules and journal are kept; "
        "emptied at start. The clock, the draws of agent runs and the files stay in this "
        "process (files: --data-dir)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="server processes sharing the port (default: %(default)s). More than one needs "
        "--state redis://... (their shared state: records, credits, rules, journal and its "
        "live feed, a manual clock's moves)",
    )
    serve.add_argument(
        "--max-namespaces",
        type=int,
        default=100,
        metavar="N",
        help="namespaces (X-Mock-Namespace, /__ns/NAME/) open at once (default: %(default)s)",
    )
    serve.add_argument(
        "--namespace-idle",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="close a namespace after this many real seconds without a request and with no run "
        "going on (default: %(default)s)",
    )
    serve.add_argument(
        "--data-dir",
        type=Path,
        help="where uploads and renders are kept (default: a temporary folder)",
    )
    serve.add_argument(
        "--max-upload-mb",
        type=int,
        default=500,
        help="upload size limit in MB (default: %(default)s)",
    )
    serve.add_argument(
        "--heartbeat",
        type=float,
        default=15.0,
        help="virtual seconds between SSE heartbeats (default: %(default)s)",
    )
    serve.add_argument(
        "--event-shape",
        choices=["adk", "legacy"],
        default="adk",
        help="SSE event JSON shape (default: %(default)s)",
    )
    serve.add_argument(
        "--admin-token",
        help="require this X-Mock-Admin-Token on /__mock/* (then reachable off loopback); "
        "visible to anyone running ps: prefer --admin-token-file or $NEMO_MOCK_ADMIN_TOKEN",
    )
    serve.add_argument(
        "--admin-token-file",
        type=Path,
        metavar="FILE",
        help="read the admin token from FILE (its first line)",
    )
    serve.add_argument(
        "--encoder",
        choices=["process", "thread"],
        default="process",
        help="where renders are encoded: a child process each, at a lower CPU priority "
        "(default: the server's answers never wait for an encode), or a thread of the server",
    )
    serve.add_argument(
        "--tokens-per-ip",
        type=int,
        default=10,
        help="new anonymous tokens per IP per 7 days (default: %(default)s)",
    )
    serve.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME",
        help="apply a named scenario to every caller (repeatable; see `nemo-mock scenarios`)",
    )
    serve.add_argument(
        "--rules",
        type=Path,
        metavar="FILE",
        help="YAML or JSON file: a list of scenario/rule requests as POST /__mock/scenarios takes",
    )
    serve.add_argument(
        "--replay",
        type=Path,
        metavar="DIR",
        help="serve a recording made by `nemo-mock record` instead of the mock: each call gets "
        "the recorded answer of the same operation, in order within its session, and event "
        "streams keep their recorded gaps on --clock; an unmatched call gets the error "
        "envelope naming the nearest recorded exchange",
    )
    serve.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    record = sub.add_parser(
        "record",
        help="record a backend through a proxy",
        description=textwrap.fill(
            "A recording proxy: point a client at it instead of the backend. Every call is "
            "forwarded to --upstream (uploads, downloads and /run_sse streamed through as they "
            "come, each event's arrival time kept) and written to --out, one YAML file per "
            "session, with bearer and claim tokens, cookies and secrets in URLs and JSON "
            "replaced before anything reaches the disk. Media bodies are kept as sha256 and "
            "size unless --keep-media. Then: `nemo-contract drift --recording DIR` and "
            "`nemo-mock serve --replay DIR`.",
            width=88,
            break_on_hyphens=False,
        ),
        epilog="example:\n  nemo-mock record --upstream https://mega-api-prod.nemovideo.ai "
        "--out rec/ &\n  NEMO_API_URL=http://127.0.0.1:8010 nemo-client convert song.mp3 "
        "--out song.mp4",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    record.add_argument("--upstream", required=True, metavar="URL", help="the backend to record")
    record.add_argument("--out", required=True, type=Path, metavar="DIR", help="where to write")
    record.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    record.add_argument(
        "--port", type=int, default=8010, help="port; 0 picks a free one (default: %(default)s)"
    )
    record.add_argument(
        "--keep-media",
        action="store_true",
        help="also keep media bodies (uploads, downloads) under DIR/media, so that a replay "
        "can serve the files; by default only their sha256 and size are written",
    )
    record.add_argument(
        "--clock",
        default="real",
        help="the upstream's clock, when it is a nemo-mock on scaled:N: times are then recorded "
        "in its virtual seconds (default: %(default)s)",
    )
    record.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    sub.add_parser(
        "scenarios",
        help="list the named scenarios",
        description="List the named scenarios: one per documented edge case.",
    )
    return parser


def load_rules(path: Path) -> list[dict[str, Any]]:
    """A rules file: a list (or one) of {name|rule|rules, scope?, match?, times?} objects."""
    import yaml  # on first use: a start without rules reads no YAML at all

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not YAML: {exc}") from None
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(item, dict) for item in items):
        raise ValueError(f"{path}: expected a list of objects")
    return items


ADMIN_TOKEN_ENV = "NEMO_MOCK_ADMIN_TOKEN"


def admin_token(args: argparse.Namespace) -> str | None:
    """--admin-token, else the first line of --admin-token-file, else $NEMO_MOCK_ADMIN_TOKEN."""
    if args.admin_token:
        return str(args.admin_token)
    if args.admin_token_file:
        lines = args.admin_token_file.read_text(encoding="utf-8").splitlines()
        token = lines[0].strip() if lines else ""
        if not token:
            raise ValueError(f"{args.admin_token_file} is empty; write the admin token in it")
        return token
    return os.environ.get(ADMIN_TOKEN_ENV) or None


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(
        seed=args.seed,
        clock=args.clock,
        error_status=args.error_status,
        data_dir=args.data_dir,
        max_upload_bytes=args.max_upload_mb * 1024 * 1024,
        heartbeat_every=args.heartbeat,
        event_shape=args.event_shape,
        admin_token=admin_token(args),
        tokens_per_ip=args.tokens_per_ip,
        encoder=args.encoder,
        state=args.state,
        workers=args.workers,
        max_namespaces=args.max_namespaces,
        namespace_idle=args.namespace_idle,
    )


def _workers_problem(args: argparse.Namespace) -> str | None:
    """Why ``--workers`` cannot be served as asked, and what to do; None when it can."""
    if args.workers < 1:
        return f"--workers {args.workers}: at least 1"
    if args.workers == 1:
        return None
    if args.state == "memory":
        return (
            f"--workers {args.workers} needs --state redis://HOST:PORT/DB: in memory each "
            "worker would keep its own tokens, credits and sessions"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "scenarios":
        from .control.scenarios import CATALOGUE

        width = max(len(name) for name in CATALOGUE)
        for scenario in CATALOGUE.values():
            print(f"{scenario.name:<{width}}  {scenario.description}")
        return 0
    try:
        clock = parse_clock(args.clock)
    except ClockError as exc:
        print(f"nemo-mock: {exc}", file=sys.stderr)
        return 2
    if args.command == "record":
        from .recording.commands import record

        return record(args, clock)
    if args.replay is not None:
        from .recording.commands import replay

        return replay(args, clock)
    try:
        settings = settings_from(args)
    except (OSError, ValueError) as exc:
        print(f"nemo-mock: cannot read the admin token: {exc}", file=sys.stderr)
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1") and not settings.admin_token:
        print(
            f"nemo-mock: note: listening on {args.host}; the control API still answers only "
            f"loopback callers (set ${ADMIN_TOKEN_ENV} or --admin-token-file to reach it from "
            "elsewhere)",
            file=sys.stderr,
        )

    from .web.app import create_app

    if args.state != "memory" and not args.state.startswith(("redis://", "rediss://", "unix://")):
        print(
            f"nemo-mock: --state {args.state!r}: expected memory or redis://HOST:PORT/DB",
            file=sys.stderr,
        )
        return 2
    problem = _workers_problem(args)
    if problem:
        print(f"nemo-mock: {problem}", file=sys.stderr)
        return 2
    scratch = None
    if args.workers > 1:
        # one clock reading for every worker, and one folder for the files all of them serve
        now = time.time()
        settings = settings.with_(epoch=settings.epoch or now, clock_started_at=now)
        if settings.data_dir is None:
            scratch = Path(tempfile.mkdtemp(prefix="nemo-mock-"))
            settings = settings.with_(data_dir=scratch)
    where = ""  # the default, memory, goes unsaid
    if args.state != "memory":
        from .state.redis_store import StateUnreachable, shown

        where = f", state {shown(args.state)}"
        try:
            app = create_app(settings)
        except StateUnreachable as exc:
            print(f"nemo-mock: {exc}", file=sys.stderr)
            return 1
        # a fresh start, as in memory: ids come from the seed and counts kept in the store,
        # so a restart with the same seed would mint an earlier run's ids again
        app.state.backend.store.clear()
    else:
        app = create_app(settings)
    book = app.state.backend.scenarios
    try:
        requests = [{"name": name} for name in args.scenario]
        if args.rules:
            requests += load_rules(args.rules)
        for request in requests:
            book.add(book.build(request))
    except (OSError, ValueError) as exc:
        print(f"nemo-mock: cannot read rules: {exc}", file=sys.stderr)
        return 2
    except ApiError as exc:
        print(f"nemo-mock: {exc.message}", file=sys.stderr)
        return 2
    sock = listen(args.host, args.port, reuse_port=args.workers > 1)
    if sock is None:
        return 1
    port = sock.getsockname()[1]
    socks = [sock]
    for _ in range(args.workers - 1):  # a listening socket per worker on one port: workers.py
        more = listen(args.host, port, reuse_port=True)
        if more is None:
            return 1
        socks.append(more)
    host = f"[{args.host}]" if ":" in args.host else args.host
    active = f"; scenarios: {', '.join(args.scenario)}" if args.scenario else ""
    workers = f", {args.workers} workers" if args.workers > 1 else ""
    print(
        f"nemo-mock serving http://{host}:{port}  (seed {args.seed}, clock {args.clock}, "
        f"errors {args.error_status}{where}{workers}{active}); Ctrl-C stops it",
        flush=True,
    )
    if args.workers > 1:
        from .web.workers import serve_workers

        app.state.namespaces.close()  # this process only watches its workers
        try:
            return serve_workers(settings, socks, log_level=args.log_level)
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
    # the contract, validators and modules live as long as the process: keep them out of every
    # garbage collection (measured: the journal's entries otherwise cost ~4% throughput)
    gc.freeze()
    config = serve_config(app, args.log_level)
    redact_logs("uvicorn.access", "uvicorn.error", "nemo_mock")  # after uvicorn set up logging
    server = DrainingServer(config, app)
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    return 0


def listen(host: str, port: int, *, reuse_port: bool = False) -> socket.socket | None:
    """A listening socket, or None (and why, on stderr). ``reuse_port``: one of several
    sockets on the port, one per worker (the kernel spreads connections over them)."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets created so, and without
    # it every keep-alive response waits ~40 ms for the client's delayed ACK
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        print(
            f"nemo-mock: cannot listen on {host}:{port} ({exc.strerror}); "
            "pick another --port, or 0 for a free one",
            file=sys.stderr,
        )
        return None
    # listening before the URL is printed: a script that reads the line and connects at once
    # was refused on a busy machine (uvicorn only listens once its start-up has run)
    sock.listen(2048)
    return sock


if __name__ == "__main__":
    raise SystemExit(main())
