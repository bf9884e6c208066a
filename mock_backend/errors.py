"""Exceptions of the mock backend.

MockBackendError                   root of everything this package raises
├── ApiError                       a documented error answered to a client as the envelope
│   └── RuleError (rules.py)       a rule or scenario request that cannot be understood (422)
├── ContractError                  openapi.yaml and the handlers disagree (fails start-up)
├── StreamCut                      a scripted connection drop in an SSE stream (not a bug)
├── ClockError (clock.py)          a clock specification that cannot be understood
├── StateUnreachable (redis_store.py) the Redis server of --state does not answer
├── UnsupportedMedia (media.py)    a file that is not the media its name says
├── RenderError (render_engine.py) a draft the render engine cannot turn into a file
├── StreamError (stream.py)        a Run used out of order
├── ASGIAppError (transport.py)    an app that breaks the ASGI protocol in a test transport
└── ServerError (server.py)        a LiveServer that cannot start or stop
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "ContractError", "MockBackendError", "StreamCut"]


class MockBackendError(Exception):
    """Root of every exception raised by mock_backend."""


class ContractError(MockBackendError):
    """The contract and the implementation disagree; raised at start-up, never at request time."""


class ApiError(MockBackendError):
    """A documented error: business ``code`` plus a human message, sent as the envelope.

    ``status`` is the HTTP status under the default ``http200`` profile when the code is a
    transport-level one (400, 402, 429); business codes (1001-4002) are mapped by the
    error-status profile at response time.
    """

    def __init__(self, code: int, message: str, *, data: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class StreamCut(MockBackendError):
    """The scripted fault ``cut_at_event``: the connection drops in the middle of an event.

    Raised from the response body so the server aborts the connection, as a real network drop
    would, instead of ending the stream cleanly."""
