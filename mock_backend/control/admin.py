"""The control API under ``/__mock/``: reset, the clock, registered tokens, scripted faults.

Not product operations, so not in openapi.yaml; documented in the README. It answers only
callers on loopback, unless the server was started with an admin token, which every control
call must then present as ``X-Mock-Admin-Token``.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import math
import os
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..agent.stream_config import InvalidStreamConfig, StreamFaults
from ..backend import Backend
from ..errors import ApiError
from ..namespace_settings import check_overrides
from ..namespaces import backend_of
from ..openapi import json_text
from ..openapi.envelope import OK_HEAD, Answer, compact, error_response
from ..openapi.json_text import JsonRejected
from ..openapi.limits import read_body
from ..state.clock import ClockError, check_advance
from .journal import counted_as, public
from .scenarios import CATALOGUE

__all__ = [
    "ADMIN_COOKIE",
    "SLEEP_PATH",
    "Endpoint",
    "admin_routes",
    "authorized",
    "guarded",
]

NAMED_LOOPBACK = {"localhost", "testclient"}  # the second: Starlette's TestClient


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1, and 127.x as an IPv4-mapped address (how a server listening on ``::``
    sees a caller on 127.0.0.1)."""
    if host in NAMED_LOOPBACK:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


Endpoint = Callable[[Request, Backend, dict[str, Any]], Awaitable[Any]]


def guarded(fn: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """A control endpoint: refused unless `_authorize` lets the caller in, given the body as a
    JSON object, answered in the envelope (or with the `Response` it returns). The console's
    page and feed go through it too, so they are exactly as open as the rest of the API.

    Every endpoint acts for all of a ``--workers`` server's processes (web/workers.py): none
    is left whose effect would stay in the one that answers."""

    async def endpoint(request: Request) -> Response:
        backend = backend_of(request)
        try:
            _authorize(request, backend)
            raw = await read_body(request, backend.limits.json_body_bytes)
            try:
                body = (
                    json_text.loads(raw, max_depth=backend.limits.json_depth) if raw.strip() else {}
                )
            except JsonRejected as exc:
                raise ApiError(422, f"body: {exc}", data={"field": "body"}) from None
            if not isinstance(body, dict):
                raise ApiError(422, "body: a JSON object is expected", data={"field": "body"})
            result = await fn(request, backend, body)
        except ApiError as error:
            return error_response(error, backend.control_profile)
        if isinstance(result, Response):
            return result
        return Answer.ok(result)

    return endpoint


ADMIN_COOKIE = "nemo_mock_admin"  # set by the console's sign-in (console.py), HttpOnly


def authorized(request: Request, backend: Backend) -> bool:
    """Whether the caller may use the control API (`_authorize` without the why)."""
    try:
        _authorize(request, backend)
    except ApiError:
        return False
    return True


def _authorize(request: Request, backend: Backend) -> None:
    expected = backend.settings.admin_token
    if expected:
        # the header, or the console's cookie (SameSite=Strict: no other site's page sends it)
        given = request.headers.get("x-mock-admin-token", "") or request.cookies.get(
            ADMIN_COOKIE, ""
        )
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise ApiError(
                403 if given else 401,
                "the control API needs the X-Mock-Admin-Token the server was started with",
            )
        return
    host = request.client.host if request.client else ""
    if not is_loopback(host):
        raise ApiError(
            403,
            "the control API answers only on loopback; start the server with --admin-token to "
            "use it from elsewhere",
        )


async def reset(request: Request, backend: Backend, body: dict[str, Any]) -> Any:
    seed = body.get("seed")
    if seed is not None and not isinstance(seed, int):
        raise ApiError(422, "body.seed: an integer is expected", data={"field": "body.seed"})
    backend.reset(seed)
    return {"seed": backend.rng.seed, "clock": backend.clock.describe()}


async def get_clock(request: Request, backend: Backend, body: dict[str, Any]) -> Any:
    """The clock, with what a verifier sets the client's timing against: ``wall`` (this
    process's wall time, on the journal's base), ``lateness`` (the most the mock's own timers
    fired late, virtual seconds) and, with ``?held_since=WALL``, the wall spans virtual time
    stood still since then (encodes and probes hold it). With --workers, the process's own."""
    shown: dict[str, Any] = {**backend.clock.describe()}
    wall, _ = backend.clock.stamp()
    shown.update(wall=wall, lateness=backend.clock.lateness)
    since = request.query_params.get("held_since")
    if since is not None:
        try:
            start = float(since)
        except ValueError:
            start = math.nan
        if not math.isfinite(start):
            raise ApiError(
                422,
                "query.held_since: wall time in seconds since the epoch (a clock's 'wall')",
                data={"field": "query.held_since"},
            )
        shown["held"] = [[s, e] for s, e in backend.clock.held_since(start)]
    return shown


MAX_SLEEP = 24 * 3600.0  # virtual seconds one sleep may ask for
SLEEP_PATH = "/__mock/clock/sleep"  # where a client sleeps on the mock's clock


async def sleep_on_clock(request: Request, backend: Backend, body: dict[str, Any]) -> Any:
    """``{"seconds": S}``, answered when the mock's clock has moved S virtual seconds on: a
    client's sleep taken on the mock's own clock (``time: mock`` in a client's manifest). The
    suite then knows where each of the client's waits lies in virtual time, as it does for an
    in-process client, and judges its timing exactly (see contract/timing.py): the journal
    keeps each sleep (its start, its end, and ``{slept, now}``, the answer)."""
    seconds = body.get("seconds")
    if (
        not isinstance(seconds, int | float)
        or isinstance(seconds, bool)
        or not 0 <= seconds <= MAX_SLEEP
    ):
        raise ApiError(
            422,
            f'body.seconds: virtual seconds from 0 to {MAX_SLEEP:g}, as in {{"seconds": 30}}',
            data={"field": "body.seconds"},
        )
    if backend.clock.rate is None:
        raise ApiError(
            409,
            "the clock is manual: a sleep on it would end only when someone moves it; move it "
            'with POST /__mock/clock {"advance": seconds}, or serve with --clock scaled:N',
        )
    await backend.clock.sleep(float(seconds))
    return {"slept": seconds, "now": backend.clock.now()}


async def move_clock(request: Request, backend: Backend, body: dict[str, Any]) -> Any:
    """``{"advance": seconds}`` moves forward by that much; ``{"to": seconds}`` moves forward to
    that virtual time (time never goes back: what happened stays in the past)."""
    field = "to" if "to" in body and "advance" not in body else "advance"
    seconds = body.get(field)
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise ApiError(
            422,
            f'body.{field}: seconds, as in {{"advance": 30}} or {{"to": 1800000000}}',
            data={"field": f"body.{field}"},
        )
    if field == "to":
        now = backend.clock.now()
        if seconds < now:
            raise ApiError(
                422,
                f"body.to: {seconds:g} is before the clock's {now:g}; it only moves forward",
                data={"field": "body.to"},
            )
        seconds = seconds - now
    try:
        if backend.clock_sync is not None:  # every worker's clock (--workers on Redis)
            check_advance(backend.clock, float(seconds))
            backend.clock_sync.move(float(seconds))
        else:
            backend.clock.advance(float(seconds))
    except ClockError as exc:
        raise ApiError(422, str(exc), data={"field": f"body.{field}"}) from None
    return backend.clock.describe()


async def mint_token(request: Request, backend: Backend, body: dict[str, Any]) -> Any:
    credits = body.get("credits")
    plan = body.get("plan", "pro")
    scopes = body.get("scopes")
    if credits is not None and (not isinstance(credits, int) or credits < 0):
        raise ApiError(422, "body.credits: a non-negative integer", data={"field": "body.credits"})
    if plan not in ("free", "pro"):
        raise ApiError(422, "body.plan: free or pro", data={"field": "body.plan"})
    if scopes is not None and not (
        isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)
    ):
        raise ApiError(422, "body.scopes: a list of scope names", data={"field": "body.scopes"})
    record, user = backend.accounts.mint_registered(
        credits=credits,
        plan=plan,
        scopes=tuple(scopes) if scopes is not None else None,
        seq=backend.next_id("registered"),
    )
    return {"token": record.token, "user_id": user.user_id, "plan": plan, "credits": user.available}


async def list_tokens(request: Request, backend: Backend, body: dict[str, Any]) -> Any:
    """Every token the namespace issued, in full: what a verifier looks for in a client's
    output and files (a leaked token). The control API is the admin's: loopback or the admin
    token; the journal never shows them."""
    return {
        "tokens": [
            {"token": t.token, "kind": t.kind, "user_id": t.user_id, "client_id": t.client_id}
            for t in backend.store.tokens()
        ]
    }


async def revoke_token(request: Request, backend: Backend, body: dict[str, Any]) -> Any:
    token = body.get("token")
    if not isinstance(token, str) or not backend.accounts.revoke(token):
        raise ApiError(404, "body.token: no such token", data={"field": "body.token"})
    return {"revoked": True}


async def session_faults(request: Request, backend: Backend, body: dict[str, Any]) -> Any:
    session_id = request.path_params["session_id"]
    session = backend.store.get_session(session_id)
    if session is None:
        raise ApiError(1002, f"Session {session_id} not found", data={"field": "path.session_id"})
    once = bool(body.pop("once", False))
    shape = body.pop("shape", None)
    if shape is not None and shape not in ("adk", "legacy"):
        raise ApiError(422, "body.shape: adk or legacy", data={"field": "body.shape"})
    try:
        faults = StreamFaults.from_dict(body)
    except InvalidStreamConfig as exc:
        raise ApiError(422, str(exc), data={"field": "body"}) from None
    backend.runs.script(session, faults, once=once, shape=shape)
    return {
        "session_id": session_id,
        "once": once,
        "faults": dataclasses.asdict(faults),
        "shape": shape,
    }


async def list_scenarios(request: Request, backend: Backend, body: dict[str, Any]) -> Any:
    return {
        "catalogue": [{"name": s.name, "description": s.description} for s in CATALOGUE.values()],
        "active": backend.scenarios.active(),
    }


async def add_scenario(request: Request, backend: Backend, body: dict[str, Any]) -> Any:
    rules = backend.scenarios.build(body)
    backend.scenarios.add(rules)
    return {"rules": [r.id for r in rules], "active": backend.scenarios.active()}


async def remove_scenarios(request: Request, backend: Backend, body: dict[str, Any]) -> Any:
    rule_id = request.query_params.get("id") or body.get("id")
    removed = backend.scenarios.remove(rule_id if isinstance(rule_id, str) else None)
    if rule_id and not removed:
        raise ApiError(404, f"no active rule {rule_id}", data={"field": "query.id"})
    return {"removed": removed}


_JOURNAL_FILTERS = ("token", "user_id", "client_id", "session_id", "operation")


async def read_journal(request: Request, backend: Backend, body: dict[str, Any]) -> Any:
    """Entries filtered by query parameters, with counts and virtual times for verification."""
    query = request.query_params
    filters: dict[str, Any] = {k: query[k] for k in _JOURNAL_FILTERS if k in query}
    # a token may also come in a header, so it never has to travel in a URL
    if "x-mock-token" in request.headers:
        filters["token"] = request.headers["x-mock-token"]
    for name in ("since", "until"):
        if name in query:
            try:
                filters[name] = float(query[name])
            except ValueError:
                raise ApiError(
                    422, f"query.{name}: virtual seconds", data={"field": f"query.{name}"}
                ) from None
    entries = backend.journal.shown(**filters)  # with --workers: every worker's
    counts: dict[str, int] = {}
    for entry in entries:
        key = counted_as(entry)
        counts[key] = counts.get(key, 0) + 1
    head = compact({"count": len(entries), "counts": counts})

    def chunks() -> Iterator[bytes]:
        """The same JSON as one response would be, written an entry at a time: a whole journal
        (20,000 entries, tens of MB) is never one dict and one string in memory, and it is
        written from a worker thread, so the server keeps answering while it goes out."""
        part = bytearray(OK_HEAD + head[:-1] + b',"entries":[')
        for n, entry in enumerate(entries):
            part += (b"," if n else b"") + compact(public(entry))
            if len(part) >= 256 * 1024:  # a few large writes: each one is a thread hop
                yield bytes(part)
                part.clear()
        yield bytes(part + b"]}}")

    return StreamingResponse(chunks(), media_type="application/json")


async def health(request: Request, backend: Backend, body: dict[str, Any]) -> Any:
    return {
        "status": "ok",
        "seed": backend.rng.seed,
        "clock": backend.clock.describe(),
        "error_status": backend.settings.error_status,
        "state": {**backend.store.counts(), **backend.journal.size()},
        "runs": len(backend.runs),  # agent runs going on in this process
        # which process answered: with --workers N, the journal's figures are its own
        "process": {"pid": os.getpid(), "workers": backend.settings.workers},
    }


async def list_namespaces(request: Request, backend: Backend, body: dict[str, Any]) -> Any:
    """The namespaces open now (made by X-Mock-Namespace or /__ns/NAME/), least recent first."""
    namespaces = request.app.state.namespaces
    return {
        "namespaces": namespaces.describe(),
        "limit": namespaces.limit,
        "idle_seconds": namespaces.idle_seconds,
    }


async def configure_namespace(request: Request, backend: Backend, body: dict[str, Any]) -> Any:
    """Give the caller's namespace settings of its own (namespace_settings.py), before anything
    else happens in it: a CI run's first call."""
    overrides = check_overrides(body)
    fresh = request.app.state.namespaces.configure(backend, overrides)
    return {
        "settings": fresh.store.settings_overrides(),
        "seed": fresh.rng.seed,
        "clock": fresh.clock.describe(),
        "error_status": fresh.settings.error_status,
    }


async def close_namespace(request: Request, backend: Backend, body: dict[str, Any]) -> Any:
    """Close the caller's namespace and forget its records: a CI run's last call."""
    return {"closed": request.app.state.namespaces.drop(backend)}


def admin_routes() -> list[Route]:
    return [
        Route("/__mock/health", guarded(health), methods=["GET"]),
        Route("/__mock/namespaces", guarded(list_namespaces), methods=["GET"]),
        Route("/__mock/namespace", guarded(close_namespace), methods=["DELETE"]),
        Route("/__mock/namespace", guarded(configure_namespace), methods=["PUT"]),
        Route("/__mock/reset", guarded(reset), methods=["POST"]),
        Route("/__mock/clock", guarded(get_clock), methods=["GET"]),
        Route("/__mock/clock", guarded(move_clock), methods=["POST"]),
        Route(SLEEP_PATH, guarded(sleep_on_clock), methods=["POST"]),
        Route("/__mock/tokens", guarded(list_tokens), methods=["GET"]),
        Route("/__mock/tokens", guarded(mint_token), methods=["POST"]),
        Route("/__mock/tokens/revoke", guarded(revoke_token), methods=["POST"]),
        Route("/__mock/sessions/{session_id}/faults", guarded(session_faults), methods=["POST"]),
        Route("/__mock/scenarios", guarded(list_scenarios), methods=["GET"]),
        Route("/__mock/scenarios", guarded(add_scenario), methods=["POST"]),
        Route("/__mock/scenarios", guarded(remove_scenarios), methods=["DELETE"]),
        Route("/__mock/journal", guarded(read_journal), methods=["GET"]),
    ]
