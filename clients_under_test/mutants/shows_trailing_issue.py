"""Mutant: shows a trailing "I encountered a temporary issue" after the agent's real reply.

Rule broken (API-NOTES, the SSE stream): "A trailing text 'I encountered a temporary issue'
after normal responses is to be ignored."
Caught by the obligation ``trailing_issue_ignored`` in sse-trailing-issue.
"""

from __future__ import annotations

from functools import partial

from clients_under_test.reference import embed
from clients_under_test.reference.chat import ChatOutcome, ChatRun
from clients_under_test.reference.client import NemoClient
from clients_under_test.reference.gui import translate

__all__ = ["Client", "run"]


class CredulousChatRun(ChatRun):
    def _show(self, text: str, outcome: ChatOutcome) -> bool:
        # the reference's `_show`, without the trailing-issue filter
        shown = translate(text).strip()
        if not shown:
            return False
        self.console.say(shown)
        outcome.replies.append(shown)
        return True


class Client(NemoClient):
    chat_run_class = CredulousChatRun


run = partial(embed.run, client_class=Client)
