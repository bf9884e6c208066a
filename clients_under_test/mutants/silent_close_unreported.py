"""Mutant (the suite misses it): when a run closes without text, reads the state but never
tells the user what changed.

Rule broken (API-NOTES, the SSE stream): after a silent close the client must "poll state,
compare with the state before, and tell the user what changed".
Should be caught by the obligation ``silent_close_reported`` in sse-silent-close, but is not:
the check accepts any "✅" in the output as the change report, and the scenario's upload step
has already printed "✅ Uploaded song.mp3".
"""

from __future__ import annotations

from functools import partial

from clients_under_test.reference import embed
from clients_under_test.reference.chat import ChatOutcome, ChatRun
from clients_under_test.reference.client import NemoClient
from clients_under_test.reference.models import ProjectState

__all__ = ["Client", "run"]


class MuteChatRun(ChatRun):
    def _closed_silently(self, before: ProjectState, outcome: ChatOutcome) -> None:
        self.fetch_state()  # read, compared with nothing, told to no one


class Client(NemoClient):
    chat_run_class = MuteChatRun


run = partial(embed.run, client_class=Client)
