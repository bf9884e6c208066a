"""The client scenarios: a mock setup, a job for the client, and the obligations judged after.

Every scenario runs on a mock of its own (its own seed and clock), so scenarios run in parallel
without seeing each other. ``setup`` entries are what ``POST /__mock/scenarios`` takes (a named
scenario, optionally narrowed by ``match``, or an explicit ``rule``). ``trigger`` names the rule
that must have fired for the scenario to count: if it never fired (the client never reached that
step), the scenario is reported as not exercised instead of passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ALWAYS", "CATALOGUE", "ClientScenario", "Step"]

# Judged on every run: the rules that hold whatever the job.
ALWAYS = (
    "attribution_headers",
    "no_token_in_url",
    "no_token_in_output",
    "no_raw_api_output",
    "actionable_failure",
    "no_resend",
    "no_endless_loop",
)


@dataclass(frozen=True)
class Step:
    job: str  # convert | extract | chat | credits | status | export | upload
    text: str = ""  # chat
    input: str = ""  # song | clip | cover | notes (a generated file) for convert/extract/upload
    format: str = "mp4"  # export


@dataclass(frozen=True)
class ClientScenario:
    id: str
    rule: str  # the documented rule, as the matrix groups scenarios
    title: str
    steps: tuple[Step, ...]
    obligations: tuple[str, ...]
    setup: tuple[dict[str, Any], ...] = ()
    trigger: str | None = None  # a rule name that must fire ("token-expired"), or None
    expect: str = "success"  # success | failure | any
    about: str | None = None  # a failure's message must match this (what went wrong)
    registered: dict[str, Any] | None = None  # NEMO_TOKEN: options for POST /__mock/tokens
    settings: dict[str, Any] = field(default_factory=dict)  # mock Settings overrides
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-obligation parameters

    @property
    def all_obligations(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*ALWAYS, *self.obligations]))


CONVERT = Step("convert", input="song")
EXTRACT = Step("extract", input="clip")
EDIT = "add a title 'Summer Nights'"
VIDEO_FILE = {"output_file_valid": {"kinds": ["audio", "video"]}}
MP3_FILE = {"output_file_valid": {"kinds": ["audio"]}}
RENDER = ("polls_30s_apart", "at_most_10_polls")


def _sc(
    id: str,
    rule: str,
    title: str,
    steps: tuple[Step, ...] | Step,
    obligations: tuple[str, ...],
    **kw: Any,
) -> ClientScenario:
    return ClientScenario(
        id, rule, title, steps if isinstance(steps, tuple) else (steps,), obligations, **kw
    )


def _named(name: str, **match: Any) -> tuple[dict[str, Any], ...]:
    request: dict[str, Any] = {"name": name}
    if match:
        request["match"] = match
    return (request,)


SCENARIOS = [
    # -- the jobs of both skills ------------------------------------------------------------
    _sc(
        "happy-convert",
        "delivery",
        "a song becomes a shareable MP4",
        CONVERT,
        ("output_file_valid", "tool_events_hidden", *RENDER),
        params=VIDEO_FILE,
    ),
    _sc(
        "happy-extract",
        "delivery",
        "a video becomes an MP3",
        EXTRACT,
        ("output_file_valid", *RENDER),
        params=MP3_FILE,
    ),
    _sc(
        "delivery-claim-link",
        "delivery",
        "after delivery, the task opens in the browser through a claim link (v1.9)",
        EXTRACT,
        ("claim_link", "output_file_valid"),
        params=MP3_FILE,
    ),
    _sc(
        "happy-convert-portrait",
        "delivery",
        "a song becomes a portrait MP4",
        Step("convert", input="song", text="portrait"),
        ("output_file_valid", *RENDER),
        params=VIDEO_FILE,
    ),
    # -- tokens -------------------------------------------------------------------------------
    _sc(
        "token-reuse",
        "token",
        "one anonymous token serves several commands",
        (Step("credits"), Step("credits"), Step("status")),
        ("token_reused", "credits_shown"),
    ),
    _sc(
        "nemo-token",
        "token",
        "NEMO_TOKEN is used as is",
        Step("credits"),
        ("nemo_token_used", "credits_shown"),
        registered={"plan": "pro"},
    ),
    _sc(
        "err-1001-expired",
        "error:1001",
        "the token expires: re-auth, same client id, retry",
        (Step("credits"), Step("credits")),
        ("reauth_on_1001", "credits_shown"),
        setup=_named("token-expired", operation="getCredits", nth=2),
        trigger="token-expired",
    ),
    _sc(
        "err-1001-revoked",
        "error:1001",
        "the token is revoked: re-auth and retry",
        Step("credits"),
        ("reauth_on_1001",),
        setup=_named("token-revoked", operation="getCredits"),
        trigger="token-revoked",
    ),
    _sc(
        "err-1001-mid-render",
        "error:1001",
        "the token expires while a render is polled",
        CONVERT,
        ("reauth_on_1001", "output_file_valid", *RENDER),
        setup=_named("token-expired", operation="getRender", nth=2),
        trigger="token-expired",
        params=VIDEO_FILE,
    ),
    _sc(
        "err-1001-rest",
        "error:1001",
        "1001 with HTTP 401 (REST profile) is handled by code",
        Step("credits"),
        ("reauth_on_1001", "credits_shown"),
        setup=_named("token-expired", operation="getCredits"),
        trigger="token-expired",
        settings={"error_status": "rest"},
    ),
    # -- sessions -----------------------------------------------------------------------------
    _sc(
        "err-1002-chat",
        "error:1002",
        "the session is lost before a chat: new session",
        (Step("chat", text="hello"), Step("chat", text=EDIT)),
        ("new_session_on_1002",),
        setup=_named("session-lost", operation="runSse", nth=2),
        trigger="session-lost",
    ),
    _sc(
        "err-1002-status",
        "error:1002",
        "the session is lost before a state read",
        (Step("chat", text="hello"), Step("status")),
        ("new_session_on_1002",),
        setup=_named("session-lost", operation="getSessionState"),
        trigger="session-lost",
    ),
    _sc(
        "err-1002-rest",
        "error:1002",
        "1002 with HTTP 404 (REST profile) is handled by code",
        (Step("chat", text="hello"), Step("status")),
        ("new_session_on_1002",),
        setup=_named("session-lost", operation="getSessionState"),
        trigger="session-lost",
        settings={"error_status": "rest"},
    ),
    # -- credits ------------------------------------------------------------------------------
    _sc(
        "err-2001-anonymous",
        "error:2001",
        "out of credits (anonymous): registration link",
        (Step("upload", input="song"), Step("chat", text=EDIT)),
        ("register_link_on_2001",),
        setup=_named("out-of-credits"),
        trigger="out-of-credits",
        expect="failure",
        about="credit",
    ),
    _sc(
        "err-2001-registered",
        "error:2001",
        "out of credits (registered): top up",
        (Step("upload", input="song"), Step("chat", text=EDIT)),
        ("top_up_on_2001", "nemo_token_used"),
        setup=_named("out-of-credits-registered"),
        trigger="out-of-credits-registered",
        expect="failure",
        about="credit",
        registered={"plan": "pro"},
    ),
    _sc("credits-display", "credits", "the balance is shown", Step("credits"), ("credits_shown",)),
    # -- files --------------------------------------------------------------------------------
    _sc(
        "err-4001",
        "error:4001",
        "the backend refuses the file type: show formats",
        Step("upload", input="song"),
        ("formats_on_4001",),
        setup=_named("unsupported-file"),
        trigger="unsupported-file",
        expect="failure",
        about="format|support",
    ),
    _sc(
        "err-4001-local",
        "error:4001",
        "a .txt file is refused before upload: show formats",
        Step("upload", input="notes"),
        ("formats_on_4001",),
        expect="failure",
        about="format|support",
        params={"formats_on_4001": {"local": True}},
    ),
    _sc(
        "err-4002",
        "error:4002",
        "the file is too large: suggest compressing or trimming",
        Step("upload", input="song"),
        ("compress_on_4002",),
        setup=_named("file-too-large"),
        trigger="file-too-large",
        expect="failure",
        about="large|size|MB|compress",
    ),
    _sc(
        "err-4002-rest",
        "error:4002",
        "4002 with HTTP 413 (REST profile) is handled by code",
        Step("upload", input="song"),
        ("compress_on_4002",),
        setup=_named("file-too-large"),
        trigger="file-too-large",
        expect="failure",
        about="large|size|MB|compress",
        settings={"error_status": "rest"},
    ),
    # -- client id, plan, rate limits ---------------------------------------------------------
    _sc(
        "err-400",
        "error:400",
        "400 on the token call: a new client id, retry",
        Step("credits"),
        ("new_client_id_on_400", "credits_shown"),
        setup=_named("missing-client-id"),
        trigger="missing-client-id",
    ),
    _sc(
        "err-402-plan",
        "error:402",
        "the free plan blocks export: register or upgrade",
        CONVERT,
        ("upgrade_on_402",),
        setup=_named("free-plan-export-blocked"),
        trigger="free-plan-export-blocked",
        expect="failure",
        about="plan|upgrade|register",
    ),
    _sc(
        "err-402-attribution",
        "error:402",
        "export refused for missing attribution: 402 message",
        CONVERT,
        ("upgrade_on_402",),
        setup=_named("missing-attribution"),
        trigger="missing-attribution",
        expect="failure",
        about="attribution|header|upgrade|register|plan",
    ),
    _sc(
        "err-429",
        "error:429",
        "rate limited: wait 30 s, retry once",
        Step("credits"),
        ("retry_429_once", "credits_shown"),
        setup=_named("rate-limited"),
        trigger="rate-limited",
    ),
    _sc(
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
    _sc(
        "err-429-ip",
        "error:429",
        "rate limited per IP: wait 30 s, retry once",
        Step("credits"),
        ("retry_429_once",),
        setup=_named("rate-limited-ip"),
        trigger="rate-limited-ip",
    ),
    # -- renders ------------------------------------------------------------------------------
    _sc(
        "render-slow",
        "render",
        "a slow render: polls 30 s apart, at most 10",
        CONVERT,
        ("output_file_valid", *RENDER),
        setup=_named("slow-render"),
        trigger="slow-render",
        params=VIDEO_FILE,
    ),
    _sc(
        "render-retry",
        "render",
        "a render fails: submit again once with a new id",
        CONVERT,
        ("retry_new_id_after_failure", "output_file_valid", *RENDER),
        setup=_named("render-failed-then-succeeds"),
        trigger="render-failed-then-succeeds",
        params=VIDEO_FILE,
    ),
    _sc(
        "render-fails-twice",
        "render",
        "renders keep failing: two submissions, then a message",
        CONVERT,
        ("retry_new_id_after_failure", "at_most_10_polls"),
        setup=_named("render-failed"),
        trigger="render-failed",
        expect="failure",
        about="render|fail",
    ),
    _sc(
        "download-fallback",
        "render",
        "output.url fails: download through the fallback path",
        CONVERT,
        ("download_fallback", "output_file_valid"),
        setup=_named("output-url-broken"),
        trigger="output-url-broken",
        params=VIDEO_FILE,
    ),
    _sc(
        "render-orphaned",
        "render",
        "the render job is lost: a clear message, no endless poll",
        CONVERT,
        ("lost_render_reported",),
        setup=_named("orphaned-render"),
        trigger="orphaned-render",
        expect="failure",
        about="render",
    ),
    _sc(
        "render-stuck",
        "render",
        "a render that never finishes in time: at most 10 polls, then a clear message",
        EXTRACT,
        ("at_most_10_polls", "polls_30s_apart"),
        settings={"render_seconds": (900.0, 900.0)},
        expect="failure",
        about="render|finish|checks",
    ),
    _sc(
        "export-empty",
        "render",
        "export of an empty project: nothing submitted, told so",
        (Step("chat", text="hello"), Step("export")),
        ("export_precheck",),
        expect="failure",
        about="empty|nothing|timeline|track",
    ),
    _sc(
        "extract-render-retry",
        "render",
        "an MP3 render fails once: retried with a new id",
        EXTRACT,
        ("retry_new_id_after_failure", "output_file_valid"),
        setup=_named("render-failed-then-succeeds"),
        trigger="render-failed-then-succeeds",
        params=MP3_FILE,
    ),
    # -- the stream ---------------------------------------------------------------------------
    _sc(
        "sse-text-and-tools",
        "sse",
        "text shown, tool events hidden",
        (
            Step("upload", input="song"),
            Step("chat", text=EDIT),
            Step("chat", text="hello, what can you do?"),
        ),
        ("tool_events_hidden", "agent_text_shown"),
    ),
    _sc(
        "sse-gui-translation",
        "sse",
        "GUI instructions in a reply are translated",
        Step("chat", text="how do I export my video?"),
        ("gui_translated",),
    ),
    _sc(
        "sse-gui-chinese",
        "sse",
        "Chinese GUI instructions (点击/导出) are translated",
        Step("chat", text="怎么导出视频？"),
        ("gui_translated",),
    ),
    _sc(
        "sse-silent-close",
        "sse",
        "an edit closes with no text: read state, report the change",
        (Step("upload", input="song"), Step("chat", text=EDIT)),
        ("silent_close_reported",),
        setup=_named("silent-close"),
        trigger="silent-close",
    ),
    _sc(
        "sse-still-working",
        "sse",
        "5 minutes of heartbeats: '⏳ Still working...' every 2 minutes",
        Step("chat", text="hello, what can you do?"),
        ("still_working_notice",),
        setup=(
            {
                "rule": {
                    "name": "long-wait",
                    "match": {"operation": "runSse"},
                    "respond": {"stream": {"heartbeats_only_for": 300.0}},
                }
            },
        ),
        trigger="long-wait",
    ),
    _sc(
        "sse-heartbeat-timeout",
        "sse",
        "10 minutes of heartbeats only: treated as a timeout",
        Step("chat", text=EDIT),
        ("heartbeat_timeout",),
        setup=_named("heartbeats-only-timeout"),
        trigger="heartbeats-only-timeout",
        expect="any",
    ),
    _sc(
        "sse-disconnect",
        "sse",
        "the stream drops: recover by state queries, never re-send",
        (Step("upload", input="song"), Step("chat", text=EDIT)),
        ("disconnect_recovery",),
        setup=_named("disconnect-mid-run"),
        trigger="disconnect-mid-run",
        expect="any",
    ),
    _sc(
        "sse-stall",
        "sse",
        "the stream stalls for minutes: the message is not re-sent",
        (Step("upload", input="song"), Step("chat", text=EDIT)),
        ("stall_met",),
        setup=_named("duplicate-send"),
        trigger="duplicate-send",
        expect="any",
    ),
    _sc(
        "sse-error-event",
        "sse",
        "an error event mid-stream is reported",
        (Step("upload", input="song"), Step("chat", text=EDIT)),
        ("run_error_reported",),
        setup=_named("stream-error"),
        trigger="stream-error",
        expect="failure",
        about="error|fail|issue",
    ),
    _sc(
        "sse-malformed-line",
        "sse",
        "a malformed data: line is skipped",
        Step("chat", text="hello, what can you do?"),
        ("agent_text_shown",),
        setup=_named("stream-malformed"),
        trigger="stream-malformed",
    ),
    _sc(
        "sse-buffered",
        "sse",
        "a buffering proxy delivers the stream at once",
        Step("chat", text="hello, what can you do?"),
        ("agent_text_shown",),
        setup=_named("proxy-buffering"),
        trigger="proxy-buffering",
    ),
    _sc(
        "sse-legacy-shape",
        "sse",
        "the legacy event shape: text shown, tools hidden",
        (
            Step("upload", input="song"),
            Step("chat", text=EDIT),
            Step("chat", text="hello, what can you do?"),
        ),
        ("agent_text_shown", "tool_events_hidden"),
        setup=_named("legacy-event-shape"),
        trigger="legacy-event-shape",
    ),
    _sc(
        "sse-trailing-issue",
        "sse",
        "a trailing 'temporary issue' text is ignored",
        Step("chat", text="hello, what can you do?"),
        ("trailing_issue_ignored",),
        setup=_named("trailing-temporary-issue"),
        trigger="trailing-temporary-issue",
    ),
]

CATALOGUE: dict[str, ClientScenario] = {s.id: s for s in SCENARIOS}
