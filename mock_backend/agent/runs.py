"""Agent runs as a service beside `Renders`: starting one, the runs still going, and the faults
and event shapes the control API scripts for the next ones.

Starting a run decides everything that can fail first (the plan, the scripted faults, the event
shape) and only then freezes the user's credits, so a refusal never leaves credits frozen. The
run then lives on its own: a client that disconnects does not stop it, its draft change still
lands, and the frozen credits are settled at its end (all of them released if it failed before
changing anything). `reset` cancels every run; a run's late callbacks after a reset write
nothing, because the session they would write to no longer exists.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..settings import Settings
from ..state.accounts import Accounts
from ..state.clock import Clock
from ..state.randomness import Randomness
from ..state.store import SessionRecord, Store, UserRecord
from .stream_config import StreamFaults, StreamSettings

if TYPE_CHECKING:  # the planning and streaming machinery loads with the first run
    from .planning import SessionView
    from .stream import Run, RunOutcome

__all__ = ["Runs"]


class Runs:
    def __init__(
        self,
        store: Store,
        accounts: Accounts,
        clock: Clock,
        rng: Randomness,
        settings: Settings,
        next_id: Callable[..., int],
    ) -> None:
        self.store = store
        self.accounts = accounts
        self.clock = clock
        self.rng = rng
        self.settings = settings
        self._next_id = next_id
        self._live: set[Run] = set()
        self._generation = 0  # bumped by reset: late callbacks of older runs must not write

    def __len__(self) -> int:
        """How many runs are still going."""
        return len(self._live)

    def __iter__(self) -> Iterator[Run]:
        return iter(list(self._live))

    def script(
        self, session: SessionRecord, faults: StreamFaults, *, once: bool, shape: str | None
    ) -> None:
        """Faults for the session's runs (``once``: its next run only), and its event shape,
        kept on the session record: every process sharing the store plays them."""
        if once:
            session.next_run_faults = dataclasses.asdict(faults)
        else:
            session.faults = dataclasses.asdict(faults)
        if shape is not None:
            session.shape = shape
        self.store.put_session(session)

    def start(
        self,
        session: SessionRecord,
        user: UserRecord,
        message: str,
        note: Callable[[str], None],
        *,
        faults: StreamFaults | None = None,
        silent_close: bool = False,
        trailing_issue: bool = False,
        legacy_shape: bool = False,
    ) -> AsyncGenerator[bytes, None]:
        """Plan the run, choose its faults and shape, freeze its cost and start it: its stream,
        from the first byte. ``note`` tells the journal what the suite needs to know (a
        duplicate send, a scripted stall). The keywords are a fired rule's, for this run only:
        ``faults`` replace the session's scripted ones."""
        from .planning import AgentTiming, plan_run
        from .stream import Run

        timing = AgentTiming()
        if silent_close:
            timing = dataclasses.replace(timing, silent_edit_probability=1.0)
        if trailing_issue:
            timing = dataclasses.replace(timing, trailing_issue_probability=1.0)
        # each attempt's draws are keyed by its number, counted in the store: the same requests
        # draw the same plans whichever process (--workers) serves each of them
        attempt = self._next_id("plan", session.session_id)
        plan = plan_run(
            message, _view(session), self.rng.fresh("agent", session.session_id, attempt), timing
        )
        faults, once = _faults(session, faults)
        shape = session.shape or self.settings.event_shape
        if legacy_shape:
            shape = "legacy"
        self.accounts.freeze(user, plan.cost)  # the last step that may refuse (2001)
        if once:  # spent only by a run that starts (the session is put back below)
            session.next_run_faults = None

        run_no = self._next_id("run", session.session_id)
        if session.active_runs > 0:
            session.duplicate_sends.append({"run": run_no, "at": self.clock.now()})
            note("duplicate send: a run on this session was still going")
        if faults is not None and faults.stall_after is not None and faults.stall_for > 0:
            note(f"stall at +{faults.stall_after:g} s for {faults.stall_for:g} s")
        session.active_runs += 1
        session.runs += 1
        self.store.put_session(session)
        generation = self._generation

        session_id, user_id = session.session_id, user.user_id
        # the callbacks come later (virtual seconds): they read the session again rather than
        # put back the one above, which an upload, a render or another run may have changed
        # since, or a rule forgotten (records are values, see state/store.py)

        def on_apply(draft: dict[str, Any]) -> None:
            if self._generation != generation:
                return  # the mock was reset meanwhile: this session no longer exists
            now = self.store.get_session(session_id)
            if now is not None:
                now.draft = draft
                self.store.put_session(now)

        def on_finish(outcome: RunOutcome) -> None:
            self._live.discard(run)
            if self._generation != generation:
                return
            charged = plan.cost if outcome.status == "completed" or outcome.applied else 0
            self.accounts.settle(user_id, plan.cost, charged)
            now = self.store.get_session(session_id)
            if now is not None:
                now.active_runs = max(0, now.active_runs - 1)
                self.store.put_session(now)

        run = Run(
            plan,
            clock=self.clock,
            rng=self.rng.draws("run", session.session_id, run_no),  # run_no: never asked again
            on_apply=on_apply,
            on_finish=on_finish,
            settings=StreamSettings(
                shape="legacy" if shape == "legacy" else "adk",
                heartbeat_every=self.settings.heartbeat_every,
            ),
            faults=faults,
        )
        self._live.add(run)
        stream = run.listen()  # attached before the run starts: no byte is missed
        run.start()
        return stream

    def cancel_all(self) -> None:
        """End every run now (a reset, a shutdown): their streams close, credits settle."""
        for run in list(self._live):
            run.cancel()

    def reset(self) -> None:
        self._generation += 1
        self.cancel_all()
        self._live.clear()  # the scripted faults lived on the sessions: gone with the store's


def _faults(session: SessionRecord, ruled: StreamFaults | None) -> tuple[StreamFaults | None, bool]:
    """The run's faults, and whether they are the session's next-run-only ones."""
    if ruled is not None:  # a fired rule's respond.stream, checked when the rule was built
        return ruled, False
    if session.next_run_faults is not None:
        return StreamFaults.from_dict(session.next_run_faults), True
    if session.faults is not None:
        return StreamFaults.from_dict(session.faults), False
    return None, False


def _view(session: SessionRecord) -> SessionView:
    """What the agent may read of a session: a copy of its draft, its uploads, its language."""
    from .planning import SessionView
    from .timeline import UploadView

    return SessionView(
        draft=copy.deepcopy(session.draft),
        uploads=[
            UploadView(
                cdn_url=u.cdn_url,
                filename=u.filename,
                file_type=u.file_type,  # type: ignore[arg-type]
                duration=u.duration,
                width=u.width,
                height=u.height,
            )
            for u in session.uploads
        ],
        language=session.language,
    )
