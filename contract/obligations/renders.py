"""Obligations of renders: polling, retries, fallbacks, delivery and the file."""

from __future__ import annotations

import itertools
import re
from typing import Any

from ..evidence import Evidence, Verdict, entry_ref
from .registry import (
    POLL_LIMIT,
    POLL_SPACING,
    fail,
    idle,
    obligation,
    ok,
    timed,
    worst,
)


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
    if len(worst[1]) > POLL_LIMIT:
        return fail(
            name,
            f"{worst[0]} was polled {len(worst[1])} times",
            entry_ref(ev, worst[1][POLL_LIMIT]),
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
        with av.open(str(path), metadata_errors="replace") as container:
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
