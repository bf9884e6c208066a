"""Obligations: the documented rules a client must follow, each a small named check.

A check reads the `Evidence` of one run and returns a `Verdict`. It never passes vacuously:
when what it judges did not happen (no 429 was answered, no render was polled), it says
"not exercised" and why, and the scenario's trigger decides whether that is a failure.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mock_backend.web.sse import CLIENT_CLOSED

from .evidence import SUITE_LINE, Evidence, Status, Timing, Verdict, entry_ref
from .timing import Clocking, timing

__all__ = ["OBLIGATIONS", "Obligation", "judge"]

Check = Callable[[Evidence, dict[str, Any]], Verdict]

POLL_SPACING = 30.0  # "poll every 30 s"
RETRY_AFTER_429 = 30.0  # "retry once after 30 s"
HEARTBEAT_TIMEOUT = 600.0  # "ten minutes of heartbeats only means a timeout"
STILL_WORKING_EVERY = 120.0  # "every 2 min of heartbeats: ⏳ Still working..."
RECOVERY_FIRST, RECOVERY_EVERY = 30.0, 60.0  # "wait 30 s, query state; … wait 60 s"
# Longer than any job the documents allow: a 15-minute stream, ten polls 30 s apart and a
# retry of both, a 429 wait. A step the client itself keeps going past this never ends.
ENDLESS = 1800.0
SUPPORTED_HINT = ("mp4", "mp3", "wav", "png")
GUI_PHRASES = re.compile(
    r"click (the|on)|open the .{0,30}panel|drag (the|and)|export button|点击|打开|拖拽", re.I
)
TOOL_LEAKS = re.compile(
    r"functionCall|functionResponse|invocationId|tool_call|tool_result|\"args\""
)
RAW_JSON = re.compile(r"\{\s*\"(code|data|message)\"\s*:")


@dataclass(frozen=True)
class Obligation:
    name: str
    rule: str  # the documented rule it judges, as the matrix groups them
    summary: str
    check: Check
    source: str = "seed"  # where the rule is written: the skills (seed) or upstream v1.9 only


OBLIGATIONS: dict[str, Obligation] = {}


# Rules written only in upstream SKILL.md v1.9, not in the two skill documents: a client built
# from the documents alone may lack them, and the reports say so.
V19_ONLY = frozenset(
    {
        "claim_link",
        "retry_new_id_after_failure",
        "download_fallback",
        "export_precheck",
        "heartbeat_timeout",
        "disconnect_recovery",
        "trailing_issue_ignored",
        "no_token_in_url",
        "at_most_10_polls",
        "no_resend",
    }
)


def obligation(name: str, rule: str, summary: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        source = "v1.9" if name in V19_ONLY else "seed"
        OBLIGATIONS[name] = Obligation(name, rule, summary, check, source)
        return check

    return register


def ok(name: str, detail: str, *refs: str) -> Verdict:
    return Verdict(name, "pass", detail, refs)


def fail(name: str, detail: str, *refs: str) -> Verdict:
    return Verdict(name, "fail", detail, refs)


def idle(name: str, detail: str) -> Verdict:
    return Verdict(name, "not_exercised", detail)


def _clocking(ev: Evidence) -> Clocking:
    return ev.clocking or Clocking(scale=1.0)


def timed(
    ev: Evidence,
    what: str,
    a: dict[str, Any],
    b: dict[str, Any],
    value: float,
    low: float,
    high: float | None = None,
    *,
    from_end: bool = False,
) -> tuple[Status, Timing]:
    """A gap from entry ``a`` to entry ``b`` (``value`` virtual seconds) against the documents'
    ``[low, high]``, decided outside the measured noise (see `contract.timing`)."""
    clocking = _clocking(ev)
    span = clocking.span(value, a, b, from_end=from_end)
    start = float((a.get("virtual_end") if from_end else None) or a["virtual_start"])
    start -= ev.virtual_start
    end = start + value
    return timing(what, value, low, high, span, start, end, clocking.lag)


def noted(detail: str, t: Timing) -> str:
    """The detail of a timing verdict, with how much of the value may be noise."""
    if t.noise < 0.05 and t.lag < 0.05:
        return detail
    return f"{detail} (measured noise up to {t.noise:.1f} s, lag {t.lag:.1f} s)"


def worst(
    name: str, results: Sequence[tuple[Status, Timing, str, tuple[str, ...]]], summary: str
) -> Verdict:
    """One verdict from several timed gaps: the first broken, else the first noisy, else the
    tightest passing one (the smallest distance to its bound)."""
    for wanted in ("fail", "noisy"):
        for status, t, detail, refs in results:
            if status == wanted:
                return Verdict(name, status, noted(detail, t), refs, t)
    _, t, _, refs = min(results, key=lambda r: r[1].value - r[1].noise - r[1].low)
    return Verdict(name, "pass", noted(summary, t), refs, t)


def judge(name: str, evidence: Evidence, params: dict[str, Any] | None = None) -> Verdict:
    try:
        return OBLIGATIONS[name].check(evidence, params or {})
    except Exception as exc:  # a check that crashes is a bug of the suite, reported as such
        return fail(name, f"the check itself failed: {type(exc).__name__}: {exc}")


def _product(ev: Evidence) -> list[dict[str, Any]]:
    return [e for e in ev.entries if e["operation"]]


# -- every run ------------------------------------------------------------------------------


@obligation("attribution_headers", "attribution", "X-Skill-Source/Version/Platform on every call")
def attribution_headers(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "attribution_headers"
    calls = _product(ev)
    if not calls:
        return idle(name, "the client made no API call")
    wanted = ("x-skill-source", "x-skill-version", "x-skill-platform")
    bad = [e for e in calls if not all(e["request"]["headers"].get(h) for h in wanted)]
    if bad:
        missing = sorted({h for e in bad for h in wanted if not e["request"]["headers"].get(h)})
        return fail(
            name,
            f"{len(bad)} of {len(calls)} calls lack {', '.join(missing)}",
            *[entry_ref(ev, e) for e in bad[:5]],
        )
    return ok(name, f"all {len(calls)} calls carry the three attribution headers")


@obligation("no_token_in_url", "secrets", "a token never appears in a URL")
def no_token_in_url(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "no_token_in_url"
    if not ev.entries:
        return idle(name, "the client made no request")
    bad = [e for e in ev.entries if re.search(r"nmv_usr_|clm_", e["path"])]
    if bad:
        return fail(name, "a token was put in the URL (v1.9: P0)", *[entry_ref(ev, e) for e in bad])
    return ok(name, f"no token in the {len(ev.entries)} request URLs")


@obligation("no_token_in_output", "secrets", "the client never prints an API token")
def no_token_in_output(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "no_token_in_output"
    if not ev.tokens:
        return idle(name, "no token was issued")
    leaked = [t for t in ev.tokens if t in ev.output]
    if leaked:
        return fail(name, f"{len(leaked)} API token(s) printed by the client (not shown here)")
    if re.search(r"nmv_usr_[A-Za-z0-9]{8,}", ev.output):
        return fail(name, "something shaped like an API token was printed")
    return ok(name, f"none of the {len(ev.tokens)} tokens issued appears in the output")


@obligation("no_raw_api_output", "output", "raw API JSON and tool events stay internal")
def no_raw_api_output(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "no_raw_api_output"
    if not ev.output.strip():
        return idle(name, "the client printed nothing")
    for pattern, what in ((RAW_JSON, "a raw API envelope"), (TOOL_LEAKS, "a tool event")):
        found = pattern.search(ev.output)
        if found:
            excerpt = ev.output[max(0, found.start() - 40) : found.end() + 40]
            return fail(name, f"the output shows {what}: …{excerpt!r}…")
    return ok(name, "no raw envelope or tool event in the output")


@obligation("actionable_failure", "output", "a failure ends with a message and a non-zero exit")
def actionable_failure(ev: Evidence, p: dict[str, Any]) -> Verdict:
    """A failed job ends with the client's own message (never the suite's), naming what went
    wrong (``about``: a pattern of the scenario), and a non-zero exit."""
    name = "actionable_failure"
    if "Traceback (most recent call last)" in ev.output:
        return fail(name, "the client crashed with a traceback")
    if ev.killed:
        return fail(name, f"the client did not finish: {ev.killed}")
    expect = p.get("expect", "success")
    lines = [
        line
        for line in ev.stderr.strip().splitlines()
        if line.strip() and not line.startswith(SUITE_LINE)
    ]
    if expect == "success":
        if ev.exit_code != 0:
            last = (lines or ev.stdout.strip().splitlines())[-1:] or ["(no output)"]
            return fail(name, f"expected success, exit code {ev.exit_code}: {last[0]!r}")
        return ok(name, "the job succeeded (exit 0)")
    if expect == "failure" and ev.exit_code == 0:
        return fail(name, "expected the job to fail with a message, it exited 0")
    if ev.exit_code == 0:
        return ok(name, "the job succeeded (exit 0)")
    if not lines:
        return fail(name, f"exit {ev.exit_code} with no message of the client's on stderr")
    about = p.get("about")
    if about and not re.search(about, "\n".join(lines), re.I):
        return fail(
            name,
            f"exit {ev.exit_code}, but the message does not say what went wrong "
            f"(expected it to match /{about}/): {lines[-1][:120]!r}",
        )
    return ok(name, f"exit {ev.exit_code}; last message: {lines[-1][:120]!r}")


@obligation("no_endless_loop", "output", "every job ends on its own, within the documents' time")
def no_endless_loop(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "no_endless_loop"
    if not ev.steps:
        return idle(name, "no step of the client ran")
    if not ev.killed:
        return ok(name, "every step ended on its own")
    detail = f"the suite had to stop the client: {ev.killed}"
    if ev.killed_virtual is None:  # stopped on the wall-clock limit: hung, whatever the scale
        return fail(name, detail)
    # stopped on the virtual limit: real work (the client's, the mock's) is inflated by the
    # scale, so the client surely meant to run past half the limit (longer than any documented
    # job) only if the time left once all of it is taken off is still over it
    noise = ev.killed_noise
    meant = ev.killed_virtual - noise
    if meant > ENDLESS:
        return fail(name, f"{detail}; at least {meant:.0f} s of it the client's own doing")
    return Verdict(name, "noisy", f"{detail}, of which up to {noise:.0f} s may be noise")


@obligation("no_resend", "sse", "a message is never sent twice")
def no_resend(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "no_resend"
    # a request refused before its stream started (1001, 1002, 2001...) did no work: sending it
    # again is a retry, not a duplicate
    runs = [e for e in ev.ops("runSse") if e["status"] == 200 and e.get("code") in (None, 0)]
    if not runs:
        return idle(name, "no chat message was accepted")
    texts: dict[str, list[dict[str, Any]]] = {}
    for entry in runs:
        body = entry["request"].get("body") or {}
        parts = (
            ((body.get("new_message") or {}).get("parts") or [{}])
            if isinstance(body, dict)
            else [{}]
        )
        texts.setdefault(str(parts[0].get("text")), []).append(entry)
    again = {t: es for t, es in texts.items() if len(es) > 1}
    if again:
        text, entries = next(iter(again.items()))
        return fail(
            name,
            f"the message {text[:60]!r} was sent {len(entries)} times (work and charges doubled)",
            *[entry_ref(ev, e) for e in entries],
        )
    return ok(name, f"{len(runs)} message(s), each sent once")


# -- tokens and sessions --------------------------------------------------------------------


def _token_calls(ev: Evidence) -> list[dict[str, Any]]:
    return ev.ops("createAnonymousToken")


@obligation("token_reused", "token", "one anonymous token serves every command")
def token_reused(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "token_reused"
    calls = _token_calls(ev)
    if len(_product(ev)) < 2:
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
    if not _product(ev):
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


# -- renders --------------------------------------------------------------------------------


def _polls_by_id(ev: Evidence) -> dict[str, list[dict[str, Any]]]:
    """Polls that were answered (a call refused with 1001 and retried is one poll, not two)."""
    polls: dict[str, list[dict[str, Any]]] = {}
    for entry in ev.ops("getRender"):
        if entry.get("code") not in (0, None):
            continue
        polls.setdefault(entry["path"].rstrip("/").rsplit("/", 1)[-1], []).append(entry)
    return polls


@obligation("polls_30s_apart", "render", "render polls at least 30 s apart")
def polls_30s_apart(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "polls_30s_apart"
    polls = _polls_by_id(ev)
    if not any(len(v) >= 2 for v in polls.values()):
        return idle(name, "no render was polled twice")
    results = []
    for render_id, entries in polls.items():
        for a, b in itertools.pairwise(entries):
            gap = ev.t(b) - ev.t(a)
            status, t = timed(ev, "poll → poll", a, b, gap, POLL_SPACING)
            detail = f"{render_id} polled {gap:.1f} s after the previous poll"
            results.append((status, t, detail, (entry_ref(ev, a), entry_ref(ev, b))))
    n = sum(len(v) for v in polls.values())
    return worst(name, results, f"{n} polls, each ≥ 30 s after the previous")


@obligation("at_most_10_polls", "render", "at most 10 polls per render")
def at_most_10_polls(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "at_most_10_polls"
    polls = _polls_by_id(ev)
    if not polls:
        return idle(name, "no render was polled")
    worst = max(polls.items(), key=lambda kv: len(kv[1]))
    if len(worst[1]) > 10:
        return fail(
            name, f"{worst[0]} was polled {len(worst[1])} times", entry_ref(ev, worst[1][10])
        )
    return ok(name, f"at most {len(worst[1])} polls per render")


@obligation(
    "retry_new_id_after_failure", "render", "a failed render is submitted again once, new id"
)
def retry_new_id_after_failure(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "retry_new_id_after_failure"
    failed = [
        e
        for e in ev.ops("getRender")
        if isinstance(e.get("response"), dict) and e["response"].get("status") == "failed"
    ]
    if not failed:
        return idle(name, "no render failed")
    submits = ev.ops("submitRender")
    ids = [((e["request"].get("body") or {}).get("id")) for e in submits]
    after = [e for e in submits if e["id"] > failed[0]["id"]]
    if not after:
        return fail(name, "the failed render was never submitted again", entry_ref(ev, failed[0]))
    if len(set(ids)) != len(ids):
        return fail(name, f"a render id was reused: {ids}", *[entry_ref(ev, e) for e in submits])
    if len(submits) > 2:
        return fail(
            name,
            f"{len(submits)} submissions; the documents say retry once",
            *[entry_ref(ev, e) for e in submits],
        )
    return ok(
        name, "submitted once more with a new id", entry_ref(ev, failed[0]), entry_ref(ev, after[0])
    )


@obligation(
    "download_fallback", "render", "output.url failing → GET /api/render/proxy/<id>/download"
)
def download_fallback(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "download_fallback"
    broken = [
        e
        for e in ev.entries
        if e["operation"] is None and "/cdn/renders/" in e["path"] and e["status"] != 200
    ]
    if not broken:
        return idle(name, "output.url never failed")
    fallback = [e for e in ev.after(broken[0]) if e["operation"] == "downloadRender"]
    if not fallback:
        return fail(
            name, "output.url failed and the fallback path was not tried", entry_ref(ev, broken[0])
        )
    return ok(
        name, "fell back to the download path", entry_ref(ev, broken[0]), entry_ref(ev, fallback[0])
    )


@obligation("export_precheck", "render", "no render is submitted for an empty draft")
def export_precheck(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "export_precheck"
    if ev.ops("submitRender"):
        return fail(
            name,
            "a render was submitted for a draft with no segments",
            *[entry_ref(ev, e) for e in ev.ops("submitRender")],
        )
    if not ev.ops("getSessionState"):
        return fail(name, "the client never read the draft before exporting")
    if not re.search(r"nothing|empty|no (tracks|content|timeline)", ev.output, re.I):
        return fail(name, "the user was not told there is nothing to export")
    return ok(name, "read the draft, found nothing, submitted nothing, said so")


@obligation("claim_link", "delivery", "after delivery, a claim link <web>/workspace/claim?ct=…")
def claim_link(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "claim_link"
    calls = ev.ops("createClaimToken")
    if not calls:
        return fail(name, "no claim token was requested after delivery")
    if f"{ev.web_url}/workspace/claim?ct=clm_" not in ev.output:
        return fail(name, "the browser claim link was not shown", entry_ref(ev, calls[0]))
    return ok(name, "claim link shown", entry_ref(ev, calls[0]))


@obligation(
    "output_file_valid", "delivery", "the delivered file opens with the right format and length"
)
def output_file_valid(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "output_file_valid"
    path = ev.output_file
    if path is None or not path.exists() or path.stat().st_size == 0:
        return fail(name, f"no output file at {path}")
    import av

    try:
        with av.open(str(path)) as container:
            duration = (container.duration or 0) / 1_000_000
            kinds = sorted({s.type for s in container.streams})
            codecs = sorted({s.codec_context.name for s in container.streams})
    except Exception as exc:
        return fail(name, f"{path.name} does not open as media: {exc}")
    want = p.get("kinds")
    if want and sorted(want) != kinds:
        return fail(name, f"{path.name} has streams {kinds}, expected {sorted(want)}")
    expected = ev.job_inputs.get("duration")
    if expected and abs(duration - expected) > 0.6:
        return fail(name, f"{path.name} lasts {duration:.2f} s, the input {expected:.2f} s")
    return ok(name, f"{path.name}: {', '.join(codecs)}, {duration:.2f} s")


# -- the stream -----------------------------------------------------------------------------


@obligation("tool_events_hidden", "sse", "tool calls and results are never shown")
def tool_events_hidden(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "tool_events_hidden"
    tools: set[str] = set()
    for entry in ev.ops("runSse"):
        for event in entry.get("events", []):
            data = event.get("data")
            for part in _parts(data):
                call = part.get("functionCall") or part.get("functionResponse") or {}
                if call.get("name"):
                    tools.add(call["name"])
            if isinstance(data, dict) and data.get("type") in ("tool_call", "tool_result"):
                tools.add(str(data.get("name")))
    if not tools:
        return idle(name, "the agent sent no tool event")
    shown = [t for t in tools if t in ev.output]
    if shown or TOOL_LEAKS.search(ev.output):
        return fail(name, f"tool events reached the user: {shown or 'raw tool JSON'}")
    return ok(name, f"{len(tools)} tool name(s) sent, none shown")


@obligation("agent_text_shown", "sse", "the agent's text reaches the user (after GUI translation)")
def agent_text_shown(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "agent_text_shown"
    texts = [t for t in ev.texts() if "temporary issue" not in t]
    if not texts:
        return idle(name, "the agent sent no text")
    # words the client could print without showing the reply (the request it sent, the
    # timeline's names, GUI words it translates) prove nothing
    sent = " ".join(str(e["request"].get("body")) for e in ev.ops("runSse"))
    names = " ".join(str(e.get("response")) for e in ev.ops("getSessionState"))
    common = {"button", "export", "panel", "timeline", "preview", "upload", "uploaded"}
    judged = 0
    for text in texts:
        # a sentence telling the user to click or drag something is for the client to turn
        # into an action, not to show (gui_translated judges that): its words are not looked for
        shown_part = " ".join(s for s in _sentences(text) if not GUI_PHRASES.search(s))
        words = {
            w
            for w in re.findall(r"[A-Za-z]{6,}|[\u4e00-\u9fff]{2,}", shown_part)
            if w.lower() not in common and w not in sent and w not in names
        }
        if not words:
            continue
        judged += 1
        shown = [w for w in words if w in ev.output]
        if len(shown) < len(words) / 2:
            return fail(
                name,
                f"a reply of the agent did not reach the user: {text[:100]!r} "
                f"({len(shown)} of its {len(words)} distinctive words shown)",
            )
    if not judged:
        return idle(name, "the replies had no distinctive words to look for")
    return ok(name, f"{judged} repl(ies) shown")


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?。！？])\s*", text) if s.strip()]


@obligation("gui_translated", "sse", "GUI instructions are translated into actions")
def gui_translated(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "gui_translated"
    gui = [t for t in ev.texts() if GUI_PHRASES.search(t)]
    if not gui:
        return idle(name, "the agent sent no GUI instruction")
    found = GUI_PHRASES.search(ev.output)
    if found:
        return fail(name, f"a GUI instruction reached the user untranslated: {found.group(0)!r}")
    return ok(name, f"{len(gui)} GUI instruction(s) translated")


@obligation("trailing_issue_ignored", "sse", "a trailing 'temporary issue' text is ignored")
def trailing_issue_ignored(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "trailing_issue_ignored"
    if not any("temporary issue" in t for t in ev.texts()):
        return idle(name, "no trailing temporary-issue text was sent")
    if "temporary issue" in ev.output:
        return fail(name, "the trailing 'I encountered a temporary issue' reached the user")
    return ok(name, "the trailing text was not shown")


def _parts(data: Any) -> list[dict[str, Any]]:
    content = data.get("content") if isinstance(data, dict) else None
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts or [] if isinstance(p, dict)]


def _has_text(data: Any) -> bool:
    if isinstance(data, dict) and data.get("type") == "text":
        return True
    return any("text" in part for part in _parts(data))


def _has_tool(data: Any) -> bool:
    if isinstance(data, dict) and data.get("type") in ("tool_call", "tool_result"):
        return True
    return any("functionCall" in part or "functionResponse" in part for part in _parts(data))


def _silent_runs(ev: Evidence) -> list[dict[str, Any]]:
    """Runs that closed normally with tool events and no text at all."""
    silent = []
    for entry in ev.ops("runSse"):
        events = [e.get("data") for e in entry.get("events", [])]
        if (
            entry["status"] == 200
            and any(map(_has_tool, events))
            and not any(map(_has_text, events))
        ):
            silent.append(entry)
    return silent


@obligation("silent_close_reported", "sse", "a silent close → read state, report what changed")
def silent_close_reported(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "silent_close_reported"
    silent = _silent_runs(ev)
    if not silent:
        return idle(name, "no run closed without text")
    states = [e for e in ev.after(silent[0]) if e["operation"] == "getSessionState"]
    if not states:
        return fail(
            name,
            "the stream closed with no text and the client never read the state",
            entry_ref(ev, silent[0]),
        )
    # judged on what the client printed during that chat, not earlier ("✅ Uploaded …")
    said = ev.output_of_step_with(silent[0])
    if "✅" not in said and not re.search(r"added|changed|updated", said, re.I):
        return fail(
            name, "state was read but no change was reported to the user", entry_ref(ev, states[0])
        )
    return ok(
        name,
        "read the state and reported the change",
        entry_ref(ev, silent[0]),
        entry_ref(ev, states[0]),
    )


@obligation("still_working_notice", "sse", "'⏳ Still working...' every 2 minutes of heartbeats")
def still_working_notice(ev: Evidence, p: dict[str, Any]) -> Verdict:
    """Quiet stretches (no text for the user) of a stream: one notice per full 2 minutes.

    The stretches are the mock's (exact); where the client's own clock puts their ends may be off
    by the measured noise, so the count due lies in a range, and a count only that noise could
    explain is noisy, not decided."""
    name = "still_working_notice"
    noise = _clocking(ev).noise
    exact = low = high = 0
    longest = 0.0
    for entry in ev.ops("runSse"):
        events = entry.get("events", [])
        beats = entry.get("heartbeats", [])
        if not events and not beats:
            continue
        marks = [entry["virtual_start"]]
        marks += [e["virtual"] for e in events if _has_text(e.get("data"))]
        marks.append(max([e["virtual"] for e in events[-1:]] + beats[-1:]))
        for a, b in itertools.pairwise(marks):
            exact += int((b - a) // STILL_WORKING_EVERY)
            low += int(max(0.0, b - a - noise) // STILL_WORKING_EVERY)
            high += int((b - a + noise) // STILL_WORKING_EVERY)
            longest = max(longest, b - a)
    if high == 0:
        return idle(name, f"no stream was quiet for 2 minutes (longest {longest:.0f} s)")
    count = ev.output.count("Still working")
    due = f"{exact}" if low == high else f"{low}-{high}"
    detail = (
        f"quiet stretches (longest {longest:.0f} s) call for {due} notice(s) "
        f"(one per full 2 minutes); the client showed {count}"
    )
    if count < low or count > high or count == 0:
        return fail(name, detail)
    if low != high and count != exact:
        return Verdict(name, "noisy", f"{detail}; only the noise ({noise:.1f} s) allows it")
    return ok(name, detail)


@obligation("heartbeat_timeout", "sse", "10 minutes of heartbeats only = a timeout")
def heartbeat_timeout(ev: Evidence, p: dict[str, Any]) -> Verdict:
    """Give up after 600 s of heartbeats only: not before, and no later than the first heartbeat
    after it (a client reading the stream notices the time when a line arrives)."""
    name = "heartbeat_timeout"
    runs = ev.ops("runSse")
    if not runs or not ev.rule_fired("heartbeats-only"):
        return idle(name, "no heartbeat-only stream was served")
    entry = runs[0]
    end = entry.get("virtual_end") or entry["virtual_start"]
    held = end - entry["virtual_start"]
    beats = [entry["virtual_start"], *(entry.get("heartbeats") or [])]
    cadence = max((b - a for a, b in itertools.pairwise(beats)), default=0.0)
    clocking = _clocking(ev)
    start = entry["virtual_start"] - ev.virtual_start
    status, t = timing(
        "stream held",
        held,
        HEARTBEAT_TIMEOUT,
        HEARTBEAT_TIMEOUT + cadence,
        clocking.reaction(held, entry),
        start,
        start + held,
        clocking.lag,
    )
    ref = entry_ref(ev, entry)
    if status == "fail" and held > HEARTBEAT_TIMEOUT:
        return Verdict(
            name,
            status,
            noted(f"the client held a heartbeat-only stream for {held:.0f} s (limit 600 s)", t),
            (ref,),
            t,
        )
    if status == "fail":
        detail = f"the client gave up after {held:.0f} s, before 10 minutes"
        return Verdict(name, status, noted(detail, t), (ref,), t)
    if status == "noisy":
        detail = f"held {held:.0f} s; 600-{600 + cadence:.0f} s expected"
        return Verdict(name, status, noted(detail, t), (ref,), t)
    if not re.search(
        r"time(d)? ?out|too long|no (response|reply)|gave up|giving up", ev.output, re.I
    ):
        return fail(name, "the client stopped waiting without telling the user why", ref)
    return Verdict(name, "pass", noted(f"gave up after {held:.0f} s and said so", t), (ref,), t)


@obligation("disconnect_recovery", "sse", "a dropped stream → state at 30 s, then every 60 s (≤ 5)")
def disconnect_recovery(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "disconnect_recovery"
    cut = [e for e in ev.ops("runSse") if any("cut" in n for n in e.get("notes", []))]
    if not cut:
        return idle(name, "no stream was cut")
    end = cut[0].get("virtual_end") or cut[0]["virtual_start"]
    states = [e for e in ev.after(cut[0]) if e["operation"] == "getSessionState"]
    if not states:
        return fail(
            name, "the stream dropped and the state was never queried", entry_ref(ev, cut[0])
        )
    first_gap = states[0]["virtual_start"] - end
    results = []
    status, t = timed(
        ev, "drop → state", cut[0], states[0], first_gap, RECOVERY_FIRST, from_end=True
    )
    detail = f"first state query {first_gap:.1f} s after the drop (expected 30 s)"
    results.append((status, t, detail, (entry_ref(ev, cut[0]), entry_ref(ev, states[0]))))
    for a, b in itertools.pairwise(states):
        gap = b["virtual_start"] - a["virtual_start"]
        status, t = timed(ev, "state → state", a, b, gap, RECOVERY_EVERY)
        detail = f"state queries {gap:.1f} s apart after the first (expected 60 s)"
        results.append((status, t, detail, (entry_ref(ev, a), entry_ref(ev, b))))
    if len(states) > 6:
        return fail(name, f"{len(states)} state queries (at most 1 + 5)")
    return worst(name, results, f"{len(states)} state quer(ies), first after {first_gap:.0f} s")


@obligation("lost_render_reported", "render", "a render that vanished (404): say so, stop polling")
def lost_render_reported(ev: Evidence, p: dict[str, Any]) -> Verdict:
    """The orphaned render must reach the client: a poll answered 404. Then the client stops
    polling that id and its message says the render was lost."""
    name = "lost_render_reported"
    lost = [e for e in ev.ops("getRender") if e["status"] == 404 or e.get("code") == 404]
    if not lost:
        polled = len(ev.ops("getRender"))
        return idle(name, f"no poll was answered 404 ({polled} polls): the loss never showed")
    render_id = lost[0]["path"].rstrip("/").rsplit("/", 1)[-1]
    again = [
        e for e in ev.after(lost[0]) if e["operation"] == "getRender" and render_id in e["path"]
    ]
    if len(again) > 1:
        return fail(
            name,
            f"{render_id} answered 404 and was polled {len(again)} more times",
            entry_ref(ev, lost[0]),
            entry_ref(ev, again[-1]),
        )
    if not re.search(r"not found|lost|gone|no longer|missing|404|vanish", ev.output, re.I):
        return fail(
            name, "the render was lost (404) and the output does not say so", entry_ref(ev, lost[0])
        )
    return ok(name, "the 404 reached the client; it stopped and said so", entry_ref(ev, lost[0]))


STALL_NOTE = re.compile(r"stall at \+(?P<after>[\d.]+) s for (?P<span>[\d.]+) s")


@obligation("stall_met", "sse", "a stalled stream: waited out, or left and recovered")
def stall_met(ev: Evidence, p: dict[str, Any]) -> Verdict:
    """The stall must reach the client: its stream was still open when the stall began. Then it
    either held on until the stall ended, or left and recovered without re-sending (state
    queries, or a message saying the run may still be going)."""
    name = "stall_met"
    for entry in ev.ops("runSse"):
        match = next((m for n in entry.get("notes") or [] if (m := STALL_NOTE.search(n))), None)
        if match is None:
            continue
        after, span = float(match["after"]), float(match["span"])
        end = entry.get("virtual_end") or entry["virtual_start"]
        ref = entry_ref(ev, entry)
        if CLIENT_CLOSED not in (entry.get("notes") or []) and end - entry["virtual_start"] >= (
            after + span
        ):
            # the mock ended the stream, after the stall: the client held on to the end (its
            # last clock reading may be long before that: it was blocked reading)
            return ok(name, f"held the stream through the {span:g} s stall", ref)
        # how long the client held the stream: its own doing, within the measured noise
        lo, hi = _clocking(ev).reaction(end - entry["virtual_start"], entry)
        if hi <= after:
            return idle(
                name,
                f"the client left the stream {hi:.1f} s in, before the stall began at +{after:g} s",
            )
        if lo <= after:
            return Verdict(
                name,
                "noisy",
                f"the client left {lo:.1f}-{hi:.1f} s in: whether the stall (from +{after:g} s) "
                "had begun is inside the noise",
                (ref,),
            )
        if lo >= after + span:
            return ok(name, f"held the stream through the {span:g} s stall", ref)
        states = [e for e in ev.after(entry) if e["operation"] == "getSessionState"]
        if states or re.search(
            r"still (running|working|going)|check (back|later)", ev.output, re.I
        ):
            return ok(
                name,
                f"left {lo - after:.0f} s into the stall and recovered without re-sending",
                ref,
            )
        if hi >= after + span:
            return Verdict(
                name, "noisy", f"left {lo:.1f}-{hi:.1f} s in, around the stall's end", (ref,)
            )
        return fail(
            name,
            f"left {lo - after:.0f} s into the stall and neither queried the state nor told "
            "the user the run may still be going",
            ref,
        )
    return idle(name, "no stream was stalled")


@obligation("run_error_reported", "sse", "an error event mid-stream is told to the user")
def run_error_reported(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "run_error_reported"
    errors = [
        e
        for e in ev.ops("runSse")
        for x in e.get("events", [])
        if isinstance(x.get("data"), dict)
        and ("error" in x["data"] or x["data"].get("type") == "error")
    ]
    if not errors:
        return idle(name, "no error event was sent")
    if not re.search(r"fail|error|went wrong|try again", ev.output, re.I):
        return fail(name, "the run's error was not told to the user", entry_ref(ev, errors[0]))
    return ok(name, "the error was reported", entry_ref(ev, errors[0]))


@obligation("credits_shown", "credits", "credits shown as available/frozen/total, never negative")
def credits_shown(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "credits_shown"
    calls = [e for e in ev.ops("getCredits") if e.get("code") == 0]
    if not calls:
        return idle(name, "no balance was read")
    data = (calls[-1].get("response") or {}).get("data") or {}
    if re.search(r"-\d", ev.output):
        return fail(name, "a negative number was shown")
    missing = [
        str(v) for v in (data.get("available"),) if v is not None and str(v) not in ev.output
    ]
    if missing:
        return fail(name, f"the available balance {missing[0]} was not shown")
    return ok(name, f"balance shown ({data.get('available')} available)")
