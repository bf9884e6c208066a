"""nemo-mock with ``/run_sse`` answered by sse-starlette's ``EventSourceResponse`` instead of the
mock's own `EventStreamResponse`: the other side of ``bench_streams.py --response both``.

A measuring harness, not a way to run the mock: it swaps the response class the chat handler
builds, then runs ``nemo-mock`` with the arguments given. sse-starlette runs as its users get
it (its default 15 s ping, its disconnect listener and its task group per response).

    .venv/bin/python benchmarks/sse_starlette_server.py serve --port 0 ...
"""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator

from sse_starlette import EventSourceResponse

from mock_backend.cli import main
from mock_backend.web.handlers import chat


def sse_starlette_response(
    body: AsyncGenerator[bytes, None], *, abort_if_cut: bool = False
) -> EventSourceResponse:
    # abort_if_cut: a scripted fault the benchmark's heartbeat-only runs never play
    return EventSourceResponse(body)


if __name__ == "__main__":
    chat.EventStreamResponse = sse_starlette_response  # type: ignore[assignment,misc]
    raise SystemExit(main(sys.argv[1:]))
