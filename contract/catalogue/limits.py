"""The client id, the plan and the rate limits."""

from __future__ import annotations

from .scenario import CONVERT, ClientScenario, Step, named, scenario

__all__ = ["SCENARIOS"]

SCENARIOS: list[ClientScenario] = [
    scenario(
        "err-400",
        "error:400",
        "400 on the token call: a new client id, retry",
        Step("credits"),
        ("new_client_id_on_400", "credits_shown"),
        setup=named("missing-client-id"),
        trigger="missing-client-id",
    ),
    scenario(
        "err-402-plan",
        "error:402",
        "the free plan blocks export: register or upgrade",
        CONVERT,
        ("upgrade_on_402",),
        setup=named("free-plan-export-blocked"),
        trigger="free-plan-export-blocked",
        expect="failure",
        about="plan|upgrade|register",
    ),
    scenario(
        "err-402-attribution",
        "error:402",
        "export refused for missing attribution: 402 message",
        CONVERT,
        ("upgrade_on_402",),
        setup=named("missing-attribution"),
        trigger="missing-attribution",
        expect="failure",
        about="attribution|header|upgrade|register|plan",
    ),
    scenario(
        "err-429",
        "error:429",
        "rate limited: wait 30 s, retry once",
        Step("credits"),
        ("retry_429_once", "credits_shown"),
        setup=named("rate-limited"),
        trigger="rate-limited",
    ),
    scenario(
        "err-429-twice",
        "error:429",
        "rate limited twice: one retry only, then a message",
        Step("credits"),
        ("retry_429_once",),
        setup=({"name": "rate-limited", "times": 2},),
        trigger="rate-limited",
        expect="failure",
        about="rate|limit|too many|later",
    ),
    scenario(
        "err-429-ip",
        "error:429",
        "rate limited per IP: wait 30 s, retry once",
        Step("credits"),
        ("retry_429_once",),
        setup=named("rate-limited-ip"),
        trigger="rate-limited-ip",
    ),
]
