"""What the mock remembers: users, tokens, sessions, uploads and render jobs.

Handlers and rules talk to the `Store` protocol only, so that a shared store (`RedisStore`,
redis_store.py) can replace `MemoryStore` (memory_store.py) without touching them. The contract:

- records are values: ``get_*`` returns a record the caller may change freely, and a change
  exists only once it is written back with ``put_*`` (or made by a store method). A store may
  hand out copies (`RedisStore` always does, `MemoryStore(copies=True)` does for tests); the
  default `MemoryStore` hands out its own objects, for speed, so code that forgets a ``put``
  works there and nowhere else: the store tests run the handlers on copies to catch it;
- a record read, changed and put back is a read-modify-write: atomic within one event loop
  as long as no ``await`` comes between, not across processes. Credits are the exception that
  must hold across processes (never oversold), so they change only through `Store.freeze` and
  `Store.settle`, atomic in every store;
- the sequences that number new records and seed their ids (`Store.next_count`) live in the
  store too, atomic in every store: two processes on one store never mint the same id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

__all__ = [
    "ClockState",
    "JournalNews",
    "RenderRecord",
    "SessionRecord",
    "Store",
    "TokenRecord",
    "UploadRecord",
    "UserRecord",
    "open_store",
]

TokenKind = Literal["anonymous", "registered", "claim"]


class JournalNews(NamedTuple):
    """What a journal's watcher is told (`Store.watch_journal`): an entry was kept (its id and
    its JSON as kept), the journal was emptied, or news may have been missed (the connection to
    the store broke: a reader should reload)."""

    kind: Literal["entry", "cleared", "missed"]
    entry_id: int = 0
    text: str = ""


@dataclass
class UserRecord:
    user_id: str
    registered: bool
    plan: str | None  # "free" | "pro" | None (anonymous)
    available: int
    frozen: int = 0

    @property
    def total(self) -> int:
        return self.available + self.frozen


@dataclass
class TokenRecord:
    token: str
    kind: TokenKind
    user_id: str
    scopes: tuple[str, ...]
    issued_at: float
    expires_at: float
    client_id: str | None = None
    revoked: bool = False
    task_id: str | None = None  # claim tokens only
    session_id: str | None = None


@dataclass
class UploadRecord:
    file_id: str
    filename: str
    file_type: str
    cdn_url: str
    path: Path | None  # None for URL uploads, which the offline mock never fetches
    duration: float | None
    width: int | None
    height: int | None
    fps: float | None
    hash: str | None
    size: int | None

    def public(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "file_type": self.file_type,
            "cdn_url": self.cdn_url,
            "duration": self.duration,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "hash": self.hash,
            "size": self.size,
            "measured": self.path is not None,
        }


@dataclass
class SessionRecord:
    session_id: str
    task_id: str
    task_name: str
    language: str
    user_id: str
    created_at: float
    draft: dict[str, Any] = field(default_factory=lambda: {"t": [], "d": 0, "m": {}})
    uploads: list[UploadRecord] = field(default_factory=list)
    generated_media: list[dict[str, Any]] = field(default_factory=list)
    active_runs: int = 0
    runs: int = 0
    duplicate_sends: list[dict[str, Any]] = field(default_factory=list)
    # scripted by the control API (POST /__mock/sessions/{id}/faults), kept with the session so
    # that every process sharing the store plays them: stream faults (StreamFaults as JSON) for
    # every run, for the next run only, and the event shape
    faults: dict[str, Any] | None = None
    next_run_faults: dict[str, Any] | None = None
    shape: str | None = None


@dataclass
class RenderRecord:
    render_id: str
    user_id: str
    session_id: str
    draft: dict[str, Any]
    output_format: str
    quality: str
    created_at: float
    # the lifecycle, fixed at submit (virtual times): see renders.py
    starts_at: float  # the job leaves `pending`
    due_at: float  # the job completes, whatever its encoder is doing
    fail_at: float | None = None  # it fails instead (seeded, scripted, or a refused draft)
    fail_reason: str | None = None
    cancelled_at: float | None = None
    vanish_at: float | None = None  # an orphaned job: polls answer 404 from then on
    # the file, from the real encode: planned at submit, its outcome noted when it is waited for
    out_path: Path | None = None  # None when the job never encodes (it fails)
    duration: float | None = None  # seconds: the draft's length (render_engine.check)
    size: int | None = None  # bytes, once the encode has finished
    engine_error: str | None = None  # the encode failed after all (an engine bug, I/O)
    output_url_broken: bool = False  # output.url leads nowhere (the download fallback is needed)


@dataclass(frozen=True)
class ClockState:
    """What the processes sharing a store agree of their clock (state/clock_sync.py), besides
    the passing of time: ``moves`` seconds it was moved, ``taken`` seconds taken off for the
    holds that ended; while ``holds`` > 0 it stands at ``held_at`` (since wall ``held_since``).
    ``version`` goes up with every change."""

    version: int = 0
    moves: float = 0.0
    taken: float = 0.0
    holds: int = 0
    held_at: float | None = None
    held_since: float = 0.0


class Store(Protocol):
    def get_user(self, user_id: str) -> UserRecord | None: ...
    def put_user(self, user: UserRecord) -> None: ...
    def freeze(self, user_id: str, amount: int) -> bool:
        """Move ``amount`` from available to frozen, atomically; False (nothing changed) when
        the user has less available or does not exist."""
        ...

    def settle(self, user_id: str, frozen: int, spent: int) -> None:
        """End reserved work, atomically: ``spent`` of ``frozen`` is gone, the rest available
        again (both clamped to what the user has frozen)."""
        ...

    def get_token(self, token: str) -> TokenRecord | None: ...
    def tokens(self) -> list[TokenRecord]: ...
    def put_token(self, record: TokenRecord) -> None: ...
    def tokens_for_client(self, client_id: str) -> list[TokenRecord]: ...
    def issues_from_ip(self, ip: str) -> list[float]: ...
    def record_issue(self, ip: str, at: float) -> None: ...
    def get_session(self, session_id: str) -> SessionRecord | None: ...
    def put_session(self, session: SessionRecord) -> None: ...
    def forget_session(self, session_id: str) -> None: ...
    def get_render(self, render_id: str) -> RenderRecord | None: ...
    def put_render(self, render: RenderRecord) -> None: ...
    def renders(self) -> list[RenderRecord]: ...
    def find_upload(self, file_id: str) -> UploadRecord | None: ...
    def next_count(self, name: str) -> int:
        """The next number of the sequence ``name``: 0, then 1, 2... (atomic; `clear` restarts
        every sequence)."""
        ...

    # -- the rules (control/scenarios.py `SharedScenarioBook`), for stores several processes
    # share (`shared`): the list in order, a version that changes with it, and each rule's calls
    # counted atomically, so a rule's ``times`` and ``nth`` hold across processes
    shared: bool

    def rules(self) -> tuple[int, list[dict[str, Any]]]:
        """(version, every rule as JSON in the order added)."""
        ...

    def rules_version(self) -> int: ...
    def add_rules(self, rules: list[dict[str, Any]]) -> None: ...
    def remove_rules(self, rule_ids: list[str] | None) -> int:
        """Remove those rules (None: all); how many were there."""
        ...

    def fire_rule(self, rule_id: str, nth: int | None, times: int | None) -> int | None:
        """Count a call that matched rule ``rule_id``: how many times it has fired now, or None
        if it does not fire for this call (exhausted, or not its ``nth`` matching call)."""
        ...

    def rule_counts(self, rule_id: str) -> tuple[int, int]:
        """(calls that matched, times fired) of a rule."""
        ...

    # -- one virtual time for the processes sharing the store (state/clock_sync.py)
    def clock_state(self) -> ClockState:
        """What moved the shared clock and what holds it (kept through `clear`)."""
        ...

    def move_clock(self, seconds: float) -> ClockState:
        """Add ``seconds`` to the moves (and to where a held clock stands), announce it."""
        ...

    def hold_clock(self, at: float, wall: float) -> ClockState:
        """One more hold; the first stops time at virtual ``at``, from wall time ``wall``."""
        ...

    def release_clock(self, wall: float, rate: float) -> ClockState:
        """One hold fewer; when the last ends (at wall time ``wall``), the virtual seconds time
        stood still (``rate`` times the wall span) are taken off."""
        ...

    def watch_clock(self, on_state: Callable[[ClockState], None]) -> Callable[[], None]:
        """Call ``on_state`` (from another thread) with each announced state; a stopper."""
        ...

    # -- the journal of processes sharing the store (control/shared_journal.py)
    def append_journal(self, entry: dict[str, Any], *, limit: int, max_bytes: int) -> int:
        """Keep a finished journal entry (as the control API shows it): the newest ``limit``
        entries and no more than ``max_bytes`` of their JSON (always the newest one), and
        announce it to the watchers (`watch_journal`). How many of the oldest were let go."""
        ...

    def journal(self, last: int | None = None) -> list[dict[str, Any]]:
        """The kept journal entries (the ``last`` ones only, if given), oldest first."""
        ...

    def watch_journal(self, on_news: Callable[[JournalNews], None]) -> Callable[[], None]:
        """Call ``on_news`` (maybe from another thread) with each entry kept from now on, in the
        order the store kept them, and when the journal is emptied (`clear`); a stopper. Entries
        kept after this returns are never missed unless the news says so (``missed``)."""
        ...

    # -- a namespace's own settings (mock_backend/namespace_settings.py), kept through `clear`
    def settings_overrides(self) -> dict[str, Any]:
        """The settings this namespace chose (as JSON); empty when it chose none."""
        ...

    def put_settings_overrides(self, overrides: dict[str, Any]) -> None: ...

    def counts(self) -> dict[str, int]: ...
    def clear(self) -> None: ...
    def namespace(self, name: str) -> Store:
        """A store of the same kind for the mock namespace ``name``, sharing none of this one's
        records (on Redis: the same server, other keys); the same records for the same name."""
        ...

    # -- the namespaces' records, kept while some process uses them (namespaces.py)
    def mark_used(self, names: list[str]) -> None:
        """Note that the namespaces ``names`` (of this store) are in use now."""
        ...

    def release_idle(self, idle_seconds: float) -> list[str]:
        """Forget every record of each namespace that no process marked used for
        ``idle_seconds`` (by the store's own clock: Redis's on Redis); their names."""
        ...

    def close(self) -> None:
        """Let go of connections (the records stay where they are)."""
        ...


def open_store(state: str) -> Store:
    """The store ``Settings.state`` names: "memory", or "redis://HOST:PORT/DB" (redis-py is
    imported only then). Raises `StateUnreachable` when that Redis does not answer, and
    ValueError for anything else."""
    if state == "memory":
        from .memory_store import MemoryStore

        return MemoryStore()
    if state.startswith(("redis://", "rediss://", "unix://")):
        from .redis_store import RedisStore

        return RedisStore(state)
    raise ValueError(f"--state {state!r}: expected memory or redis://HOST:PORT/DB")
