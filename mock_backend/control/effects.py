"""What a fired rule does: side effects on the backend's state, and scripted responses.

Side effects change natural state so the documented behaviour follows by itself (drain the
credits and the next run answers 2001; expire the token and every call answers 1001 until the
client re-authenticates). Run and render effects are handed to those handlers as this request's
`Overrides`. Scripted responses are the documented envelope for a code, a raw status or body,
or a connection fault; each may wait on the mock's clock first.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import assert_never

from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from ..backend import Backend
from ..errors import ApiError
from ..media.uploads import too_large, unsupported
from ..openapi.envelope import Answer, StatusProfile, error_response
from ..openapi.validation import CLIENT_ID_REQUIRED
from ..state.accounts import (
    free_plan_export,
    not_enough_credits,
    session_not_found,
    token_expired,
    too_many_tokens_for_client,
)
from .overrides import Overrides
from .rules import Effect, RequestFacts, Rule

__all__ = ["apply_effects", "scripted_response"]


def _default_message(backend: Backend, code: int, facts: RequestFacts) -> str:
    """A scripted refusal says what the real one would: the same factory, this mock's settings
    (``--max-upload-mb``...). What only the real situation knows it leaves out: the file's name,
    the price of a run that was never planned."""
    settings = backend.settings
    match code:
        case 400:
            return CLIENT_ID_REQUIRED
        case 402:
            return free_plan_export().message
        case 429:
            return too_many_tokens_for_client(settings).message
        case 1001:
            return token_expired(settings.token_ttl).message
        case 1002:
            return session_not_found(facts.session_id).message
        case 2001:
            user = backend.store.get_user(facts.user_id) if facts.user_id else None
            return not_enough_credits(user, None).message
        case 4001:
            return unsupported("the file").message
        case 4002:  # as when Content-Length is past the limit: before any file name is read
            return too_large("the upload", settings.max_upload_bytes).message
    return f"scripted error {code}"


def apply_effects(
    backend: Backend, rule: Rule, facts: RequestFacts, overrides: Overrides
) -> Overrides:
    """Change the backend's state as the rule says, now; return ``overrides`` with the rule's
    per-request effects and stream faults added (those of earlier rules kept)."""
    store = backend.store
    token = store.get_token(facts.token) if facts.token else None
    user = store.get_user(token.user_id) if token else None
    for effect in rule.respond.effects:
        match effect:  # each case does nothing to a request without what it would change
            case Effect.EXPIRE_TOKEN:
                if token is not None:
                    # as if 7 days had passed for this token: expired, and out of the rate window
                    now = backend.clock.now()
                    token.expires_at = min(token.expires_at, now)
                    token.issued_at = min(token.issued_at, now - backend.settings.token_ttl)
                    store.put_token(token)
            case Effect.REVOKE_TOKEN:
                if token is not None:
                    token.revoked = True
                    store.put_token(token)
            case Effect.DRAIN_CREDITS:
                if user is not None:
                    user.available = 0
                    store.put_user(user)
            case Effect.FREE_PLAN:
                if user is not None:
                    user.plan = "free"
                    store.put_user(user)
            case Effect.FORGET_SESSION:
                if facts.session_id:
                    store.forget_session(facts.session_id)
            case Effect.SILENT_CLOSE:
                overrides = replace(overrides, silent_close=True)
            case Effect.TRAILING_ISSUE:
                overrides = replace(overrides, trailing_issue=True)
            case Effect.LEGACY_SHAPE:
                overrides = replace(overrides, legacy_shape=True)
            case Effect.SLOW_RENDER:
                overrides = replace(overrides, slow_render=True)
            case Effect.FAIL_RENDER:
                overrides = replace(overrides, fail_render=True)
            case Effect.LOSE_RENDER:
                overrides = replace(overrides, lose_render=True)
            case Effect.BREAK_OUTPUT_URL:
                overrides = replace(overrides, break_output_url=True)
            case Effect.REST_STATUSES:
                overrides = replace(overrides, rest_statuses=True)
            case _:
                assert_never(effect)
    if rule.respond.stream is not None:
        overrides = replace(overrides, stream=rule.respond.stream.over(overrides.stream))
    return overrides


def responds(rule: Rule) -> bool:
    r = rule.respond
    return r.code is not None or r.status is not None or r.body is not None or r.fault is not None


async def scripted_response(
    backend: Backend, rule: Rule, facts: RequestFacts, profile: StatusProfile
) -> Response:
    r = rule.respond
    if r.delay:
        await backend.clock.sleep(r.delay)
    if r.fault is not None:
        return _fault(backend, r.fault, r.delay)
    if r.code is not None:
        code = r.code
        message = r.message or _default_message(backend, code, facts)
        data = r.body.get("data") if isinstance(r.body, dict) else None
        response = error_response(ApiError(code, message, data=data), profile)
        if r.status is not None:
            response.status_code = r.status
        return response
    status = r.status or 200
    body = (
        r.body if r.body is not None else {"code": status, "message": r.message or "", "data": None}
    )
    return Answer(body, status_code=profile.status(status) if r.status is None else status)


class _Cut(Response):
    """Headers announce a body that never fully arrives: the connection drops mid-response."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b'{"code": 0, "message": "ok", "da'
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body) * 8).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _fault(backend: Backend, fault: str, delay: float) -> Response:
    if fault == "reset":
        return _Cut()
    if fault == "empty":
        return Response(b"", status_code=200, media_type="application/json")
    if fault == "malformed":
        return Response(b'{"code": 0, "message": "ok", "data": {', media_type="application/json")
    # dribble: a valid envelope, a few bytes at a time, one virtual second apart
    payload = json.dumps({"code": 0, "message": "ok (slowly)", "data": None}).encode()

    async def dribble() -> AsyncIterator[bytes]:
        for i in range(0, len(payload), 8):
            await backend.clock.sleep(1.0)
            yield payload[i : i + 8]

    return StreamingResponse(dribble(), media_type="application/json")
