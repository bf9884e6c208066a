"""What fired rules do: state effects change the backend at once, and per-request effects and
stream faults add up, rule after rule, into the request's `Overrides`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from mock_backend.agent.stream import StreamFaults
from mock_backend.backend import Backend
from mock_backend.control.effects import apply_effects
from mock_backend.control.overrides import NO_OVERRIDES, Overrides
from mock_backend.control.rules import Effect, RequestFacts, Rule
from mock_backend.settings import Settings
from mock_backend.state.store import SessionRecord

STATE_EFFECTS = {
    Effect.DRAIN_CREDITS,
    Effect.FORGET_SESSION,
    Effect.FREE_PLAN,
    Effect.EXPIRE_TOKEN,
    Effect.REVOKE_TOKEN,
}


@pytest.fixture
def backend() -> Iterator[Backend]:
    backend = Backend(Settings(clock="manual", seed=1))
    yield backend
    backend.close()


def rule(backend: Backend, **respond: Any) -> Rule:
    [built] = backend.scenarios.build(
        {"rule": {"match": {"operation": "runSse"}, "respond": respond}}
    )
    return built


def facts(token: str | None = None, session_id: str | None = None) -> RequestFacts:
    return RequestFacts(
        operation="runSse",
        method="POST",
        path="/run_sse",
        token=token,
        client_id=None,
        session_id=session_id,
        user_id=None,
        headers={},
        body=None,
    )


@pytest.mark.parametrize("effect", sorted(set(Effect) - STATE_EFFECTS))
def test_each_per_request_effect_sets_its_own_field_and_no_other(
    backend: Backend, effect: Effect
) -> None:
    overrides = apply_effects(backend, rule(backend, effects=[effect]), facts(), NO_OVERRIDES)
    assert overrides == dataclasses.replace(NO_OVERRIDES, **{effect.value: True})


def test_every_field_of_the_overrides_is_an_effect_or_the_stream() -> None:
    fields = {f.name for f in dataclasses.fields(Overrides)}
    assert fields == {e.value for e in set(Effect) - STATE_EFFECTS} | {"stream"}


def test_state_effects_change_the_backend_and_no_override(backend: Backend) -> None:
    token, user = backend.accounts.issue_anonymous("client-1", "127.0.0.1")
    backend.store.put_session(
        SessionRecord("ses_1", "task_1", "t", "en", user.user_id, backend.clock.now())
    )
    fired = rule(backend, effects=[e.value for e in STATE_EFFECTS])
    overrides = apply_effects(backend, fired, facts(token.token, "ses_1"), NO_OVERRIDES)
    assert overrides == NO_OVERRIDES
    assert (user.available, user.plan) == (0, "free")
    assert token.revoked
    assert token.expires_at <= backend.clock.now()
    assert backend.store.get_session("ses_1") is None


def test_state_effects_on_a_request_without_a_token_or_session_do_nothing(
    backend: Backend,
) -> None:
    fired = rule(backend, effects=[e.value for e in STATE_EFFECTS])
    assert apply_effects(backend, fired, facts(), NO_OVERRIDES) == NO_OVERRIDES


def test_the_rules_fired_for_a_request_add_up(backend: Backend) -> None:
    first = rule(backend, effects=["silent_close"], stream={"stall_after": 5, "stall_for": 10})
    second = rule(backend, effects=["legacy_shape"], stream={"stall_for": 20, "buffered": True})
    overrides = NO_OVERRIDES
    for fired in (first, second):
        overrides = apply_effects(backend, fired, facts(), overrides)
    assert overrides == Overrides(
        silent_close=True,
        legacy_shape=True,
        stream=StreamFaults(stall_after=5, stall_for=20, buffered=True),
    )
