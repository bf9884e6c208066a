"""Mutant: waits 20 minutes of heartbeats before giving up, not 10.

Rule broken (API-NOTES, the SSE stream): "Ten minutes of heartbeats only means a timeout." (A
client with no timeout at all waits forever; this one is bounded so the suite's run ends.)
Caught by the obligation ``heartbeat_timeout`` in sse-heartbeat-timeout (the mock sends 11
minutes of heartbeats, then the reply: the mutant holds the stream past 11 minutes).
"""

from __future__ import annotations

from functools import partial

from clients_under_test.reference import embed
from clients_under_test.reference.chat import ChatRun
from clients_under_test.reference.client import NemoClient

__all__ = ["Client", "run"]


class PatientChatRun(ChatRun):
    heartbeat_timeout = 1200.0


class Client(NemoClient):
    chat_run_class = PatientChatRun


run = partial(embed.run, client_class=Client)
