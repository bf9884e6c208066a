"""The ASGI response that carries a run's Server-Sent Events.

Lighter than Starlette's StreamingResponse on purpose: a mock holds thousands of streams at
once, and under ASGI spec 2.3 (uvicorn's) StreamingResponse runs an anyio task group with a
second task per response just to notice a disconnect. Here one small watcher task awaits
``receive()`` and, on ``http.disconnect``, closes the body; nothing else is allocated per
stream. Heartbeats are the run's own events (on the mock's clock), not a timer of this class.

Measured against sse-starlette 3.7.1's ``EventSourceResponse`` (its task group of a stream
task, a ping task and a disconnect listener per response), in one run of
``benchmarks/bench_streams.py`` (10,000 streams held on one uvicorn worker, httptools on uvloop,
a heartbeat every 5 s; 2026-12-03): this class 30.8 KB of server RSS per stream, heartbeat
lateness p99 57.2 ms (34.7 ms in a run of its own); ``EventSourceResponse`` 54.6 KB per stream
(1.77x), p99 1,011 ms. So the mock keeps this class, and frames each event with sse-starlette's
``ServerSentEvent`` (agent/events.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..errors import StreamCut

__all__ = ["CLIENT_CLOSED", "EventStreamResponse"]

# noted on the stream's journal entry when the client, not the mock, ended it: whether a client
# held a stream to its end or left is then read from the journal, not guessed from timings
CLIENT_CLOSED = "the client closed the stream"

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class EventStreamResponse(Response):
    # a Response only for the handlers' return type: its headers are HEADERS, sent below, so
    # Response.__init__ (a header list built per stream, held for the stream's life) is skipped
    status_code = 200
    media_type = "text/event-stream"

    def __init__(self, body: AsyncGenerator[bytes, None], *, abort_if_cut: bool = False) -> None:
        self.body_iterator = body
        # a body that ends inside an event is aborted (StreamCut), not closed, so the client
        # sees a dropped connection, as over a real network, rather than a clean end
        self.abort_if_cut = abort_if_cut

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self.body_iterator
        task = asyncio.current_task()
        watcher = asyncio.ensure_future(_until_disconnect(receive))
        # a disconnect cancels the body: the generator's ``finally`` detaches the listener
        watcher.add_done_callback(lambda _: task.cancel() if task and not finished else None)
        finished = False
        last = b"\n\n"
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            async for chunk in body:
                last = chunk or last
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if self.abort_if_cut and not last.endswith(b"\n\n"):
                raise StreamCut("the stream was cut in the middle of an event (scripted fault)")
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not watcher.done():
                raise  # cancelled from outside (server shutdown), not by the client leaving
            with contextlib.suppress(asyncio.CancelledError):
                task.uncancel() if task else None
            entry = scope.get("state", {}).get("journal_entry")
            if entry is not None:
                entry.note(CLIENT_CLOSED)
        finally:
            finished = True
            watcher.cancel()
            await body.aclose()


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
