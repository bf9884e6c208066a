"""The recording proxy in front of a small upstream made here: what it passes on, when, and
what it keeps."""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from mock_backend.recording.cassette import load_recording
from mock_backend.recording.proxy import create_recorder
from mock_backend.web.server import LiveServer

TOKEN = "nmv_usr_Q7w8E9r0T1y2"


def _upstream(gate: threading.Event) -> Starlette:
    async def echo(request: Request) -> Response:
        answer = JSONResponse(
            {
                "query": request.url.query,
                "auth": request.headers.get("authorization"),
                "file": f"{str(request.base_url).rstrip('/')}/cdn/f_1/a.mp3",
            }
        )
        answer.set_cookie("sid", "cookie-one")
        answer.set_cookie("pref", "cookie-two")
        return answer

    async def events() -> AsyncIterator[bytes]:
        yield b'data: {"type":"heartbeat"}\r\n\r\n'
        # the second event only once the client has the first: a proxy that buffers would
        # hold the first until the gate gives up, and the client would see "gave up" with it
        opened = await anyio.to_thread.run_sync(gate.wait, 20)
        yield b"data: " + (b'{"error":"second"}' if opened else b'{"error":"gave up"}') + b"\n\n"

    async def stream(request: Request) -> Response:
        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/echo", echo), Route("/run_sse", stream, methods=["POST"])])


def test_streams_pass_event_by_event_and_secrets_stay_off_the_disk(tmp_path: Path) -> None:
    gate = threading.Event()
    out = tmp_path / "rec"
    with (
        LiveServer(_upstream(gate)) as upstream,
        LiveServer(create_recorder(upstream.url, out)) as proxy,
        httpx.Client(base_url=proxy.url) as http,
    ):
        echoed = http.get(
            f"/echo?token={TOKEN}&page=2", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        chunks = []
        with http.stream("POST", "/run_sse", json={}) as response:
            for chunk in response.iter_text():
                chunks.append(chunk)
                gate.set()
    # the upstream got the real request, the client the real answer, with the proxy's address
    assert echoed.json()["query"] == f"token={TOKEN}&page=2"
    assert echoed.json()["auth"] == f"Bearer {TOKEN}"
    assert echoed.json()["file"].startswith(f"{proxy.url}/cdn/")
    assert sorted(echoed.headers.get_list("set-cookie"))[0].startswith("pref=cookie-two")
    assert len(echoed.headers.get_list("set-cookie")) == 2
    assert '"second"' in "".join(chunks)
    # the disk has none of it
    text = "".join(p.read_text() for p in out.rglob("*.yaml"))
    for secret in (TOKEN, "cookie-one", "cookie-two"):
        assert secret not in text
    recording = load_recording(out)
    echo, run = recording.exchanges()
    assert echo["request"]["query"].startswith("token=nmv_usr_REDACTED")
    assert echo["response"]["body"]["json"]["file"].startswith(f"{upstream.url}/cdn/")
    assert [e["data"] for e in run["response"]["events"]] == [
        '{"type":"heartbeat"}',
        '{"error":"second"}',
    ]
    assert run["response"]["ending"] == "upstream closed"


def test_an_upstream_that_does_not_answer_gets_the_envelope(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens here once the probe is closed
    recorder = create_recorder(f"http://127.0.0.1:{closed}", tmp_path / "rec")
    with LiveServer(recorder) as proxy, httpx.Client(base_url=proxy.url) as http:
        answer = http.get("/api/credits/balance/simple")
    assert answer.status_code == 502
    assert answer.json()["code"] == 502
    assert "cannot reach the upstream" in answer.json()["message"]
    assert load_recording(tmp_path / "rec").exchanges() == []
