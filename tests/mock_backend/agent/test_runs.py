"""The agent's runs as a service: whatever can refuse a run refuses it before the credits are
frozen, and a next-run-only fault is spent only by a run that really starts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from mock_backend.agent.runs import _faults
from mock_backend.agent.stream import StreamFaults
from mock_backend.backend import Backend
from mock_backend.errors import ApiError
from mock_backend.settings import Settings
from mock_backend.state.store import SessionRecord, UserRecord

MESSAGE = "generate a 5 second video of a city at night"  # a generation: 100 credits


@pytest.fixture
def backend() -> Iterator[Backend]:
    backend = Backend(Settings(clock="manual", seed=1))
    yield backend
    backend.close()


def _user_and_session(backend: Backend, credits: int = 100) -> tuple[UserRecord, SessionRecord]:
    _, user = backend.accounts.issue_anonymous("client-1", "127.0.0.1")
    user.available = credits
    backend.store.put_user(user)
    session = SessionRecord("ses_1", "task_1", "t", "en", user.user_id, backend.clock.now())
    backend.store.put_session(session)
    return user, session


def _stored(backend: Backend, session: SessionRecord) -> SessionRecord:
    found = backend.store.get_session(session.session_id)
    assert found is not None
    return found


def _start(backend: Backend, session: SessionRecord, user: UserRecord) -> None:
    async def go() -> None:
        stream = backend.runs.start(session, user, MESSAGE, lambda _note: None)
        await stream.aclose()
        backend.runs.cancel_all()

    asyncio.run(go())


def test_a_run_refused_for_credits_leaves_the_next_run_fault_for_the_next_run(
    backend: Backend,
) -> None:
    user, session = _user_and_session(backend, credits=0)
    faults = StreamFaults.from_dict({"stall_after": 5, "stall_for": 10})
    backend.runs.script(session, faults, once=True, shape=None)
    with pytest.raises(ApiError) as refused:
        _start(backend, session, user)
    assert refused.value.code == 2001
    assert _faults(_stored(backend, session), None) == (faults, True)
    user.available = 100
    _start(backend, session, user)
    assert _faults(_stored(backend, session), None) == (None, False)  # spent by that run


def test_a_cancelled_run_settles_its_frozen_credits(backend: Backend) -> None:
    user, session = _user_and_session(backend)

    async def go() -> None:
        stream = backend.runs.start(session, user, MESSAGE, lambda _note: None)
        assert (user.available, user.frozen) == (0, 100)  # the generation's price, frozen
        await stream.aclose()
        backend.runs.cancel_all()

    asyncio.run(go())
    assert user.frozen == 0
    assert user.available == 100
    assert session.active_runs == 0
    assert session.runs == 1


def test_a_rules_faults_replace_the_sessions_and_leave_its_next_run_ones(
    backend: Backend,
) -> None:
    _, session = _user_and_session(backend)
    scripted = StreamFaults(buffered=True)
    ruled = StreamFaults(cut_at_event=1)
    backend.runs.script(session, scripted, once=True, shape=None)
    assert _faults(_stored(backend, session), ruled) == (ruled, False)
    assert _faults(_stored(backend, session), None) == (scripted, True)
