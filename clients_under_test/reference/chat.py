"""One chat turn over ``/run_sse``, with the documents' rules for reading the stream.

- Text goes to the user after GUI translation; tool calls and results stay internal; ADK
  ``partial`` chunks are held back when a final event repeats them in full.
- A trailing "I encountered a temporary issue" after other text is ignored.
- Heartbeats (and empty ``data:`` lines): "⏳ Still working..." once per 2 minutes; 10 minutes
  with nothing but heartbeats is a timeout.
- The stream closing without text: fetch the state, compare it with the state fetched before
  sending, and report what changed.
- The stream dropping: the run goes on server-side, so wait 30 s and fetch the state; while
  unchanged, wait 60 s and fetch again; after 5 unchanged fetches, report failure.

The message is never sent twice: a re-send duplicates the work and charges twice. Only a request
the backend refused outright (an error envelope instead of a stream) is retried, by `api.Api`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from .api import Api
from .clock import Clock
from .console import Console
from .error_table import rule_for
from .errors import NetworkError, RunError
from .gui import translate
from .models import ProjectState
from .sse import (
    Heartbeat,
    RunFailed,
    Skipped,
    StreamEvent,
    Text,
    ToolActivity,
    is_event_stream,
    iter_events,
)
from .timeline import describe_changes

__all__ = ["ChatOutcome", "ChatRun"]

STILL_WORKING_EVERY_SECONDS = 120.0
HEARTBEAT_TIMEOUT_SECONDS = 600.0
RECOVERY_WAITS_SECONDS = (30.0, 60.0, 60.0, 60.0, 60.0)  # 5 state queries, then failure
STILL_WORKING = "⏳ Still working..."
TEMPORARY_ISSUE = "i encountered a temporary issue"
# Read timeout of the stream: longer than any gap between heartbeats; a gap longer than this is
# handled as a dropped stream (the run goes on server-side).
STREAM_READ_TIMEOUT_SECONDS = 180.0


@dataclass
class ChatOutcome:
    replies: list[str] = field(default_factory=list)  # translated text, as shown
    changes: list[str] = field(default_factory=list)  # "✅ …" lines from a state comparison


class ChatRun:
    # The cadences as class attributes, so a variant of the client is a subclass that changes
    # one (see `client.NemoClient`); the reference keeps the documents' values.
    still_working_every: float = STILL_WORKING_EVERY_SECONDS
    heartbeat_timeout: float = HEARTBEAT_TIMEOUT_SECONDS

    def __init__(
        self,
        api: Api,
        console: Console,
        clock: Clock,
        *,
        session_id: Callable[[], str],
        fetch_state: Callable[[], ProjectState],
    ) -> None:
        self.api = api
        self.console = console
        self.clock = clock
        self.session_id = session_id
        self.fetch_state = fetch_state

    def send(self, text: str) -> ChatOutcome:
        before = self.fetch_state()
        response = self.api.open_stream(
            lambda: self._request(text), accept=is_event_stream, session_bound=True
        )
        try:
            return self._read(response, before)
        finally:
            response.close()

    def _request(self, text: str) -> httpx.Request:
        body: dict[str, Any] = {
            "app_name": "nemo_agent",
            "user_id": "me",
            "session_id": self.session_id(),
            "new_message": {"parts": [{"text": text}]},
        }
        return self.api.request(
            "POST",
            "/run_sse",
            json=body,
            headers={"Accept": "text/event-stream"},
            timeout=httpx.Timeout(30.0, read=STREAM_READ_TIMEOUT_SECONDS),
        )

    def _read(self, response: httpx.Response, before: ProjectState) -> ChatOutcome:
        outcome = ChatOutcome()
        started = last_notice = last_activity = self.clock.now()
        held: list[str] = []  # partial chunks, shown only if no final event repeats them
        try:
            for event in self._events(response):
                now = self.clock.now()
                if isinstance(event, Text):
                    last_activity = now
                    if event.partial:
                        held.append(event.text)
                        continue
                    held.clear()
                    if self._show(event.text, outcome):
                        last_notice = now
                elif isinstance(event, ToolActivity):
                    last_activity = now
                elif isinstance(event, RunFailed):
                    raise self._run_failed(event)
                else:
                    if isinstance(event, Skipped):
                        self.console.debug(f"skipped a stream event ({event.reason})")
                    if now - last_activity >= self.heartbeat_timeout:
                        return self._timed_out(before, outcome)
                    if isinstance(event, Heartbeat) and now - last_notice >= (
                        self.still_working_every
                    ):
                        self.console.say(STILL_WORKING)
                        last_notice = now
        except httpx.TransportError as error:
            self.console.debug(
                f"stream dropped after {self.clock.now() - started:.0f}s: {type(error).__name__}"
            )
            return self._recover(before, outcome)
        if held:
            self._show("".join(held), outcome)
        if not outcome.replies:
            self._closed_silently(before, outcome)
        return outcome

    def _events(self, response: httpx.Response) -> Iterator[StreamEvent]:
        return iter_events(response)

    def _closed_silently(self, before: ProjectState, outcome: ChatOutcome) -> None:
        """The stream closed without text: read the state and tell what changed."""
        self._report_changes(before, self.fetch_state(), outcome)

    def _show(self, text: str, outcome: ChatOutcome) -> bool:
        if outcome.replies and TEMPORARY_ISSUE in text.lower():
            self.console.debug("ignored a trailing 'temporary issue' message")
            return False
        shown = translate(text).strip()
        if not shown:
            return False
        self.console.say(shown)
        outcome.replies.append(shown)
        return True

    def _report_changes(
        self, before: ProjectState, after: ProjectState, outcome: ChatOutcome
    ) -> None:
        outcome.changes = describe_changes(before, after)
        for line in outcome.changes:
            self.console.say(line)
        if not outcome.changes:
            self.console.say(
                "NemoVideo finished without a reply, and the timeline did not change. "
                'Check with "status", or describe the change again.'
            )

    def _run_failed(self, event: RunFailed) -> Exception:
        rule = rule_for(event.code) if event.code is not None else None
        if rule is not None and rule.recovery is None:
            return rule.failure(self.api.failure_context())
        return RunError(
            f"NemoVideo reported an error while working on your request: {event.message}. "
            "Try again, perhaps with a simpler request."
        )

    def _timed_out(self, before: ProjectState, outcome: ChatOutcome) -> ChatOutcome:
        after = self.fetch_state()
        outcome.changes = describe_changes(before, after)
        if not outcome.changes:
            raise RunError(
                "No reply after 10 minutes. The request may still finish on NemoVideo's side: "
                'check with "status" in a few minutes. It was not re-sent, so you are not '
                "charged twice."
            )
        self.console.say("NemoVideo is still working, but the project already changed:")
        for line in outcome.changes:
            self.console.say(line)
        return outcome

    def _recover(self, before: ProjectState, outcome: ChatOutcome) -> ChatOutcome:
        self.console.warn(
            "The connection dropped. Your request keeps running on NemoVideo's side; "
            "checking the project for changes (it is not re-sent)…"
        )
        for attempt, wait in enumerate(RECOVERY_WAITS_SECONDS, start=1):
            self.console.progress(f"Checking again in {wait:.0f} s ({attempt}/5)…")
            self.clock.sleep(wait)
            try:
                after = self.fetch_state()
            except NetworkError:
                continue
            changes = describe_changes(before, after)
            if changes:
                outcome.changes = changes
                for line in changes:
                    self.console.say(line)
                return outcome
        raise RunError(
            "The connection dropped and the project did not change after 5 checks over "
            '4.5 minutes. The request may have failed; check with "status", and send it again '
            "only if nothing changed."
        )
