"""The provider reads a stream as the standard frames it, whatever the server's line endings.

Tiny sse-starlette servers (the library a NemoVideo-like backend is likely built on, which ends
lines with ``\\r\\n`` by default) send valid agent events, with comments and empty data lines
between them; the provider's stream reader must accept every framing and refuse a stream cut
inside an event, an invalid event and a stream that runs past its time.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sse_starlette import EventSourceResponse
from sse_starlette.sse import AppStatus
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contract.provider import ProviderFailure, read_stream
from mock_backend.agent.events import EventBuilder
from mock_backend.openapi.spec import load_spec
from mock_backend.web.server import LiveServer

VALIDATOR = load_spec().schema_validator("StreamEvent")
BUILDER = EventBuilder("adk", "inv_provider")
EVENTS = [
    BUILDER.text("Working on it.", event_id="e1", timestamp=1.0),
    BUILDER.text("Done: your video is ready.", event_id="e2", timestamp=2.0),
]


def _app() -> Starlette:
    async def stream(request: Request) -> Response:
        sep = {"crlf": "\r\n", "lf": "\n", "cr": "\r"}[request.path_params["sep"]]

        async def events() -> AsyncIterator[dict[str, str]]:
            yield {"comment": "ping"}
            yield {"data": json.dumps(EVENTS[0])}
            yield {"data": ""}  # still working
            yield {"data": json.dumps(EVENTS[1]), "event": "message", "id": "2"}

        return EventSourceResponse(events(), sep=sep, ping=0)

    async def cut(request: Request) -> Response:
        body = ("data: " + json.dumps(EVENTS[0]) + '\r\n\r\ndata: {"cont').encode()
        return Response(body, media_type="text/event-stream")

    async def invalid(request: Request) -> Response:
        return Response(
            b'data: {"nothing": "an event has"}\r\n\r\n', media_type="text/event-stream"
        )

    return Starlette(
        routes=[
            Route("/stream/{sep}", stream),
            Route("/cut", cut),
            Route("/invalid", invalid),
        ]
    )


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    AppStatus.should_exit = False  # a server stopped earlier in this process may have set it
    with LiveServer(_app()) as live:
        yield live


def _read(server: LiveServer, path: str, max_wait: float = 30.0) -> int:
    with (
        httpx.Client(base_url=server.url, timeout=httpx.Timeout(10)) as http,
        http.stream("GET", path) as response,
    ):
        events, _ = read_stream(response, VALIDATOR, max_wait)
    return events


@pytest.mark.parametrize("sep", ["crlf", "lf", "cr"])
def test_every_line_ending_sse_allows_is_read_as_the_same_events(
    server: LiveServer, sep: str
) -> None:
    assert _read(server, f"/stream/{sep}") == 2


def test_a_stream_cut_inside_an_event_fails(server: LiveServer) -> None:
    with pytest.raises(ProviderFailure, match="ended inside an event"):
        _read(server, "/cut")


def test_an_event_off_the_contract_fails_with_the_schema_message(server: LiveServer) -> None:
    with pytest.raises(ProviderFailure, match="event 0: "):
        _read(server, "/invalid")
