"""Mutant: shows the agent's text as sent, GUI instructions included ("click the Export
button", "点击导出").

Rule broken (API-NOTES, the SSE stream): the backend's text assumes a GUI; "a client translates
these into API actions".
Caught by the obligation ``gui_translated`` in sse-gui-translation and sse-gui-chinese.
"""

from __future__ import annotations

from functools import partial

from clients_under_test.reference import embed
from clients_under_test.reference.chat import TEMPORARY_ISSUE, ChatOutcome, ChatRun
from clients_under_test.reference.client import NemoClient

__all__ = ["Client", "run"]


class LiteralChatRun(ChatRun):
    def _show(self, text: str, outcome: ChatOutcome) -> bool:
        # the reference's `_show`, without `gui.translate`
        if outcome.replies and TEMPORARY_ISSUE in text.lower():
            return False
        shown = text.strip()
        if not shown:
            return False
        self.console.say(shown)
        outcome.replies.append(shown)
        return True


class Client(NemoClient):
    chat_run_class = LiteralChatRun


run = partial(embed.run, client_class=Client)
