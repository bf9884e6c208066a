"""Tokens, sessions and credits: what a client must do when each runs out or goes wrong."""

from __future__ import annotations

from .scenario import CONVERT, EDIT, RENDER, VIDEO_FILE, ClientScenario, Step, named, scenario

__all__ = ["SCENARIOS"]

SCENARIOS: list[ClientScenario] = [
    scenario(
        "token-reuse",
        "token",
        "one anonymous token serves several commands",
        (Step("credits"), Step("credits"), Step("status")),
        ("token_reused", "credits_shown"),
    ),
    scenario(
        "nemo-token",
        "token",
        "NEMO_TOKEN is used as is",
        Step("credits"),
        ("nemo_token_used", "credits_shown"),
        registered={"plan": "pro"},
    ),
    scenario(
        "err-1001-expired",
        "error:1001",
        "the token expires: re-auth, same client id, retry",
        (Step("credits"), Step("credits")),
        ("reauth_on_1001", "credits_shown"),
        setup=named("token-expired", operation="getCredits", nth=2),
        trigger="token-expired",
    ),
    scenario(
        "err-1001-revoked",
        "error:1001",
        "the token is revoked: re-auth and retry",
        Step("credits"),
        ("reauth_on_1001",),
        setup=named("token-revoked", operation="getCredits"),
        trigger="token-revoked",
    ),
    scenario(
        "err-1001-mid-render",
        "error:1001",
        "the token expires while a render is polled",
        CONVERT,
        ("reauth_on_1001", "output_file_valid", *RENDER),
        setup=named("token-expired", operation="getRender", nth=2),
        trigger="token-expired",
        params=VIDEO_FILE,
    ),
    scenario(
        "err-1001-rest",
        "error:1001",
        "1001 with HTTP 401 (REST profile) is handled by code",
        Step("credits"),
        ("reauth_on_1001", "credits_shown"),
        setup=named("token-expired", operation="getCredits"),
        trigger="token-expired",
        settings={"error_status": "rest"},
    ),
    # -- sessions -----------------------------------------------------------------------------
    scenario(
        "err-1002-chat",
        "error:1002",
        "the session is lost before a chat: new session",
        (Step("chat", text="hello"), Step("chat", text=EDIT)),
        ("new_session_on_1002",),
        setup=named("session-lost", operation="runSse", nth=2),
        trigger="session-lost",
    ),
    scenario(
        "err-1002-status",
        "error:1002",
        "the session is lost before a state read",
        (Step("chat", text="hello"), Step("status")),
        ("new_session_on_1002",),
        setup=named("session-lost", operation="getSessionState"),
        trigger="session-lost",
    ),
    scenario(
        "err-1002-rest",
        "error:1002",
        "1002 with HTTP 404 (REST profile) is handled by code",
        (Step("chat", text="hello"), Step("status")),
        ("new_session_on_1002",),
        setup=named("session-lost", operation="getSessionState"),
        trigger="session-lost",
        settings={"error_status": "rest"},
    ),
    # -- credits ------------------------------------------------------------------------------
    scenario(
        "err-2001-anonymous",
        "error:2001",
        "out of credits (anonymous): registration link",
        (Step("upload", input="song"), Step("chat", text=EDIT)),
        ("register_link_on_2001",),
        setup=named("out-of-credits"),
        trigger="out-of-credits",
        expect="failure",
        about="credit",
    ),
    scenario(
        "err-2001-registered",
        "error:2001",
        "out of credits (registered): top up",
        (Step("upload", input="song"), Step("chat", text=EDIT)),
        ("top_up_on_2001", "nemo_token_used"),
        setup=named("out-of-credits-registered"),
        trigger="out-of-credits-registered",
        expect="failure",
        about="credit",
        registered={"plan": "pro"},
    ),
    scenario(
        "credits-display", "credits", "the balance is shown", Step("credits"), ("credits_shown",)
    ),
]
