"""Obligations of the stream: what is shown, silent closes, heartbeats, drops, stalls,
errors, and the credits a run leaves."""

from __future__ import annotations

import itertools
import re
from typing import Any

from mock_backend.web.sse import CLIENT_CLOSED

from ..evidence import Evidence, Verdict, entry_ref
from ..timing import timing
from .registry import (
    GUI_PHRASES,
    HEARTBEAT_TIMEOUT,
    RECOVERY_EVERY,
    RECOVERY_FIRST,
    STILL_WORKING_EVERY,
    TOOL_LEAKS,
    clocking_of,
    fail,
    idle,
    noted,
    obligation,
    ok,
    timed,
    worst,
)


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
    noise = clocking_of(ev).noise
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
    clocking = clocking_of(ev)
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
        lo, hi = clocking_of(ev).reaction(end - entry["virtual_start"], entry)
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
