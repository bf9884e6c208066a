"""Deliberately broken variants of the reference client: each breaks one documented rule.

They show that the compatibility suite catches what it claims to: ``tests/contract/
test_mutants.py`` runs the whole catalogue against each and expects it to fail exactly the
scenarios listed here, on the obligation that judges the broken rule.

A mutant is a subclass of `NemoClient` that swaps one part (``api_class``, ``chat_run_class``,
``exporter_class``, ``credentials_class`` or ``attribution_class``) for a subclass with one
change, driven through the reference's own entry point: ``run = partial(embed.run,
client_class=Client)``. Nothing is patched globally, so scenarios of different clients can run
side by side in one process. Each module's docstring names the rule it breaks, quoting
API-NOTES, and the scenarios expected to catch it. Its manifest is the reference's
(``reference/client.yaml``: the same jobs), with the mutant's name and in-process entry point:
`manifest(name)` builds it, so the two can never drift apart.

``ESCAPES`` lists mutants the suite does not catch at all yet, and ``GAPS`` scenarios that should
also catch a mutant and do not: each is a weakness of the suite, and its entry says where. When
the suite is fixed, the mutant moves to ``MUTANTS`` (or the scenario into its set).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from contract.adapters import Manifest
from contract.catalogue import CATALOGUE

__all__ = ["ALSO", "BREAKS", "ESCAPES", "GAPS", "MUTANTS", "REFERENCE", "manifest"]

REFERENCE = Path(__file__).parents[1] / "reference" / "client.yaml"


def manifest(name: str) -> Manifest:
    """The mutant's manifest: the reference's jobs, run in-process through the mutant's `run`."""
    reference = Manifest.load(REFERENCE)
    return replace(
        reference, name=name, python=f"clients_under_test.mutants.{name}:run", command=[]
    )


RENDER_RETRIED = frozenset({"render-retry", "render-fails-twice", "extract-render-retry"})
# err-4001-local refuses a .txt file before any request: it is the one scenario without API calls
CALLS_THE_API = frozenset(CATALOGUE) - {"err-4001-local"}

# name: (manifest, the scenarios that must fail, and no other)
MUTANTS: dict[str, tuple[Manifest, frozenset[str]]] = {
    name: (manifest(name), frozenset(fails))
    for name, fails in {
        "no_429_wait": {"err-429", "err-429-twice", "err-429-ip"},
        "retries_429_thrice": {"err-429-twice"},
        "resends_on_drop": {"sse-disconnect"},
        "polls_too_often": {
            "happy-convert",
            "happy-extract",
            "happy-convert-portrait",
            "err-1001-mid-render",
            "render-slow",
            "render-retry",
            # one rule, "poll every 30 s, at most 10 polls": 30 polls in 5 minutes break both
            "render-stuck",
        },
        "ignores_silent_close": {"sse-silent-close"},
        "no_platform_header": CALLS_THE_API,
        # err-429-twice: the client never gets a token, so it has none to print
        "prints_token": CALLS_THE_API - {"err-429-twice"},
        "shows_tool_events": {"happy-convert", "sse-text-and-tools", "sse-legacy-shape"},
        "no_gui_translation": {"sse-gui-translation", "sse-gui-chinese"},
        "shows_trailing_issue": {"sse-trailing-issue"},
        "new_client_id_on_1001": {
            "err-1001-expired",
            "err-1001-revoked",
            "err-1001-mid-render",
            "err-1001-rest",
        },
        "no_render_retry": RENDER_RETRIED,
        "reuses_render_id": RENDER_RETRIED,
        "no_download_fallback": {"download-fallback"},
        "no_register_link": {"err-2001-anonymous"},
        "never_still_working": {"sse-still-working"},
        "no_heartbeat_timeout": {"sse-heartbeat-timeout"},
        "no_new_session_on_1002": {"err-1002-chat", "err-1002-status", "err-1002-rest"},
        # caught once the journal kept query strings (it had recorded the path only)
        "token_in_query": CALLS_THE_API - {"err-429-twice"},
        # caught by render-stuck, a render still running after 10 polls
        "polls_forever": {"render-stuck"},
        # caught once silent_close_reported read only the output of the chat step itself
        "silent_close_unreported": {"sse-silent-close"},
    }.items()
}

# name: obligations that fail as a consequence of the broken rule, and may fail beside it in the
# scenarios that catch it (a job that cannot finish has no output file, and says why)
_JOB_FAILS = frozenset({"actionable_failure", "output_file_valid"})
ALSO: dict[str, frozenset[str]] = {
    "new_client_id_on_1001": _JOB_FAILS,
    "no_download_fallback": _JOB_FAILS,
    "no_new_session_on_1002": _JOB_FAILS,
    # the export is refused (402) without the platform header: no file, no claim link
    "no_platform_header": _JOB_FAILS | {"claim_link"},
    "no_render_retry": _JOB_FAILS,
    "reuses_render_id": _JOB_FAILS,
    # a render polled past its tenth check cannot also end as the documents say
    "polls_forever": _JOB_FAILS,
    # 30 polls in 5 minutes break "poll every 30 s" and "at most 10 polls" alike
    "polls_too_often": frozenset({"at_most_10_polls"}),
    "prints_token": _JOB_FAILS,
    # a re-sent message is not a recovery by state queries
    "resends_on_drop": frozenset({"disconnect_recovery"}),
    "retries_429_thrice": _JOB_FAILS,
}

# name: (manifest, where the suite falls short); each module's docstring says what should catch it
ESCAPES: dict[str, tuple[Manifest, str]] = {}

# (name, scenario): why the scenario does not catch that mutant, though it should
GAPS: dict[tuple[str, str], str] = {
    ("resends_on_drop", "sse-stall"): (
        "the stall (240 s of the mock's scaled clock) takes under a second of wall time, and a "
        "client's HTTP read timeout (180 s in the reference) is wall time: it never fires, so "
        "the client never sees the stall as a drop"
    ),
}

# name: the obligation that judges the rule it breaks (named in every failing scenario)
BREAKS: dict[str, str] = {
    "no_429_wait": "retry_429_once",
    "retries_429_thrice": "retry_429_once",
    "resends_on_drop": "no_resend",
    "polls_too_often": "polls_30s_apart",
    "ignores_silent_close": "silent_close_reported",
    "no_platform_header": "attribution_headers",
    "prints_token": "no_token_in_output",
    "shows_tool_events": "tool_events_hidden",
    "no_gui_translation": "gui_translated",
    "shows_trailing_issue": "trailing_issue_ignored",
    "new_client_id_on_1001": "reauth_on_1001",
    "no_render_retry": "retry_new_id_after_failure",
    "reuses_render_id": "retry_new_id_after_failure",
    "no_download_fallback": "download_fallback",
    "no_register_link": "register_link_on_2001",
    "never_still_working": "still_working_notice",
    "no_heartbeat_timeout": "heartbeat_timeout",
    "no_new_session_on_1002": "new_session_on_1002",
    "token_in_query": "no_token_in_url",
    "polls_forever": "at_most_10_polls",
    "silent_close_unreported": "silent_close_reported",
}
