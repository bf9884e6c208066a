"""Mutant: never says "⏳ Still working..." however long the heartbeats go on.

Rule broken (API-NOTES, client-side rules): "Every 2 min of heartbeats: '⏳ Still working...'".
Caught by the obligation ``still_working_notice`` in sse-still-working.
"""

from __future__ import annotations

import math
from functools import partial

from clients_under_test.reference import embed
from clients_under_test.reference.chat import ChatRun
from clients_under_test.reference.client import NemoClient

__all__ = ["Client", "run"]


class QuietChatRun(ChatRun):
    still_working_every = math.inf


class Client(NemoClient):
    chat_run_class = QuietChatRun


run = partial(embed.run, client_class=Client)
