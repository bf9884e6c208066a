"""Obligations of every run: attribution, secrets, output, an end, no re-sends."""

from __future__ import annotations

import re
from typing import Any

from ..evidence import SUITE_LINE, Evidence, Verdict, entry_ref
from .registry import (
    ENDLESS,
    RAW_JSON,
    TOOL_LEAKS,
    fail,
    idle,
    obligation,
    ok,
    product_calls,
)


@obligation("attribution_headers", "attribution", "X-Skill-Source/Version/Platform on every call")
def attribution_headers(ev: Evidence, p: dict[str, Any]) -> Verdict:
    name = "attribution_headers"
    calls = product_calls(ev)
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


