"""Obligations of tokens and sessions, and of each documented error code."""

from __future__ import annotations

import re
from typing import Any

from ..evidence import Evidence, Verdict, entry_ref
from .registry import (
    RETRY_AFTER_429,
    SUPPORTED_HINT,
    fail,
    idle,
    noted,
    obligation,
    ok,
    product_calls,
    timed,
)


def _token_calls(ev: Evidence) -> list[dict[str, Any]]:
    return ev.ops("createAnonymousToken")


@obligation("token_reused", "token", "one anonymous token serves every command")
def token_reused(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "token_reused"
    calls = _token_calls(ev)
    if len(product_calls(ev)) < 2:
        return idle(name, "fewer than two API calls")
    if len(calls) != 1:
        return fail(
            name,
            f"expected one token request for the whole run, saw {len(calls)}",
            *[entry_ref(ev, e) for e in calls],
        )
    return ok(name, "one token request, reused by every later call", entry_ref(ev, calls[0]))


@obligation("nemo_token_used", "token", "NEMO_TOKEN is used as is; no anonymous token")
def nemo_token_used(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "nemo_token_used"
    calls = _token_calls(ev)
    if calls:
        return fail(
            name,
            "NEMO_TOKEN was set, yet the client asked for an anonymous token",
            *[entry_ref(ev, e) for e in calls],
        )
    if not product_calls(ev):
        return idle(name, "no API call")
    return ok(name, "every call used NEMO_TOKEN")


def _after_code(ev: Evidence, code: int) -> list[dict[str, Any]]:
    return [e for e in ev.entries if e.get("code") == code]


@obligation("reauth_on_1001", "error:1001", "1001: re-authenticate with the same client id, retry")
def reauth_on_1001(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "reauth_on_1001"
    hits = _after_code(ev, 1001)
    if not hits:
        return idle(name, "no call was answered 1001")
    first = hits[0]
    before = [e for e in _token_calls(ev) if e["id"] < first["id"]]
    after = [e for e in ev.after(first) if e["operation"] == "createAnonymousToken"]
    if not after:
        return fail(name, "after 1001 the client never asked for a new token", entry_ref(ev, first))
    old = before[-1]["request"]["headers"].get("x-client-id") if before else None
    new = after[0]["request"]["headers"].get("x-client-id")
    if old and new != old:
        return fail(
            name,
            f"re-authenticated with another client id ({new!r} instead of {old!r})",
            entry_ref(ev, after[0]),
        )
    retried = [e for e in ev.after(after[0]) if e["operation"] == first["operation"]]
    if not retried:
        return fail(
            name,
            f"got a new token but never retried {first['operation']}",
            entry_ref(ev, first),
            entry_ref(ev, after[0]),
        )
    return ok(
        name,
        "re-authenticated with the same client id and retried",
        entry_ref(ev, first),
        entry_ref(ev, after[0]),
        entry_ref(ev, retried[0]),
    )


@obligation("new_session_on_1002", "error:1002", "1002: create a new session")
def new_session_on_1002(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "new_session_on_1002"
    hits = _after_code(ev, 1002)
    if not hits:
        return idle(name, "no call was answered 1002")
    created = [e for e in ev.after(hits[0]) if e["operation"] == "createSession"]
    if not created:
        return fail(
            name, "after 1002 the client never created a new session", entry_ref(ev, hits[0])
        )
    return ok(
        name, "a new session followed the 1002", entry_ref(ev, hits[0]), entry_ref(ev, created[0])
    )


@obligation(
    "register_link_on_2001", "error:2001", "2001 (anonymous): <web>/register?bind=<user_id>"
)
def register_link_on_2001(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "register_link_on_2001"
    hits = _after_code(ev, 2001)
    if not hits:
        return idle(name, "no call was answered 2001")
    links = [f"{ev.web_url}/register?bind={uid}" for uid in ev.user_ids]
    if not any(link in ev.output for link in links):
        return fail(
            name,
            f"expected the registration link {links[:1]} in the output",
            entry_ref(ev, hits[0]),
        )
    return ok(name, "the registration link with the user id was shown", entry_ref(ev, hits[0]))


@obligation("top_up_on_2001", "error:2001", "2001 (registered): tell the user to top up")
def top_up_on_2001(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "top_up_on_2001"
    hits = _after_code(ev, 2001)
    if not hits:
        return idle(name, "no call was answered 2001")
    if "top up" not in ev.output.lower():
        return fail(
            name, "a registered user out of credits was not told to top up", entry_ref(ev, hits[0])
        )
    if "/register?bind=" in ev.output:
        return fail(name, "a registered user was sent to the registration page")
    return ok(name, "told to top up", entry_ref(ev, hits[0]))


@obligation("formats_on_4001", "error:4001", "4001: show the supported formats")
def formats_on_4001(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "formats_on_4001"
    hits = _after_code(ev, 4001)
    local = p.get("local", False)
    if not hits and not local:
        return idle(name, "no upload was answered 4001")
    lower = ev.output.lower()
    missing = [f for f in SUPPORTED_HINT if f not in lower]
    if missing:
        return fail(name, f"the supported formats were not shown (missing {missing})")
    if local and ev.ops("uploadFiles"):
        return fail(
            name,
            "the client uploaded a file its own format check should have refused",
            *[entry_ref(ev, e) for e in ev.ops("uploadFiles")],
        )
    return ok(name, "the supported formats were shown")


@obligation("compress_on_4002", "error:4002", "4002: suggest compressing or trimming")
def compress_on_4002(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "compress_on_4002"
    hits = _after_code(ev, 4002)
    if not hits:
        return idle(name, "no upload was answered 4002")
    if not re.search(r"compress|trim|shorter|smaller", ev.output, re.I):
        return fail(name, "no advice to compress or trim the file", entry_ref(ev, hits[0]))
    return ok(name, "advised to compress or trim", entry_ref(ev, hits[0]))


@obligation("new_client_id_on_400", "error:400", "400: generate a client id and retry")
def new_client_id_on_400(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "new_client_id_on_400"
    hits = [
        e for e in ev.entries if e["status"] == 400 and e["operation"] == "createAnonymousToken"
    ]
    if not hits:
        return idle(name, "no token request was answered 400")
    retry = [e for e in ev.after(hits[0]) if e["operation"] == "createAnonymousToken"]
    if not retry:
        return fail(name, "after 400 the client did not ask again", entry_ref(ev, hits[0]))
    old = hits[0]["request"]["headers"].get("x-client-id")
    new = retry[0]["request"]["headers"].get("x-client-id")
    if not new or new == old:
        return fail(
            name, "the retry did not carry a newly generated client id", entry_ref(ev, retry[0])
        )
    return ok(name, "retried with a new client id", entry_ref(ev, hits[0]), entry_ref(ev, retry[0]))


@obligation(
    "upgrade_on_402", "error:402", "402: register or upgrade to unlock export (not credits)"
)
def upgrade_on_402(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "upgrade_on_402"
    hits = [e for e in ev.entries if e.get("code") == 402]
    if not hits:
        return idle(name, "no call was answered 402")
    if not re.search(r"upgrade|register", ev.output, re.I):
        return fail(name, "no register/upgrade message after 402", entry_ref(ev, hits[0]))
    return ok(name, "told to register or upgrade", entry_ref(ev, hits[0]))


@obligation("retry_429_once", "error:429", "429: wait 30 s, retry once")
def retry_429_once(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "retry_429_once"
    hits = [e for e in ev.entries if e.get("code") == 429 or e["status"] == 429]
    if not hits:
        return idle(name, "no call was answered 429")
    first = hits[0]
    same = [e for e in ev.after(first) if e["operation"] == first["operation"]]
    if not same:
        return fail(name, "after 429 the client never retried", entry_ref(ev, first))
    gap = ev.t(same[0]) - ev.t(first)
    refs = (entry_ref(ev, first), entry_ref(ev, same[0]))
    status, t = timed(ev, "429 → retry", first, same[0], gap, RETRY_AFTER_429)
    if status != "pass":
        return Verdict(
            name,
            status,
            noted(f"retried {gap:.1f} s after the 429; the documents say wait 30 s", t),
            refs,
            t,
        )
    if same[0]["status"] == 429 or same[0].get("code") == 429:
        extra = same[1:]
        if extra:
            return fail(
                name,
                f"retried {len(same)} times; the documents say once",
                *[entry_ref(ev, e) for e in [first, *same]],
            )
    return Verdict(name, "pass", noted(f"one retry, {gap:.1f} s later", t), refs, t)


