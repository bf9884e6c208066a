"""Mutant: when the stream drops (or stalls past the read timeout), sends the message again
instead of recovering by state queries.

Rule broken (API-NOTES, the SSE stream): "A client never re-sends a message while a run is
going: that duplicates work and charges twice."
Caught by the obligation ``no_resend`` in sse-disconnect (the stream is cut; there
``disconnect_recovery`` fails too: the state is never queried 30 s after the drop).
sse-stall should catch it too and does not (see ``GAPS``): the stall lasts 240 s of the mock's
scaled time, under a second of wall time, while the client's read timeout (180 s) is wall time,
so the timeout never fires.
"""

from __future__ import annotations

from functools import partial

from clients_under_test.reference import embed
from clients_under_test.reference.chat import ChatOutcome, ChatRun
from clients_under_test.reference.client import NemoClient
from clients_under_test.reference.models import ProjectState
from clients_under_test.reference.sse import is_event_stream

__all__ = ["Client", "run"]


class ResendingChatRun(ChatRun):
    _text = ""
    _resent = False

    def send(self, text: str) -> ChatOutcome:
        self._text = text
        return super().send(text)

    def _recover(self, before: ProjectState, outcome: ChatOutcome) -> ChatOutcome:
        if self._resent:  # one re-send only, so a scenario that keeps cutting still ends
            return super()._recover(before, outcome)
        self._resent = True
        self.console.warn("The connection dropped; sending your request again…")
        response = self.api.open_stream(
            lambda: self._request(self._text), accept=is_event_stream, session_bound=True
        )
        try:
            return self._read(response, before)
        finally:
            response.close()


class Client(NemoClient):
    chat_run_class = ResendingChatRun


run = partial(embed.run, client_class=Client)
