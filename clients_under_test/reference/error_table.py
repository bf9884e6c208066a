"""The error table of the skill documents: one row per body ``code``, in one place.

The backend may answer a business code with HTTP 200 or with a REST status (1001 → 401,
1002 → 404, 2001 → 403, 4001 → 415, 4002 → 413); the client branches on the body ``code`` alone.
400, 402 and 429 are HTTP statuses whose body ``code`` repeats the status.

A row names at most one recovery, which `api.Api` performs at most once per call before it
retries; when the recovery is used up, or the row has none, the row's failure is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from .errors import (
    AuthError,
    CreditsError,
    FileRejected,
    NemoClientError,
    PlanError,
    RateLimited,
    SessionError,
)
from .files import UploadRules

__all__ = ["RATE_LIMIT_WAIT_SECONDS", "TABLE", "FailureContext", "Recovery", "Rule", "rule_for"]

RATE_LIMIT_WAIT_SECONDS = 30.0


class Recovery(Enum):
    REAUTHENTICATE = "get a new anonymous token with the same client id, then retry once"
    NEW_SESSION = "create a new session, then retry once"
    NEW_CLIENT_ID = "generate and persist a new client id, then retry once"
    WAIT_AND_RETRY = "wait 30 s, then retry once"


@dataclass(frozen=True)
class FailureContext:
    """What the failure messages need to know about the caller."""

    web_url: str
    registered: bool  # NEMO_TOKEN was given (a registered account), not an anonymous token
    user_id: str | None
    upload_rules: UploadRules

    def register_link(self) -> str:
        bind = f"?bind={self.user_id}" if self.user_id else ""
        return f"{self.web_url}/register{bind}"


@dataclass(frozen=True)
class Rule:
    code: int
    meaning: str
    recovery: Recovery | None
    failure: Callable[[FailureContext], NemoClientError]


def _token_rejected(ctx: FailureContext) -> NemoClientError:
    if ctx.registered:
        return AuthError(
            "NEMO_TOKEN was rejected (invalid or expired). Set a valid token, or unset "
            "NEMO_TOKEN to use a free anonymous one."
        )
    return AuthError(
        "NemoVideo rejected the access token even after renewing it. Try again in a few minutes."
    )


def _out_of_credits(ctx: FailureContext) -> NemoClientError:
    if ctx.registered:
        return CreditsError("Out of credits. Top up credits in your account.")
    return CreditsError(f"Out of credits. Register to get more: {ctx.register_link()}")


def _plan_blocks_export(ctx: FailureContext) -> NemoClientError:
    message = "Register or upgrade your plan to unlock export."
    if not ctx.registered:
        message += f" Register here: {ctx.register_link()}"
    return PlanError(message)


TABLE: dict[int, Rule] = {
    rule.code: rule
    for rule in (
        Rule(1001, "bad or expired token", Recovery.REAUTHENTICATE, _token_rejected),
        Rule(
            1002,
            "session not found",
            Recovery.NEW_SESSION,
            lambda ctx: SessionError(
                "The project session could not be found, even after starting a new one. "
                "Run the command again."
            ),
        ),
        Rule(2001, "out of credits", None, _out_of_credits),
        Rule(
            4001,
            "unsupported file type",
            None,
            lambda ctx: FileRejected(ctx.upload_rules.unsupported_message()),
        ),
        Rule(
            4002,
            "file too large",
            None,
            lambda ctx: FileRejected(ctx.upload_rules.too_large_message()),
        ),
        Rule(
            400,
            "missing X-Client-Id",
            Recovery.NEW_CLIENT_ID,
            lambda ctx: AuthError(
                "NemoVideo keeps asking for a client id even after a new one was generated. "
                "Set NEMO_CLIENT_ID to a UUID, or set NEMO_TOKEN, and try again."
            ),
        ),
        Rule(402, "free plan cannot export", None, _plan_blocks_export),
        Rule(
            429,
            "rate limited",
            Recovery.WAIT_AND_RETRY,
            lambda ctx: RateLimited(
                "NemoVideo is rate limiting this client (one free token per client every 7 days). "
                "Waited 30 s and retried once; try again later, or set NEMO_TOKEN to a token "
                "from your account."
            ),
        ),
    )
}


def rule_for(code: int) -> Rule | None:
    return TABLE.get(code)
