"""`MemoryStore`: the `Store` protocol (store.py) in dictionaries, for one process.

The default state: touched from the event loop (credits also from threads, under a lock). Its
namespaces' stores are kept here as children, released like Redis's (`release_idle`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .store import (
    ClockState,
    JournalNews,
    RenderRecord,
    SessionRecord,
    TokenRecord,
    UploadRecord,
    UserRecord,
)

__all__ = ["MemoryStore"]

_R = TypeVar("_R")


class MemoryStore:
    """The in-memory store: dictionaries, touched from the event loop (credits also from
    threads, under a lock).

    ``copies``: hand out and keep copies, as a store in another process does, so that a change
    without its ``put`` is lost here too (the store tests run with it). Off by default: a deep
    copy of a session's draft on every request would cost the default server for nothing.
    """

    def __init__(self, *, copies: bool = False, now: Callable[[], float] = time.monotonic) -> None:
        self._copy: Callable[[Any], Any] = copy.deepcopy if copies else _same
        self._now = now  # when namespaces were used (`release_idle`), as Redis's TIME is there
        self._credits = threading.Lock()
        self.clear()

    def _out(self, record: _R) -> _R:
        copied: _R = self._copy(record)
        return copied

    def clear(self) -> None:
        self._users: dict[str, UserRecord] = {}
        self._tokens: dict[str, TokenRecord] = {}
        self._by_client: dict[str, list[str]] = {}  # client id -> its tokens, oldest first
        self._ip_issues: dict[str, list[float]] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._renders: dict[str, RenderRecord] = {}
        self._uploads: dict[str, UploadRecord] = {}
        self._sequences: dict[str, int] = {}
        self._rules: list[dict[str, Any]] = []
        self._rules_version = getattr(self, "_rules_version", 0) + 1  # changes on every clear
        self._rule_counts: dict[str, tuple[int, int]] = {}
        self._journal: list[tuple[int, dict[str, Any]]] = []  # (JSON bytes, entry)
        self._journal_bytes = 0
        self._clock: ClockState = getattr(self, "_clock", ClockState())  # kept through a clear
        self._overrides: dict[str, Any] = getattr(self, "_overrides", {})  # kept too
        # the namespaces' stores and when each was last used: kept through a clear (a reset of
        # the default leaves the others be)
        self._children: dict[str, MemoryStore] = getattr(self, "_children", {})
        self._used: dict[str, float] = getattr(self, "_used", {})
        self._journal_watchers: list[Callable[[JournalNews], None]] = getattr(
            self, "_journal_watchers", []
        )
        for watcher in self._journal_watchers[:]:
            watcher(JournalNews("cleared"))

    def get_user(self, user_id: str) -> UserRecord | None:
        with self._credits:  # a copy never catches a freeze half done
            return self._out(self._users.get(user_id))

    def put_user(self, user: UserRecord) -> None:
        with self._credits:
            self._users[user.user_id] = self._copy(user)

    def freeze(self, user_id: str, amount: int) -> bool:
        with self._credits:
            user = self._users.get(user_id)
            if user is None or user.available < amount:
                return False
            user.available -= amount
            user.frozen += amount
            return True

    def settle(self, user_id: str, frozen: int, spent: int) -> None:
        with self._credits:
            user = self._users.get(user_id)
            if user is None:
                return
            frozen = max(0, min(frozen, user.frozen))
            spent = max(0, min(spent, frozen))
            user.frozen -= frozen
            user.available += frozen - spent

    def get_token(self, token: str) -> TokenRecord | None:
        return self._out(self._tokens.get(token))

    def tokens(self) -> list[TokenRecord]:
        return self._out(list(self._tokens.values()))

    def put_token(self, record: TokenRecord) -> None:
        new = record.token not in self._tokens
        self._tokens[record.token] = self._copy(record)
        if new and record.client_id is not None:
            self._by_client.setdefault(record.client_id, []).append(record.token)

    def tokens_for_client(self, client_id: str) -> list[TokenRecord]:
        return self._out([self._tokens[t] for t in self._by_client.get(client_id, [])])

    def issues_from_ip(self, ip: str) -> list[float]:
        return list(self._ip_issues.get(ip, []))

    def record_issue(self, ip: str, at: float) -> None:
        self._ip_issues.setdefault(ip, []).append(at)

    def get_session(self, session_id: str) -> SessionRecord | None:
        return self._out(self._sessions.get(session_id))

    def put_session(self, session: SessionRecord) -> None:
        session = self._copy(session)
        self._sessions[session.session_id] = session
        for upload in session.uploads:
            self._uploads[upload.file_id] = upload

    def forget_session(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def get_render(self, render_id: str) -> RenderRecord | None:
        return self._out(self._renders.get(render_id))

    def put_render(self, render: RenderRecord) -> None:
        self._renders[render.render_id] = self._copy(render)

    def renders(self) -> list[RenderRecord]:
        return self._out(list(self._renders.values()))

    def find_upload(self, file_id: str) -> UploadRecord | None:
        return self._out(self._uploads.get(file_id))

    shared = False  # one process: its rules stay in the `ScenarioBook`

    def rules(self) -> tuple[int, list[dict[str, Any]]]:
        with self._credits:
            return self._rules_version, copy.deepcopy(self._rules)

    def rules_version(self) -> int:
        return self._rules_version

    def add_rules(self, rules: list[dict[str, Any]]) -> None:
        with self._credits:
            self._rules.extend(copy.deepcopy(rules))
            self._rules_version += 1

    def remove_rules(self, rule_ids: list[str] | None) -> int:
        with self._credits:
            before = len(self._rules)
            if rule_ids is None:
                self._rules = []
            else:
                self._rules = [r for r in self._rules if r["id"] not in rule_ids]
            self._rules_version += 1
            return before - len(self._rules)

    def fire_rule(self, rule_id: str, nth: int | None, times: int | None) -> int | None:
        with self._credits:
            seen, fired = self._rule_counts.get(rule_id, (0, 0))
            if times is not None and fired >= times:
                return None
            seen += 1
            if nth is not None and seen != nth:
                self._rule_counts[rule_id] = (seen, fired)
                return None
            self._rule_counts[rule_id] = (seen, fired + 1)
            return fired + 1

    def rule_counts(self, rule_id: str) -> tuple[int, int]:
        return self._rule_counts.get(rule_id, (0, 0))

    def clock_state(self) -> ClockState:
        return self._clock

    def move_clock(self, seconds: float) -> ClockState:
        with self._credits:
            clock = self._clock
            held_at = None if clock.held_at is None else clock.held_at + seconds
            self._clock = dataclasses.replace(
                clock, version=clock.version + 1, moves=clock.moves + seconds, held_at=held_at
            )
            return self._clock

    def hold_clock(self, at: float, wall: float) -> ClockState:
        with self._credits:
            clock = self._clock
            if clock.holds == 0:
                clock = dataclasses.replace(clock, held_at=at, held_since=wall)
            self._clock = dataclasses.replace(
                clock, version=clock.version + 1, holds=clock.holds + 1
            )
            return self._clock

    def release_clock(self, wall: float, rate: float) -> ClockState:
        with self._credits:
            clock = self._clock
            clock = dataclasses.replace(clock, version=clock.version + 1, holds=clock.holds - 1)
            if clock.holds == 0:
                taken = clock.taken + max(0.0, wall - clock.held_since) * rate
                clock = dataclasses.replace(clock, taken=taken, held_at=None)
            self._clock = clock
            return clock

    def watch_clock(self, on_state: Callable[[ClockState], None]) -> Callable[[], None]:
        return _nothing  # one process: its changes are taken as they are made

    def append_journal(self, entry: dict[str, Any], *, limit: int, max_bytes: int) -> int:
        text = json.dumps(entry, separators=(",", ":"))
        size = len(text.encode())
        with self._credits:
            self._journal.append((size, copy.deepcopy(entry)))
            self._journal_bytes += size
            dropped = 0
            while len(self._journal) > 1 and (
                len(self._journal) > limit or self._journal_bytes > max_bytes
            ):
                self._journal_bytes -= self._journal.pop(0)[0]
                dropped += 1
        for watcher in self._journal_watchers[:]:  # one process: told once it is kept
            watcher(JournalNews("entry", int(entry["id"]), text))
        return dropped

    def journal(self, last: int | None = None) -> list[dict[str, Any]]:
        with self._credits:
            kept = self._journal if last is None else self._journal[-last:] if last else []
            return copy.deepcopy([entry for _, entry in kept])

    def watch_journal(self, on_news: Callable[[JournalNews], None]) -> Callable[[], None]:
        self._journal_watchers.append(on_news)

        def stop() -> None:
            if on_news in self._journal_watchers:
                self._journal_watchers.remove(on_news)

        return stop

    def namespace(self, name: str) -> MemoryStore:
        with self._credits:
            child = self._children.get(name)
            if child is None:
                child = MemoryStore(copies=self._copy is not _same, now=self._now)
                self._children[name] = child
            return child

    def mark_used(self, names: list[str]) -> None:
        now = self._now()
        with self._credits:
            self._used.update(dict.fromkeys(names, now))

    def release_idle(self, idle_seconds: float) -> list[str]:
        now = self._now()
        with self._credits:
            idle = [name for name, used in self._used.items() if now - used >= idle_seconds]
            for name in idle:
                del self._used[name]
                child = self._children.pop(name, None)
                if child is not None:
                    child.clear()
        return idle

    def next_count(self, name: str) -> int:
        with self._credits:
            n = self._sequences.get(name, 0)
            self._sequences[name] = n + 1
            return n

    def close(self) -> None:
        pass

    def settings_overrides(self) -> dict[str, Any]:
        return copy.deepcopy(self._overrides)

    def put_settings_overrides(self, overrides: dict[str, Any]) -> None:
        self._overrides = copy.deepcopy(overrides)

    def counts(self) -> dict[str, int]:
        """How many of each record the mock holds (what a soak watches grow)."""
        return {
            "users": len(self._users),
            "tokens": len(self._tokens),
            "client_ids": len(self._by_client),
            "sessions": len(self._sessions),
            "uploads": len(self._uploads),
            "renders": len(self._renders),
        }


def _same(record: _R) -> _R:
    return record


def _nothing() -> None:
    pass
