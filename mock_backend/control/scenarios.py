"""Named scenarios (one per documented edge case) and the registry of active rules.

A scenario is a preset of rules. Applied with a scope (a token, a client id, a session or a
user), its rules fire only for that caller, so a hundred clients can each run their own edge
case against one mock. ``X-Mock-Scenario: <name>`` applies one to a single request.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, replace
from typing import Any

from ..openapi.spec import load_spec
from ..state.store import Store
from .redact import redact
from .rules import RequestFacts, Rule, RuleError, rule_from_dict

__all__ = ["CATALOGUE", "Scenario", "ScenarioBook", "SharedScenarioBook"]

SESSION_OPS = ["getSessionState", "uploadFiles", "runSse", "submitRender", "createClaimToken"]
# every operation that needs a token, as the contract's security says
SECURED_ANY = [op.operation_id for op in load_spec().operations.values() if op.secured]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    rules: tuple[dict[str, Any], ...]


def _s(name: str, description: str, *rules: dict[str, Any]) -> Scenario:
    return Scenario(name, description, rules)


def _effect(operation: Any, *effects: str, times: int | None = 1) -> dict[str, Any]:
    return {
        "match": {"operation": operation},
        "respond": {"effects": list(effects)},
        "times": times,
    }


def _code(operation: str, code: int, message: str | None = None, **data: Any) -> dict[str, Any]:
    respond: dict[str, Any] = {"code": code}
    if message:
        respond["message"] = message
    if data:
        respond["body"] = {"data": data}
    return {"match": {"operation": operation}, "respond": respond, "times": 1}


def _stream(**faults: Any) -> dict[str, Any]:
    return {"match": {"operation": "runSse"}, "respond": {"stream": faults}, "times": 1}


CATALOGUE: dict[str, Scenario] = {
    s.name: s
    for s in [
        _s(
            "token-expired",
            "the token expires at the next call: 1001 until the client re-authenticates",
            _effect(SECURED_ANY, "expire_token"),
        ),
        _s(
            "token-revoked",
            "the token is revoked at the next call: 1001; re-auth with the same client id works",
            _effect(SECURED_ANY, "revoke_token"),
        ),
        _s(
            "session-lost",
            "the session disappears at its next use: 1002 until a new session is created",
            _effect(SESSION_OPS, "forget_session"),
        ),
        _s(
            "out-of-credits",
            "an anonymous user's credits run out before the next chat run: 2001 with a registration link",
            _effect("runSse", "drain_credits"),
        ),
        _s(
            "out-of-credits-registered",
            "a registered user's credits run out before the next chat run: 2001, top up",
            _effect("runSse", "drain_credits"),
        ),
        _s(
            "unsupported-file",
            "the next upload is refused as an unsupported file type: 4001",
            _code("uploadFiles", 4001),
        ),
        _s(
            "file-too-large",
            "the next upload is refused as too large: 4002",
            _code("uploadFiles", 4002),
        ),
        _s(
            "missing-client-id",
            "the next token request is answered 400 as if X-Client-Id were missing",
            _code("createAnonymousToken", 400),
        ),
        _s(
            "free-plan-export-blocked",
            "the user is on the free plan: every export answers 402 (plan)",
            _effect("submitRender", "free_plan"),
        ),
        _s(
            "missing-attribution",
            "the next export answers 402 as if the attribution headers were missing",
            _code(
                "submitRender",
                402,
                "Export needs the attribution headers X-Skill-Source, "
                "X-Skill-Version and X-Skill-Platform",
                reason="attribution",
            ),
        ),
        _s(
            "rate-limited",
            "the next token request is rate limited per client id: 429, retry once after 30 s",
            _code(
                "createAnonymousToken",
                429,
                "Too many token requests for this client id; retry in 30 s",
                limit="per_client_id",
                retry_after=30,
            ),
        ),
        _s(
            "rate-limited-ip",
            "the next token request is rate limited per IP: 429, retry once after 30 s",
            _code(
                "createAnonymousToken",
                429,
                "Too many new tokens from this address; retry in 30 s",
                limit="per_ip",
                retry_after=30,
            ),
        ),
        _s(
            "silent-close",
            "the next chat run closes with no text (tool events only): read state, report the change",
            _effect("runSse", "silent_close"),
        ),
        _s(
            "heartbeats-only-timeout",
            "the next chat run sends only heartbeats for 11 minutes (a client gives up at 10)",
            _stream(heartbeats_only_for=660.0),
        ),
        _s(
            "disconnect-mid-run",
            "the next chat stream is cut in the middle of an event; the run goes on server-side",
            _stream(cut_at_event=1),
        ),
        _s(
            "duplicate-send",
            "the next chat stream stalls for 4 minutes with no bytes: a naive client re-sends (journaled)",
            _stream(stall_after=1.0, stall_for=240.0),
        ),
        _s(
            "stream-error",
            "the next chat run fails mid-stream with an error event",
            _stream(error_at_event=1),
        ),
        _s(
            "stream-malformed",
            "the next chat stream carries a malformed data: line",
            _stream(malformed_at_event=0),
        ),
        _s(
            "proxy-buffering",
            "the next chat stream arrives all at once when the run ends (a buffering proxy)",
            _stream(buffered=True),
        ),
        _s(
            "slow-render",
            "renders take 250-290 s (within 10 polls 30 s apart)",
            _effect("submitRender", "slow_render", times=None),
        ),
        _s(
            "render-failed",
            "every render fails",
            _effect("submitRender", "fail_render", times=None),
        ),
        _s(
            "render-failed-then-succeeds",
            "the next render fails; a new id succeeds",
            _effect("submitRender", "fail_render"),
        ),
        _s(
            "output-url-broken",
            "the next render's output.url leads nowhere (404): download through the fallback path",
            _effect("submitRender", "break_output_url"),
        ),
        _s(
            "orphaned-render",
            "the next render job is lost after submission: polls answer 404",
            _effect("submitRender", "lose_render"),
        ),
        _s(
            "trailing-temporary-issue",
            "the next chat reply ends with 'I encountered a temporary issue' (to be ignored)",
            _effect("runSse", "trailing_issue"),
        ),
        _s(
            "legacy-event-shape",
            "chat streams use the flat legacy event shape ({type: text, content})",
            _effect("runSse", "legacy_shape", times=None),
        ),
        _s(
            "rest-error-statuses",
            "business codes travel with REST statuses (1001→401, 1002→404, 2001→403, 4001→415, 4002→413)",
            _effect(None, "rest_statuses", times=None),
        ),
    ]
}

SCOPE_KEYS = ("token", "client_id", "session_id", "user_id")


class ScenarioBook:
    """Active rules, each optionally scoped; resolution is per request and thread-safe."""

    def __init__(self, operations: set[str]) -> None:
        self.operations = operations
        self._rules: list[Rule] = []
        self._next = 1
        self._lock = threading.Lock()

    def _new_id(self) -> str:
        rule_id = f"r{self._next}"
        self._next += 1
        return rule_id

    def build(self, request: dict[str, Any]) -> list[Rule]:
        """Rules from a control-API request: a named scenario or an explicit rule, plus a scope."""
        if not isinstance(request, dict):
            raise RuleError("a JSON object with 'name' (a scenario) or 'rule'")
        unknown = sorted(set(request) - {"name", "rule", "rules", "scope", "match", "times"})
        if unknown:
            raise RuleError(f"unknown fields {unknown}; use name or rule(s), scope, match, times")
        scope = request.get("scope") or {}
        if not isinstance(scope, dict) or set(scope) - set(SCOPE_KEYS):
            raise RuleError(f"scope: an object with any of {list(SCOPE_KEYS)}", "body.scope")
        if "name" in request:
            scenario = CATALOGUE.get(request["name"])
            if scenario is None:
                raise RuleError(
                    f"no scenario {request['name']!r}; GET /__mock/scenarios lists them",
                    "body.name",
                )
            raws = [copy.deepcopy(r) | {"name": scenario.name} for r in scenario.rules]
        elif "rule" in request or "rules" in request:
            raws = [request["rule"]] if "rule" in request else list(request["rules"])
        else:
            raise RuleError("give 'name' (a scenario) or 'rule'")
        rules = []
        for raw in raws:
            if not isinstance(raw, dict):
                raise RuleError("a rule is an object")
            raw = copy.deepcopy(raw)
            match = raw.setdefault("match", {})
            if isinstance(match, dict):
                match.update({k: v for k, v in scope.items() if v is not None})
                if isinstance(request.get("match"), dict):
                    match.update(request["match"])
            if "times" in request:
                raw["times"] = request["times"]
            rules.append(rule_from_dict(raw, self._new_id(), operations=self.operations))
        return rules

    def add(self, rules: list[Rule]) -> None:
        with self._lock:
            self._rules.extend(rules)

    def remove(self, rule_id: str | None = None) -> int:
        with self._lock:
            before = len(self._rules)
            self._rules = [] if rule_id is None else [r for r in self._rules if r.id != rule_id]
            return before - len(self._rules)

    @property
    def has_rules(self) -> bool:
        return bool(self._rules)

    def resolve(self, facts: RequestFacts, extra: list[Rule] | None = None) -> list[Rule]:
        """The rules that fire for this request, in the order they were added."""
        with self._lock:
            fired = [rule for rule in [*self._rules, *(extra or [])] if rule.consider(facts)]
            self._rules = [r for r in self._rules if not r.exhausted]
            return fired

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [redact(r.public()) for r in self._rules]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


class SharedScenarioBook(ScenarioBook):
    """The rules of a store several processes share (`Store.shared`: ``--workers`` on Redis).

    The list lives in the store; each process keeps it built and rebuilds it when the store's
    version moves (one read per request). A rule's calls are counted in the store, atomically
    (`Store.fire_rule`), so its ``times`` and ``nth`` hold whichever process answers; a rule
    used up is taken off the store's list. Ids come from a sequence in the store.
    """

    def __init__(self, operations: set[str], store: Store) -> None:
        super().__init__(operations)
        self.store = store
        self._version: int | None = None

    def _new_id(self) -> str:
        return f"r{self.store.next_count('rule-ids') + 1}"

    def _sync(self) -> list[Rule]:
        if self.store.rules_version() != self._version:
            version, raws = self.store.rules()
            built = [rule_from_dict(raw, raw["id"], operations=self.operations) for raw in raws]
            with self._lock:
                self._rules, self._version = built, version
        return self._rules

    def add(self, rules: list[Rule]) -> None:
        self.store.add_rules([_stored(rule) for rule in rules])

    def remove(self, rule_id: str | None = None) -> int:
        return self.store.remove_rules(None if rule_id is None else [rule_id])

    @property
    def has_rules(self) -> bool:
        return bool(self._sync())

    def resolve(self, facts: RequestFacts, extra: list[Rule] | None = None) -> list[Rule]:
        fired = []
        for rule in self._sync():
            if rule.difference(facts):
                continue
            count = self.store.fire_rule(rule.id, rule.match.nth, rule.times)
            if count is None:
                continue
            fired.append(rule)
            if rule.times is not None and count >= rule.times:
                self.store.remove_rules([rule.id])  # used up: off the list, for every process
        fired += [rule for rule in extra or [] if rule.consider(facts)]
        return fired

    def active(self) -> list[dict[str, Any]]:
        shown = []
        for rule in self._sync():
            seen, fired = self.store.rule_counts(rule.id)
            shown.append(redact(replace(rule, seen=seen, fired=fired).public()))
        return shown

    def clear(self) -> None:
        self.store.remove_rules(None)


def _stored(rule: Rule) -> dict[str, Any]:
    """A rule as the store keeps it: its JSON without the counts (the store counts)."""
    raw = rule.public()
    for counted in ("seen", "fired", "exhausted"):
        raw.pop(counted, None)
    return raw
