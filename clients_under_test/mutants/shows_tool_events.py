"""Mutant: shows each tool call and tool result of the agent ("🔧 <tool name>").

Rule broken (API-NOTES, the SSE stream): "Text events go to the user; tool calls and tool
results stay internal."
Caught by the obligation ``tool_events_hidden`` in happy-convert, sse-text-and-tools and
sse-legacy-shape (the scenarios that judge it; others stream tool events too, unjudged).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import httpx

from clients_under_test.reference import embed
from clients_under_test.reference.chat import ChatRun
from clients_under_test.reference.client import NemoClient
from clients_under_test.reference.sse import StreamEvent, ToolActivity

__all__ = ["Client", "run"]


class VerboseChatRun(ChatRun):
    def _events(self, response: httpx.Response) -> Iterator[StreamEvent]:
        for event in super()._events(response):
            if isinstance(event, ToolActivity):
                self.console.say(f"🔧 {event.name}")
            yield event


class Client(NemoClient):
    chat_run_class = VerboseChatRun


run = partial(embed.run, client_class=Client)
