"""The mock's engine: one object holding every piece of state, free of HTTP.

`create_app` puts one `Backend` on ``app.state``; handlers and the control API reach the
store, the clock, the seeded randomness, accounts, renders and agent runs (`Runs`) through
it. `reset` returns it to a fresh start without restarting the server.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from .agent.runs import Runs
from .control.journal import Journal
from .control.scenarios import ScenarioBook, SharedScenarioBook
from .control.shared_journal import SharedJournal
from .openapi.envelope import StatusProfile
from .openapi.limits import Limits
from .openapi.spec import Spec, load_spec
from .rendering.renders import Renders
from .settings import Settings
from .state.accounts import Accounts
from .state.clock import Clock, parse_clock
from .state.clock_sync import ClockSync
from .state.randomness import Randomness
from .state.store import Store, open_store

__all__ = ["Backend"]


class Backend:
    def __init__(
        self,
        settings: Settings,
        *,
        spec: Spec | None = None,
        clock: Clock | None = None,
        store: Store | None = None,
    ) -> None:
        self.settings = settings
        self.spec = spec or load_spec()
        self.limits = Limits.from_spec(self.spec, **dict(settings.limits))
        # how codes travel, by the contract's profiles: the one chosen, and REST for the rules
        # that ask for it
        self.profile = StatusProfile.of(self.spec, settings.error_status)
        self.rest_profile = StatusProfile.of(self.spec, "rest")
        self.control_profile = StatusProfile.of(self.spec, "http200")  # the control API's
        self.clock = clock or parse_clock(
            settings.clock, epoch=settings.epoch, started_at=settings.clock_started_at
        )
        self.store: Store = store if store is not None else open_store(settings.state)
        # ids count in the store: processes sharing a store never mint the same one
        self.rng = Randomness(settings.seed, count=self.store.next_count)
        self._own_dir = settings.data_dir is None
        self.data_dir = Path(settings.data_dir or tempfile.mkdtemp(prefix="nemo-mock-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # on a shared store, every process that shares it keeps one virtual time: moves and
        # holds made in one are every process's
        self.clock_sync: ClockSync | None = (
            ClockSync(self.clock, self.store) if self.store.shared else None
        )
        self.accounts = Accounts(self.store, self.clock, self.rng, settings)
        self.renders = Renders(
            self.store,
            self.clock,
            self.rng,
            settings,
            self.data_dir / "renders",
            next_id=self.next_id,
            wait_seconds=self.limits.file_wait_seconds,
        )
        journal_options: dict[str, Any] = {
            "limit": settings.journal_limit,
            "max_bytes": self.limits.journal_bytes,
            "body_bytes": self.limits.journal_body_bytes,
        }
        # processes sharing the store (--workers) share the journal's finished entries too
        self.journal: Journal = (
            SharedJournal(self.clock, self.store, **journal_options)
            if self.store.shared
            else Journal(self.clock, **journal_options)
        )
        operations = set(self.spec.operations)
        # rules live with the records when several processes may share them (Redis)
        self.scenarios: ScenarioBook = (
            SharedScenarioBook(operations, self.store)
            if self.store.shared
            else ScenarioBook(operations)
        )
        self.runs = Runs(self.store, self.accounts, self.clock, self.rng, settings, self.next_id)

    def next_id(self, kind: str, *key: Any) -> int:
        """A per-kind sequence number from 1 (seeds the ids of new records deterministically),
        counted in the store, so every process sharing it counts on from the same number."""
        return self.store.next_count("/".join(["seq", kind, *map(str, key)])) + 1

    @property
    def uploads_dir(self) -> Path:
        path = self.data_dir / "uploads"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def reset(self, seed: int | None = None) -> None:
        """Forget everything: tokens, sessions, renders, files, runs, scripted faults, rules."""
        self.runs.reset()
        self.store.clear()
        self.journal.clear()
        self.scenarios.clear()
        self.rng.reset(seed)
        self.renders.reset()
        shutil.rmtree(self.data_dir / "uploads", ignore_errors=True)

    def end_streams(self) -> None:
        """End every agent run now (server shutdown): their streams close, credits settle; and
        the journal's live feeds, which would otherwise hold the stop as long as they can."""
        self.runs.cancel_all()
        self.journal.end_feeds()

    def close(self) -> None:
        if self.clock_sync is not None:
            self.clock_sync.close()
        self.journal.close()
        self.runs.cancel_all()
        self.renders.close()
        self.store.close()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
