"""The mock's control API (``/__mock/...``) as methods: one driver, sync and async.

`Control` works over an `httpx.Client`, `AsyncControl` over an `httpx.AsyncClient`; both reach
the mock however the client does (the in-process transport, or TCP to ``nemo-mock serve``).
Each call is described once (`_Call`: method, path, arguments, what to return) and both
drivers send the same description, so the two never drift apart. A refusal raises
`ControlError` with the mock's own message.

    control = Control(httpx.Client(base_url="http://127.0.0.1:8000"))
    control.scenario("out-of-credits", client_id="c-1")
    control.advance(30)
    control.calls("runSse", client_id="c-1")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from .errors import ControlError

__all__ = ["AsyncControl", "Control"]


def _data(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    pick: Callable[[Any], Any] = _data  # from the envelope's data to what the method returns

    def result(self, response: httpx.Response) -> Any:
        where = f"{self.method} {self.path}"
        try:
            body = response.json()
        except ValueError:
            raise ControlError(where, response.status_code, None, response.text[:200]) from None
        if not isinstance(body, dict) or body.get("code") != 0:
            code = body.get("code") if isinstance(body, dict) else None
            message = body.get("message") if isinstance(body, dict) else str(body)[:200]
            raise ControlError(where, response.status_code, code, str(message))
        return self.pick(body.get("data"))


def _journal(filters: dict[str, Any]) -> _Call:
    headers = {}
    if "token" in filters:  # never in a URL: the mock takes it from a header
        headers["X-Mock-Token"] = str(filters.pop("token"))
    return _Call(
        "GET",
        "/__mock/journal",
        {"params": filters, "headers": headers},
        lambda data: data["entries"],
    )


class _Calls:
    """What each control call sends and returns: the one description both drivers use."""

    @staticmethod
    def health() -> _Call:
        return _Call("GET", "/__mock/health")

    @staticmethod
    def close_namespace() -> _Call:
        return _Call("DELETE", "/__mock/namespace", pick=lambda d: d["closed"])

    @staticmethod
    def configure(settings: dict[str, Any]) -> _Call:
        return _Call("PUT", "/__mock/namespace", {"json": settings})

    @staticmethod
    def reset(seed: int | None) -> _Call:
        return _Call("POST", "/__mock/reset", {"json": {} if seed is None else {"seed": seed}})

    @staticmethod
    def advance(seconds: float) -> _Call:
        return _Call("POST", "/__mock/clock", {"json": {"advance": seconds}}, lambda d: d["now"])

    @staticmethod
    def clock() -> _Call:
        return _Call("GET", "/__mock/clock")

    @staticmethod
    def clock_details(held_since: float | None) -> _Call:
        params = {} if held_since is None else {"held_since": repr(held_since)}
        return _Call("GET", "/__mock/clock", {"params": params})

    @staticmethod
    def apply(body: dict[str, Any]) -> _Call:
        return _Call("POST", "/__mock/scenarios", {"json": body}, lambda d: d["rules"])

    @staticmethod
    def scenario(name: str, scope: dict[str, str]) -> _Call:
        body = {"name": name, "scope": scope}
        return _Call("POST", "/__mock/scenarios", {"json": body}, lambda d: d["rules"])

    @staticmethod
    def rule(rule: dict[str, Any], scope: dict[str, str]) -> _Call:
        body = {"rule": rule, "scope": scope}
        return _Call("POST", "/__mock/scenarios", {"json": body}, lambda d: d["rules"])

    @staticmethod
    def remove(rule_id: str | None) -> _Call:
        params = {} if rule_id is None else {"id": rule_id}
        return _Call("DELETE", "/__mock/scenarios", {"params": params}, lambda d: d["removed"])

    @staticmethod
    def active() -> _Call:
        return _Call("GET", "/__mock/scenarios", pick=lambda d: d["active"])

    @staticmethod
    def session_faults(session_id: str, faults: dict[str, Any]) -> _Call:
        return _Call("POST", f"/__mock/sessions/{session_id}/faults", {"json": faults})

    @staticmethod
    def mint_token(options: dict[str, Any]) -> _Call:
        return _Call("POST", "/__mock/tokens", {"json": options})

    @staticmethod
    def tokens() -> _Call:
        return _Call("GET", "/__mock/tokens", pick=lambda d: d["tokens"])

    @staticmethod
    def revoke(token: str) -> _Call:
        return _Call("POST", "/__mock/tokens/revoke", {"json": {"token": token}})


class Control:
    """The control API over a synchronous httpx client."""

    def __init__(self, client: httpx.Client) -> None:
        self.http = client

    def _do(self, call: _Call) -> Any:
        return call.result(self.http.request(call.method, call.path, **call.kwargs))

    def health(self) -> dict[str, Any]:
        """Status, seed, clock, and what the mock holds (``state``: users, tokens, journal...)."""
        data: dict[str, Any] = self._do(_Calls.health())
        return data

    def reset(self, seed: int | None = None) -> None:
        """Forget every token, session, render, rule and journal entry (and reseed)."""
        self._do(_Calls.reset(seed))

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Give this namespace settings of its own (seed, clock, draws, render_seconds,
        error_status...), before anything else happens in it."""
        data: dict[str, Any] = self._do(_Calls.configure(settings))
        return data

    def clock_details(self, held_since: float | None = None) -> dict[str, Any]:
        """The clock with its ``wall`` time, ``lateness`` and (given a wall time) the spans
        virtual time stood still since then (``held``)."""
        data: dict[str, Any] = self._do(_Calls.clock_details(held_since))
        return data

    def apply(self, body: dict[str, Any]) -> list[str]:
        """Apply a scenario or a rule as ``POST /__mock/scenarios`` takes it; the rules' ids."""
        ids: list[str] = self._do(_Calls.apply(body))
        return ids

    def tokens(self) -> list[dict[str, Any]]:
        """Every token issued here, in full (token, kind, user_id, client_id)."""
        tokens: list[dict[str, Any]] = self._do(_Calls.tokens())
        return tokens

    def close_namespace(self) -> str:
        """Close this namespace (X-Mock-Namespace or /__ns/NAME/) and forget its records."""
        name: str = self._do(_Calls.close_namespace())
        return name

    def advance(self, seconds: float) -> float:
        """Move the mock's clock forward; returns the new virtual time."""
        now: float = self._do(_Calls.advance(seconds))
        return now

    def now(self) -> float:
        now: float = self._do(_Calls.clock())["now"]
        return now

    def scenario(self, name: str, **scope: str) -> list[str]:
        """Apply a named scenario, globally or to a token / client_id / session_id / user_id."""
        ids: list[str] = self._do(_Calls.scenario(name, scope))
        return ids

    def rule(self, rule: dict[str, Any], **scope: str) -> list[str]:
        """Add a rule (match, respond, times); returns its id."""
        ids: list[str] = self._do(_Calls.rule(rule, scope))
        return ids

    def remove(self, rule_id: str | None = None) -> int:
        """Remove one rule, or every rule; returns how many went."""
        removed: int = self._do(_Calls.remove(rule_id))
        return removed

    def active(self) -> list[dict[str, Any]]:
        """The rules in force, as the mock shows them."""
        rules: list[dict[str, Any]] = self._do(_Calls.active())
        return rules

    def session_faults(self, session_id: str, **faults: Any) -> dict[str, Any]:
        """Stream faults for a session's runs (``once=True``: its next run only)."""
        data: dict[str, Any] = self._do(_Calls.session_faults(session_id, faults))
        return data

    def mint_token(self, **options: Any) -> dict[str, Any]:
        """A registered token: ``credits``, ``plan`` ("free"|"pro"), ``scopes``."""
        data: dict[str, Any] = self._do(_Calls.mint_token(options))
        return data

    def revoke(self, token: str) -> None:
        self._do(_Calls.revoke(token))

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        """Journal entries; filters: token, user_id, client_id, session_id, operation, since..."""
        entries: list[dict[str, Any]] = self._do(_journal(filters))
        return entries

    def calls(self, operation: str, **filters: Any) -> list[dict[str, Any]]:
        """The journal's entries of one operation (an operationId of the contract)."""
        return self.journal(operation=operation, **filters)


class AsyncControl:
    """The control API over an asynchronous httpx client: `Control`'s methods, awaited."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client

    async def _do(self, call: _Call) -> Any:
        return call.result(await self.http.request(call.method, call.path, **call.kwargs))

    async def health(self) -> dict[str, Any]:
        data: dict[str, Any] = await self._do(_Calls.health())
        return data

    async def reset(self, seed: int | None = None) -> None:
        await self._do(_Calls.reset(seed))

    async def configure(self, **settings: Any) -> dict[str, Any]:
        data: dict[str, Any] = await self._do(_Calls.configure(settings))
        return data

    async def clock_details(self, held_since: float | None = None) -> dict[str, Any]:
        data: dict[str, Any] = await self._do(_Calls.clock_details(held_since))
        return data

    async def apply(self, body: dict[str, Any]) -> list[str]:
        ids: list[str] = await self._do(_Calls.apply(body))
        return ids

    async def tokens(self) -> list[dict[str, Any]]:
        tokens: list[dict[str, Any]] = await self._do(_Calls.tokens())
        return tokens

    async def close_namespace(self) -> str:
        name: str = await self._do(_Calls.close_namespace())
        return name

    async def advance(self, seconds: float) -> float:
        now: float = await self._do(_Calls.advance(seconds))
        return now

    async def now(self) -> float:
        now: float = (await self._do(_Calls.clock()))["now"]
        return now

    async def scenario(self, name: str, **scope: str) -> list[str]:
        ids: list[str] = await self._do(_Calls.scenario(name, scope))
        return ids

    async def rule(self, rule: dict[str, Any], **scope: str) -> list[str]:
        ids: list[str] = await self._do(_Calls.rule(rule, scope))
        return ids

    async def remove(self, rule_id: str | None = None) -> int:
        removed: int = await self._do(_Calls.remove(rule_id))
        return removed

    async def active(self) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = await self._do(_Calls.active())
        return rules

    async def session_faults(self, session_id: str, **faults: Any) -> dict[str, Any]:
        data: dict[str, Any] = await self._do(_Calls.session_faults(session_id, faults))
        return data

    async def mint_token(self, **options: Any) -> dict[str, Any]:
        data: dict[str, Any] = await self._do(_Calls.mint_token(options))
        return data

    async def revoke(self, token: str) -> None:
        await self._do(_Calls.revoke(token))

    async def journal(self, **filters: Any) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = await self._do(_journal(filters))
        return entries

    async def calls(self, operation: str, **filters: Any) -> list[dict[str, Any]]:
        return await self.journal(operation=operation, **filters)
