"""Tokens, claim tokens and credits."""

from __future__ import annotations

from ...errors import ApiError
from ...state.accounts import iso
from . import Call, Handler, Result


async def create_anonymous_token(call: Call) -> Result:
    client_id = call.params.headers["X-Client-Id"]
    ip = call.request.client.host if call.request.client else "unknown"
    record, user = call.backend.accounts.issue_anonymous(client_id, ip)
    return {
        "token": record.token,
        "user_id": user.user_id,
        "expires_at": iso(record.expires_at),
        "credits": user.available,
        "scopes": list(record.scopes),
    }


async def create_claim_token(call: Call) -> Result:
    session = call.session(call.body["session_id"], field="body.session_id")
    if session.task_id != call.body["task_id"]:
        raise ApiError(
            1002,
            f"Task {call.body['task_id']} has no session {session.session_id}; "
            "create a new session",
            data={"field": "body.task_id"},
        )
    record = call.backend.accounts.issue_claim(call.me, session.task_id, session.session_id)
    return {"claim_token": record.token, "expires_in": int(call.backend.settings.claim_ttl)}


async def get_credits(call: Call) -> Result:
    user = call.me.user
    return {"available": user.available, "frozen": user.frozen, "total": user.total}


HANDLERS = {
    "createAnonymousToken": Handler(create_anonymous_token),
    "createClaimToken": Handler(create_claim_token),
    "getCredits": Handler(get_credits),
}
