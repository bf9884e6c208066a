"""Everything a mock server is started with, as one value object."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

__all__ = ["DAY", "Settings"]

DAY = 86_400.0

ErrorStatusProfile = Literal["http200", "rest"]
EventShape = Literal["adk", "legacy"]


@dataclass(frozen=True)
class Settings:
    seed: int = 0
    # what keys the seeded draws of a new anonymous user (and so its sessions, runs, renders):
    # "client" its client id (concurrent clients of one mock never disturb each other), or
    # "order" the order of token requests (the same draws whatever id a client sends: the
    # suite's private mocks, where one client runs at a time)
    draws: Literal["client", "order"] = "client"
    clock: str = "real"  # real | scaled:N | manual
    error_status: ErrorStatusProfile = "http200"
    data_dir: Path | None = None  # uploads and renders; a temporary folder when None
    max_upload_bytes: int = 500 * 1024 * 1024
    token_ttl: float = 7 * DAY
    claim_ttl: float = 7 * DAY
    rate_window: float = 7 * DAY
    tokens_per_client_id: int = 1
    tokens_per_ip: int = 10
    anonymous_credits: int = 100
    registered_credits: int = 1000
    render_seconds: tuple[float, float] = (30.0, 90.0)
    render_pending_seconds: tuple[float, float] = (1.0, 5.0)
    render_failure_rate: float = 0.0
    render_workers: int = 2
    # where encodes run: "process" (a child process each, at a lower priority: the server's
    # answers never wait for an encode's GIL) or "thread" (in the server's process)
    encoder: Literal["process", "thread"] = "process"
    heartbeat_every: float = 15.0
    event_shape: EventShape = "adk"
    admin_token: str | None = None
    journal_limit: int = 20_000  # entries kept; the oldest are dropped
    # replacements of the contract's info.x-limits, as (name, value) pairs: ("request_seconds", 2)
    limits: tuple[tuple[str, float], ...] = ()
    epoch: float | None = None  # virtual start time; None: now on a real clock, fixed otherwise
    # the wall time (time.time) at which the clock read ``epoch``: the --workers processes'
    # clocks read alike whenever each started; None: when the clock is made
    clock_started_at: float | None = None
    # how many server processes share this mock's state (--workers; /__mock/health says it)
    workers: int = 1
    # where the records live (users, credits, tokens, sessions, uploads, renders): "memory", or
    # a Redis server "redis://HOST:PORT/DB" that several processes can share (state/open_store)
    state: str = "memory"
    # namespaces (X-Mock-Namespace, /__ns/NAME/): closed after this many real seconds without a
    # request (and no run going on), and at most this many at once (namespaces.py)
    namespace_idle: float = 3600.0
    max_namespaces: int = 100

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
