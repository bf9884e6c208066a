"""uvicorn's httptools protocol, guarded as connections.py describes.

httptools (llhttp) keeps a head it has not finished parsing in its own buffers and bounds
neither its size nor the time it takes. So the bytes received while a head is being read are
counted here: past ``header_bytes`` the connection is answered 431, whatever piece the head
is in (a head that arrives whole is measured exactly by `RequestLimits`). The count begins
when the previous message ended, so a chunk that carries one message's end and the next one's
start is counted from the next chunk on: a head may hold at most one read past the limit
before it is refused.

What llhttp refuses (a malformed line, a target that is not ASCII, a bad header) answers 400
as the envelope; uvicorn's own answer is plain text.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..openapi.limits import Limits
from .connections import head_too_large, late_head, raw_answer

__all__ = ["GuardedHttpToolsProtocol"]


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit on each request head, and
    enveloped refusals."""

    limits: Limits  # set by `guarded_protocol`

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._reading_head = True  # from a message's end (or the start) to the next one's head
        self._head_begun = False  # a byte of the head being read has arrived
        self._head_bytes = 0  # received while reading the head: an upper bound of its size

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.limits.request_seconds, self._head_late)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered: the body has its own deadline
        if not self._head_begun:
            # nothing of a next request arrived (a new connection that sends nothing), or the
            # rest of a body the app answered without reading: nothing to answer, just close
            self.transport.close()
            return
        self.transport.write(late_head(self.limits.request_seconds))
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)  # a parser error: send_400_response, closed
        if (
            self._reading_head
            and self._head_bytes > self.limits.header_bytes
            and not self.transport.is_closing()
        ):
            self._refuse(431, head_too_large(self.limits.header_bytes))

    def on_message_begin(self) -> None:
        self._head_begun = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._reading_head = self._head_begun = False
        self._head_bytes = 0
        self._cancel_head_timer()  # the head is in: the app has the request (or it is queued)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_head = True
        self._head_bytes = 0
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_timer()  # the next request's head gets the same deadline

    def send_400_response(self, msg: str) -> None:
        # called from data_received while httptools' error is being handled
        error = sys.exc_info()[1]
        if isinstance(error, httptools.HttpParserInvalidURLError):
            self._refuse(
                400,
                f"the request target is not a valid URL ({error}); percent-encode anything "
                "but printable ASCII",
            )
        else:
            self._refuse(400, f"not a valid HTTP/1.1 request ({error or msg})")

    def _refuse(self, status: int, message: str) -> None:
        self._cancel_head_timer()
        self.logger.info("refused a connection's request: %s", message)
        self.transport.write(raw_answer(status, message))
        self.transport.close()
