"""Tokens, users and credits: who is calling, what they may do, and what they can afford.

The refusals about a caller's standing are built here, by the functions at the end, for the real
checks and for the scripted refusals of rules alike (`control.effects`), so both say the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..errors import ApiError
from ..settings import DAY, Settings
from .clock import Clock
from .randomness import Randomness
from .store import Store, TokenRecord, UserRecord

__all__ = [
    "ANONYMOUS_SCOPES",
    "Accounts",
    "Caller",
    "free_plan_export",
    "not_enough_credits",
    "session_not_found",
    "token_expired",
    "too_many_tokens_for_client",
]

ANONYMOUS_SCOPES = ("read", "write", "upload")
REGISTERED_SCOPES = ("read", "write", "upload", "render", "*")
TOKEN_HINT = "get a new one from /api/auth/anonymous-token with the same X-Client-Id"


@dataclass(frozen=True)
class Caller:
    token: TokenRecord
    user: UserRecord

    @property
    def user_id(self) -> str:
        return self.user.user_id


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Accounts:
    def __init__(self, store: Store, clock: Clock, rng: Randomness, settings: Settings) -> None:
        self.store = store
        self.clock = clock
        self.rng = rng
        self.settings = settings

    # -- tokens -------------------------------------------------------------------------------
    def issue_anonymous(self, client_id: str, ip: str) -> tuple[TokenRecord, UserRecord]:
        """A token for ``client_id``: its still-valid one, or a new one within the rate limits."""
        now = self.clock.now()
        window_start = now - self.settings.rate_window
        mine = [t for t in self.store.tokens_for_client(client_id) if t.kind == "anonymous"]
        for record in reversed(mine):
            if not record.revoked and record.expires_at > now:
                user = self.store.get_user(record.user_id)
                if user is not None:
                    return record, user
        # a revoked token frees its slot (x-assumed): the client's documented answer to 1001 is
        # to ask again with the same client id, which must then work
        recent = [t for t in mine if t.issued_at > window_start and not t.revoked]
        if len(recent) >= self.settings.tokens_per_client_id:
            raise too_many_tokens_for_client(self.settings)
        from_ip = [t for t in self.store.issues_from_ip(ip) if t > window_start]
        if len(from_ip) >= self.settings.tokens_per_ip:
            raise ApiError(
                429,
                f"Too many new tokens from this address ({self.settings.tokens_per_ip} per "
                f"{_days(self.settings.rate_window)}); retry in 30 s",
                data={"limit": "per_ip", "retry_after": 30},
            )
        key: tuple[object, ...] = ("client", client_id, len(mine))
        if self.settings.draws == "order":  # the n-th anonymous token of this mock, whoever asks
            key = ("order", sum(1 for t in self.store.tokens() if t.kind == "anonymous"))
        # a client id keeps its anonymous user across tokens (x-assumed): re-authenticating
        # after 1001 must not lose the user's sessions, renders and credits
        previous = self.store.get_user(mine[-1].user_id) if mine else None
        user = previous or UserRecord(
            user_id="anon_" + self.rng.token_hex(6, *key, "user"),
            registered=False,
            plan=None,
            available=self.settings.anonymous_credits,
        )
        record = TokenRecord(
            token="nmv_usr_" + self.rng.token_hex(16, *key, "token"),
            kind="anonymous",
            user_id=user.user_id,
            scopes=ANONYMOUS_SCOPES,
            issued_at=now,
            expires_at=now + self.settings.token_ttl,
            client_id=client_id,
        )
        if previous is None:  # never put back a user read earlier: its credits may have moved
            self.store.put_user(user)
        self.store.put_token(record)
        self.store.record_issue(ip, now)
        return record, user

    def mint_registered(
        self, *, credits: int | None, plan: str, scopes: tuple[str, ...] | None, seq: int
    ) -> tuple[TokenRecord, UserRecord]:
        """A registered NEMO_TOKEN (admin API): all scopes and a plan tier unless told otherwise."""
        now = self.clock.now()
        key = ("registered", seq)
        user = UserRecord(
            user_id="usr_" + self.rng.token_hex(6, *key, "user"),
            registered=True,
            plan=plan,
            available=self.settings.registered_credits if credits is None else credits,
        )
        record = TokenRecord(
            token="nmv_usr_" + self.rng.token_hex(16, *key, "token"),
            kind="registered",
            user_id=user.user_id,
            scopes=scopes if scopes is not None else REGISTERED_SCOPES,
            issued_at=now,
            expires_at=now + 365 * self.settings.token_ttl,
        )
        self.store.put_user(user)
        self.store.put_token(record)
        return record, user

    def issue_claim(self, caller: Caller, task_id: str, session_id: str) -> TokenRecord:
        now = self.clock.now()
        record = TokenRecord(
            token="clm_" + self.rng.token_hex(12, "claim", caller.user_id, session_id, now),
            kind="claim",
            user_id=caller.user_id,
            scopes=(),
            issued_at=now,
            expires_at=now + self.settings.claim_ttl,
            task_id=task_id,
            session_id=session_id,
        )
        self.store.put_token(record)
        return record

    def authenticate(self, authorization: str | None, scope: str | None) -> Caller:
        """The caller behind an ``Authorization: Bearer`` header, or 1001."""
        if not authorization:
            raise ApiError(1001, f"Authorization: Bearer <token> is required; {TOKEN_HINT}")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(1001, f"Authorization must be 'Bearer <token>'; {TOKEN_HINT}")
        record = self.store.get_token(value.strip())
        if record is None:
            raise ApiError(1001, f"Token is invalid; {TOKEN_HINT}")
        if record.kind == "claim":
            raise ApiError(
                1001, "A claim token only opens the task in the browser; it has no API access"
            )
        if record.revoked:
            raise ApiError(1001, f"Token was revoked; {TOKEN_HINT}")
        if record.expires_at <= self.clock.now():
            raise token_expired(self.settings.token_ttl)
        user = self.store.get_user(record.user_id)
        if user is None:
            raise ApiError(1001, f"Token is invalid; {TOKEN_HINT}")
        if scope and not self._allows(record, scope):
            raise ApiError(1001, f"Token lacks the '{scope}' scope this call needs")
        return Caller(record, user)

    @staticmethod
    def _allows(record: TokenRecord, scope: str) -> bool:
        if "*" in record.scopes or scope in record.scopes:
            return True
        # anonymous tokens export: the documents' own flows do (see bearerAuth x-scopes)
        return record.kind == "anonymous" and scope == "render"

    def revoke(self, token: str) -> bool:
        record = self.store.get_token(token)
        if record is None:
            return False
        record.revoked = True
        self.store.put_token(record)
        return True

    # -- credits ------------------------------------------------------------------------------
    def freeze(self, user: UserRecord, amount: int) -> None:
        """Reserve ``amount`` for work in progress, or 2001 when it is not there.

        Atomic in the store (`Store.freeze`): two runs racing for the last credits, in one
        process or in several, never both get them. ``user`` is read only for its id.
        """
        if amount <= 0:
            return
        if self.store.freeze(user.user_id, amount):
            return
        raise not_enough_credits(self.store.get_user(user.user_id) or user, amount)

    def settle(self, user_id: str, frozen: int, charged: int) -> None:
        """End reserved work: ``charged`` of the ``frozen`` amount is spent, the rest released."""
        self.store.settle(user_id, frozen, charged)


# -- refusals ---------------------------------------------------------------------------------
def _days(seconds: float) -> str:
    days = seconds / DAY
    return "1 day" if days == 1 else f"{days:g} days"


def token_expired(ttl: float) -> ApiError:
    return ApiError(1001, f"Token expired (tokens last {_days(ttl)}); {TOKEN_HINT}")


def session_not_found(session_id: str | None, field: str = "path.session_id") -> ApiError:
    """1002: the session is gone, or is not the caller's."""
    which = f"Session {session_id}" if session_id else "Session"
    return ApiError(1002, f"{which} not found; create a new session", data={"field": field})


def not_enough_credits(user: UserRecord | None, amount: int | None) -> ApiError:
    """2001 for ``user``, whose work costs ``amount``; a scripted refusal may know neither."""
    if user is None:
        return ApiError(2001, "Not enough credits for this request")
    needs = f"this needs {amount}, " if amount is not None else ""
    return ApiError(
        2001,
        f"Not enough credits: {needs}{user.available} available",
        data={
            "user_id": user.user_id,
            "registered": user.registered,
            "required": amount,
            "available": user.available,
        },
    )


def free_plan_export() -> ApiError:
    return ApiError(
        402,
        "Export is not available on the free plan. Register or upgrade your plan to unlock export.",
        data={"reason": "plan"},
    )


def too_many_tokens_for_client(settings: Settings) -> ApiError:
    return ApiError(
        429,
        f"Too many token requests for this client id ({settings.tokens_per_client_id} per "
        f"{_days(settings.rate_window)}); retry in 30 s",
        data={"limit": "per_client_id", "retry_after": 30},
    )
