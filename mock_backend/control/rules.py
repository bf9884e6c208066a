"""Rules: what no preset covers, in the spirit of WireMock stubs.

A rule matches on operation, method, path, token, client id, session, user, a header, a body
field, or the N-th matching call, within a scope (global, one token, one client id, one session),
and responds with a business code, an HTTP status, a body, a delay on the mock's clock, a
connection fault, a stream fault, or a side effect on the backend's natural state (drain the
credits, lose the session...). It applies once, N times, or always.

Matching is explainable: `Rule.difference` lists (field, actual, expected) for a rule that did
not match, as pytest-httpserver's `RequestMatcher.difference` does.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from ..agent.stream_config import InvalidStreamConfig, StreamFaults
from ..errors import ApiError

__all__ = [
    "Effect",
    "Match",
    "RequestFacts",
    "Respond",
    "Rule",
    "RuleError",
    "StreamPatch",
    "rule_from_dict",
]

FAULTS = ("reset", "empty", "malformed", "dribble")


class Effect(StrEnum):
    """What a fired rule does besides answering, spelt in JSON as rules and scenarios spell it.

    The first five change the backend's state, so the documented refusal follows by itself; the
    others shape this request's own answer (see `effects.apply_effects`).
    """

    DRAIN_CREDITS = "drain_credits"
    FORGET_SESSION = "forget_session"
    FREE_PLAN = "free_plan"
    EXPIRE_TOKEN = "expire_token"
    REVOKE_TOKEN = "revoke_token"
    SILENT_CLOSE = "silent_close"
    TRAILING_ISSUE = "trailing_issue"
    LEGACY_SHAPE = "legacy_shape"
    SLOW_RENDER = "slow_render"
    FAIL_RENDER = "fail_render"
    LOSE_RENDER = "lose_render"
    REST_STATUSES = "rest_statuses"
    BREAK_OUTPUT_URL = "break_output_url"


class RuleError(ApiError):
    """A rule or scenario request that cannot be understood (answered 422)."""

    def __init__(self, message: str, field: str = "body") -> None:
        super().__init__(422, message, data={"field": field})


@dataclass(frozen=True)
class RequestFacts:
    """What a rule can match on, gathered once per request."""

    operation: str | None
    method: str
    path: str
    token: str | None
    client_id: str | None
    session_id: str | None
    user_id: str | None
    headers: dict[str, str]
    body: Any


@dataclass
class Match:
    operation: str | list[str] | None = None  # an operationId, or any of several
    method: str | None = None
    path: str | None = None  # a regular expression, searched in the path
    token: str | None = None
    client_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # name → regular expression
    body: dict[str, Any] = field(default_factory=dict)  # dotted path → regex (str) or value
    nth: int | None = None  # only the N-th call that matches everything else (1-based)


@dataclass(frozen=True)
class StreamPatch:
    """A rule's ``respond.stream``: the `StreamFaults` fields it names, checked when the rule is
    built. Over the faults of rules fired before it, its fields win and the others stay."""

    faults: StreamFaults  # the named fields; the others at their defaults
    names: tuple[str, ...]  # the fields the rule named, in its order

    @classmethod
    def from_dict(cls, raw: object, where: str) -> StreamPatch:
        faults = StreamFaults.from_dict(raw, where)  # an object of known fields, or refused
        assert isinstance(raw, dict)
        return cls(faults, tuple(raw))

    def over(self, earlier: StreamFaults | None) -> StreamFaults:
        """These faults laid over ``earlier`` ones, as ``{**earlier, **this}`` merged the JSON."""
        if earlier is None:
            return self.faults
        return replace(earlier, **{name: getattr(self.faults, name) for name in self.names})

    def public(self) -> dict[str, Any]:
        return {name: getattr(self.faults, name) for name in self.names}


@dataclass
class Respond:
    code: int | None = None  # business or error code: the documented envelope
    status: int | None = None  # HTTP status (with code: overrides the profile's status)
    body: Any = None  # a raw JSON body
    message: str | None = None
    delay: float = 0.0  # virtual seconds before answering
    fault: str | None = None  # reset | empty | malformed | dribble
    stream: StreamPatch | None = None  # faults for the run this call starts
    effects: tuple[Effect, ...] = ()


@dataclass
class Rule:
    id: str
    match: Match
    respond: Respond
    times: int | None = 1  # None: always
    name: str | None = None  # the scenario it came from
    seen: int = 0  # calls that matched everything but nth
    fired: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def difference(self, facts: RequestFacts) -> list[tuple[str, Any, Any]]:
        """(field, actual, expected) for every condition the request does not meet."""
        m = self.match
        diff: list[tuple[str, Any, Any]] = []
        if isinstance(m.operation, list):
            if facts.operation not in m.operation:
                diff.append(("operation", facts.operation, m.operation))
        elif m.operation is not None and facts.operation != m.operation:
            diff.append(("operation", facts.operation, m.operation))
        for name in ("token", "client_id", "session_id", "user_id"):
            expected = getattr(m, name)
            actual = getattr(facts, name)
            if expected is not None and actual != expected:
                diff.append((name, actual, expected))
        if m.method and facts.method.upper() != m.method.upper():
            diff.append(("method", facts.method, m.method))
        if m.path and not re.search(m.path, facts.path):
            diff.append(("path", facts.path, m.path))
        for name, pattern in m.headers.items():
            actual = facts.headers.get(name.lower())
            if actual is None or not re.search(pattern, actual):
                diff.append((f"header.{name}", actual, pattern))
        for dotted, expected in m.body.items():
            actual = _dig(facts.body, dotted)
            ok = (
                actual is not None and re.search(expected, str(actual)) is not None
                if isinstance(expected, str)
                else actual == expected
            )
            if not ok:
                diff.append((f"body.{dotted}", actual, expected))
        return diff

    def consider(self, facts: RequestFacts) -> bool:
        """Count the call and say whether the rule fires for it."""
        if self.exhausted or self.difference(facts):
            return False
        self.seen += 1
        if self.match.nth is not None and self.seen != self.match.nth:
            return False
        self.fired += 1
        return True

    def public(self) -> dict[str, Any]:
        """The rule as JSON, in the words it was given (effects by name, the faults named)."""
        out = asdict(self)
        out["respond"]["effects"] = [effect.value for effect in self.respond.effects]
        stream = self.respond.stream
        out["respond"]["stream"] = stream.public() if stream is not None else None
        out["exhausted"] = self.exhausted
        return out


def _dig(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def rule_from_dict(raw: Any, rule_id: str, *, operations: set[str]) -> Rule:
    """Parse and check a rule given as JSON/YAML; every mistake is named (RuleError)."""
    if not isinstance(raw, dict):
        raise RuleError("a rule is an object with 'match' and 'respond'")
    unknown = sorted(set(raw) - {"match", "respond", "times", "name", "id"})
    if unknown:
        raise RuleError(f"unknown rule fields {unknown}; use match, respond, times, name", "body")
    match_raw = raw.get("match", {})
    respond_raw = raw.get("respond", {})
    if not isinstance(match_raw, dict) or not isinstance(respond_raw, dict):
        raise RuleError("'match' and 'respond' are objects")
    try:
        match = Match(**match_raw)
    except TypeError as exc:
        raise RuleError(
            f"match: {exc}; fields: {sorted(Match.__dataclass_fields__)}", "body.match"
        ) from None
    try:  # effects and stream are read below, into their types
        respond = Respond(**{**respond_raw, "effects": (), "stream": None})
    except TypeError as exc:
        raise RuleError(
            f"respond: {exc}; fields: {sorted(Respond.__dataclass_fields__)}", "body.respond"
        ) from None
    named = [match.operation] if isinstance(match.operation, str) else (match.operation or [])
    unknown_ops = [op for op in named if op not in operations]
    if unknown_ops:
        raise RuleError(
            f"match.operation {unknown_ops} is not an operationId of openapi.yaml; "
            f"known: {sorted(operations)}",
            "body.match.operation",
        )
    for pattern in [match.path, *match.headers.values()]:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise RuleError(
                    f"bad regular expression {pattern!r}: {exc}", "body.match"
                ) from None
    if respond.fault is not None and respond.fault not in FAULTS:
        raise RuleError(f"respond.fault must be one of {list(FAULTS)}", "body.respond.fault")
    respond.effects = _effects(respond_raw.get("effects", []))
    if respond_raw.get("stream") is not None:
        try:  # checked now: a misspelt fault would otherwise fail the run it matches
            respond.stream = StreamPatch.from_dict(respond_raw["stream"], "respond.stream")
        except InvalidStreamConfig as exc:
            raise RuleError(str(exc), "body.respond.stream") from None
    if respond.delay < 0:
        raise RuleError("respond.delay is virtual seconds, >= 0", "body.respond.delay")
    times = raw.get("times", 1)
    if times is not None and (not isinstance(times, int) or times < 1):
        raise RuleError("times: a positive integer, or null for always", "body.times")
    if match.nth is not None and (not isinstance(match.nth, int) or match.nth < 1):
        raise RuleError(
            "match.nth: a positive integer (1 is the first matching call)", "body.match.nth"
        )
    return Rule(id=rule_id, match=match, respond=respond, times=times, name=raw.get("name"))


def _effects(raw: Any) -> tuple[Effect, ...]:
    known = [effect.value for effect in Effect]
    if not isinstance(raw, list):
        raise RuleError(
            f"respond.effects: a list of effect names, got {raw!r}; known: {known}",
            "body.respond.effects",
        )
    bad = [e for e in raw if not isinstance(e, str) or e not in known]
    if bad:
        raise RuleError(f"unknown effects {bad}; known: {known}", "body.respond.effects")
    return tuple(Effect(e) for e in raw)
