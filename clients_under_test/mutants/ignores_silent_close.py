"""Mutant: when a run closes without any text, says nothing and reads nothing.

Rule broken (API-NOTES, the SSE stream): "About 30% of edit operations close the stream without
any text; the client must then poll state, compare with the state before, and tell the user
what changed."
Caught by the obligation ``silent_close_reported`` in sse-silent-close (no state read after the
silent run).
"""

from __future__ import annotations

from functools import partial

from clients_under_test.reference import embed
from clients_under_test.reference.chat import ChatOutcome, ChatRun
from clients_under_test.reference.client import NemoClient
from clients_under_test.reference.models import ProjectState

__all__ = ["Client", "run"]


class SilentChatRun(ChatRun):
    def _closed_silently(self, before: ProjectState, outcome: ChatOutcome) -> None:
        pass  # the broken rule: no state read, no report


class Client(NemoClient):
    chat_run_class = SilentChatRun


run = partial(embed.run, client_class=Client)
