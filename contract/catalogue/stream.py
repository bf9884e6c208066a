"""The agent's stream: silent closes, drops, stalls, errors, odd shapes."""

from __future__ import annotations

from .scenario import EDIT, ClientScenario, Step, named, scenario

__all__ = ["SCENARIOS"]

SCENARIOS: list[ClientScenario] = [
    scenario(
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
    scenario(
        "sse-gui-translation",
        "sse",
        "GUI instructions in a reply are translated",
        Step("chat", text="how do I export my video?"),
        ("gui_translated",),
    ),
    scenario(
        "sse-gui-chinese",
        "sse",
        "Chinese GUI instructions (点击/导出) are translated",
        Step("chat", text="怎么导出视频？"),
        ("gui_translated",),
    ),
    scenario(
        "sse-silent-close",
        "sse",
        "an edit closes with no text: read state, report the change",
        (Step("upload", input="song"), Step("chat", text=EDIT)),
        ("silent_close_reported",),
        setup=named("silent-close"),
        trigger="silent-close",
    ),
    scenario(
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
    scenario(
        "sse-heartbeat-timeout",
        "sse",
        "10 minutes of heartbeats only: treated as a timeout",
        Step("chat", text=EDIT),
        ("heartbeat_timeout",),
        setup=named("heartbeats-only-timeout"),
        trigger="heartbeats-only-timeout",
        expect="any",
    ),
    scenario(
        "sse-disconnect",
        "sse",
        "the stream drops: recover by state queries, never re-send",
        (Step("upload", input="song"), Step("chat", text=EDIT)),
        ("disconnect_recovery",),
        setup=named("disconnect-mid-run"),
        trigger="disconnect-mid-run",
        expect="any",
    ),
    scenario(
        "sse-stall",
        "sse",
        "the stream stalls for minutes: the message is not re-sent",
        (Step("upload", input="song"), Step("chat", text=EDIT)),
        ("stall_met",),
        setup=named("duplicate-send"),
        trigger="duplicate-send",
        expect="any",
    ),
    scenario(
        "sse-error-event",
        "sse",
        "an error event mid-stream is reported",
        (Step("upload", input="song"), Step("chat", text=EDIT)),
        ("run_error_reported",),
        setup=named("stream-error"),
        trigger="stream-error",
        expect="failure",
        about="error|fail|issue",
    ),
    scenario(
        "sse-malformed-line",
        "sse",
        "a malformed data: line is skipped",
        Step("chat", text="hello, what can you do?"),
        ("agent_text_shown",),
        setup=named("stream-malformed"),
        trigger="stream-malformed",
    ),
    scenario(
        "sse-buffered",
        "sse",
        "a buffering proxy delivers the stream at once",
        Step("chat", text="hello, what can you do?"),
        ("agent_text_shown",),
        setup=named("proxy-buffering"),
        trigger="proxy-buffering",
    ),
    scenario(
        "sse-legacy-shape",
        "sse",
        "the legacy event shape: text shown, tools hidden",
        (
            Step("upload", input="song"),
            Step("chat", text=EDIT),
            Step("chat", text="hello, what can you do?"),
        ),
        ("agent_text_shown", "tool_events_hidden"),
        setup=named("legacy-event-shape"),
        trigger="legacy-event-shape",
    ),
    scenario(
        "sse-trailing-issue",
        "sse",
        "a trailing 'temporary issue' text is ignored",
        Step("chat", text="hello, what can you do?"),
        ("trailing_issue_ignored",),
        setup=named("trailing-temporary-issue"),
        trigger="trailing-temporary-issue",
    ),
]
