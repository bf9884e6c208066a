"""Regressions of issue 12: each input a hostile client sent that broke the mock, leaked a token or
ate memory, answered now with the documented envelope (or, for Unicode names, simply working).

Every test is named after the reproduction it guards. Those that need a real socket (connection
handling, uvicorn's access log) run a `LiveServer`; the others the in-process twin.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from mock_backend.control.admin import is_loopback
from mock_backend.control.redact import RedactingFilter
from mock_backend.settings import Settings
from mock_backend.web.app import create_app
from mock_backend.web.connections import PARSER
from mock_backend.web.server import LiveServer

from ..conftest import ATTRIBUTION, Media, Twin, assert_envelope, assert_error, auth
from ..rendering.test_renders import audio_draft

pytestmark = pytest.mark.anyio

TOKEN = re.compile(r"nmv_usr_[A-Za-z0-9]{6,}")
PARSERS = ["h11"] if PARSER == "h11" else ["httptools", "h11"]
SESSIONS = "/api/tasks/me/with-session/nemo_agent"


async def journal(twin: Twin) -> dict[str, object]:
    response = await twin.client.get("/__mock/journal")
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()["data"]
    return data


def raw_json(token: str, text: str) -> dict[str, object]:
    return {
        "content": text.encode(),
        "headers": {**auth(token), "Content-Type": "application/json"},
    }


# -- 1, 2: JSON that Python reads and nothing can write back --------------------------------------


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"task_name": "\\ud800"}', "surrogate"),
        ('{"task_name": "a\\udfffb", "language": "en"}', "surrogate"),
        ('{"task_name": NaN}', "NaN"),
        ('{"task_name": "x", "language": Infinity}', "Infinity"),
        ('{"task_name": -Infinity}', "Infinity"),
        ('{"task_name": 1e400}', "too large"),
        ("[" * 5000 + "]" * 5000, "nested deeper"),
    ],
)
async def test_unwritable_json_is_refused_and_every_read_keeps_answering(
    twin: Twin, text: str, why: str
) -> None:
    token = await twin.token()
    response = await twin.client.post(SESSIONS, **raw_json(token, text))
    body = assert_error(response, 422, field="body")
    assert why in body["message"], body
    # the journal holds the request as the text it was, and still answers
    entries = (await journal(twin))["entries"]
    assert isinstance(entries, list)
    assert entries[-1]["status"] == 422, entries[-1]
    # the client can go on: a session with a proper name works and reads back
    session = await twin.session(token)
    assert (await twin.state(token, session["session_id"]))["session_id"] == session["session_id"]


async def test_lone_surrogate_in_a_control_body_is_refused(twin: Twin) -> None:
    response = await twin.client.post(
        "/__mock/tokens",
        content=b'{"plan": "\\ud800"}',
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 422, field="body")
    assert (await twin.client.get("/__mock/health")).status_code == 200


# -- 3: the clock --------------------------------------------------------------------------------


@pytest.mark.parametrize("advance", ["Infinity", "NaN", "-Infinity", "1e400", "3e11", "-5"])
async def test_clock_advance_that_cannot_be_written_is_refused_and_the_server_lives_on(
    twin: Twin, advance: str
) -> None:
    before = await twin.now()
    response = await twin.client.post(
        "/__mock/clock",
        content=f'{{"advance": {advance}}}'.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 422)
    assert await twin.now() == before
    for path in ("/__mock/health", "/__mock/clock", "/__mock/journal"):
        assert (await twin.client.get(path)).status_code == 200, path
    assert (await twin.client.post("/__mock/reset", json={})).status_code == 200
    assert await twin.token()


# -- 4: Unicode file names -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["歌曲.mp3", "café.mp3", "🎵 mix.mp3", "مرحبا.mp3"])
async def test_upload_keeps_a_file_name_outside_latin1(twin: Twin, media: Media, name: str) -> None:
    ready = await twin.ready()
    response = await twin.client.post(
        f"/api/upload-video/nemo_agent/me/{ready.session_id}",
        files=[("files", (name, media.song.read_bytes(), "audio/mpeg"))],
        headers=auth(ready.token),
    )
    body = response.json()
    assert body["code"] == 0, body
    [uploaded] = body["data"]["files"]
    assert uploaded["filename"] == name, uploaded
    assert uploaded["cdn_url"].isascii(), uploaded  # a URI: the name is percent-encoded
    state = await twin.state(ready.token, ready.session_id)
    assert name in str(state), state


# -- 5: tokens in places a careless client puts them ---------------------------------------------


async def test_token_in_an_unmatched_path_stays_out_of_the_journal_counts(twin: Twin) -> None:
    token = await twin.token()
    assert (await twin.client.get(f"/nope/{token}")).status_code == 404
    data = await journal(twin)
    assert token not in str(data), data["counts"]


@pytest.mark.parametrize("place", ["%20{t}", "_{t}", "x{t}", "?q={t}", "?a=1&b=%20{t}"])
async def test_token_glued_to_other_text_is_redacted_in_the_journal(twin: Twin, place: str) -> None:
    token = await twin.token()
    await twin.client.get("/api/credits/balance/simple" + place.format(t=token))
    await twin.client.post(
        SESSIONS, json={"task_name": "see_" + token, "language": "en"}, headers=auth(token)
    )
    text = str(await journal(twin))
    assert token not in text


def test_token_in_a_query_string_keeps_the_access_log_line_and_redacts_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = "nmv_usr_" + "a1" * 16
    logger = logging.getLogger("test.access.redaction")
    logger.addFilter(RedactingFilter())
    path = f"/api/credits/balance/simple?token={token}&x=%20{token}"
    with caplog.at_level(logging.INFO, logger=logger.name):
        # uvicorn's access line: its formatter reads the args as a tuple
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 200)
    [record] = caplog.records
    line = record.getMessage()
    assert "GET /api/credits/balance/simple?token=nmv_usr_…" in line
    assert token not in line
    assert isinstance(record.args, tuple)
    assert record.args[4] == 200


def test_token_in_a_traceback_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    token = "nmv_usr_" + "b2" * 16
    logger = logging.getLogger("test.error.redaction")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.ERROR, logger=logger.name):
        try:
            raise KeyError(token)
        except KeyError:
            logger.exception("failed")
    assert token not in caplog.text
    assert "KeyError" in caplog.text


async def test_journal_never_shows_a_token_anywhere(twin: Twin) -> None:
    token = await twin.token()
    await twin.client.get(
        "/api/credits/balance/simple", headers={**auth(token), "X-Client-Id": token}
    )
    async with httpx.AsyncClient(transport=twin.transport, base_url="http://testserver") as c:
        await c.get(f"/api/state/nemo_agent/me/{token}/latest", headers=auth(token))
    assert not TOKEN.search(str(await journal(twin)))


# -- 6: bodies and the journal's memory ----------------------------------------------------------


async def test_json_body_over_the_limit_is_refused_before_it_is_read(twin: Twin) -> None:
    token = await twin.token()
    limit = twin.backend.limits.json_body_bytes
    big = b'{"task_name": "' + b"x" * (limit + 10) + b'"}'
    response = await twin.client.post(SESSIONS, **raw_json(token, big.decode()))
    body = assert_error(response, 413, field="body")
    assert str(limit) in body["message"]
    assert response.headers["connection"] == "close"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        yield b'{"task_name": "'
        for _ in range(limit // 65536 + 2):
            yield b"y" * 65536
        yield b'"}'

    response = await twin.client.post(
        SESSIONS, content=chunks(), headers={**auth(token), "Content-Type": "application/json"}
    )
    assert_error(response, 413, field="body")
    assert await twin.session(token)


@pytest.mark.parametrize(
    "mock_settings",
    [{"limits": (("journal_bytes", 60_000), ("journal_body_bytes", 2048))}],
    indirect=True,
)
async def test_journal_stays_within_its_byte_budget(twin: Twin) -> None:
    token = await twin.token()
    filler = {"task_name": "n" * 100_000, "language": "en"}
    for _ in range(40):
        await twin.client.post(SESSIONS, json=filler, headers=auth(token))
    journal_ = twin.backend.journal
    assert journal_.bytes <= 60_000, journal_.bytes
    assert journal_.dropped > 0
    data = await journal(twin)
    entries = data["entries"]
    assert isinstance(entries, list)
    assert 0 < len(entries) < 41
    # each body was cut to journal_body_bytes, and is shown as the text it was
    kept = entries[-1]["request"]["body"]
    assert isinstance(kept, str)
    assert len(kept.encode()) <= 2048


# -- 7: the smaller holes ------------------------------------------------------------------------


async def test_another_users_upload_cannot_be_rendered_through_its_cdn_url(
    twin: Twin, media: Media
) -> None:
    owner = await twin.ready(media.song)
    thief = await twin.ready()
    draft = audio_draft(owner)  # the owner's cdn_url, submitted in the thief's session
    response = await twin.submit(thief.token, thief.session_id, draft, "render_theft")
    assert response.json()["code"] == 0, response.json()
    views = await twin.until_finished(thief.token, "render_theft")
    assert views[-1]["status"] == "failed", views[-1]
    assert "not an uploaded file of this session" in str(views[-1]), views[-1]


@pytest.mark.parametrize("volume", ["NaN", "Infinity", "1e400"])
async def test_a_render_with_a_non_finite_volume_is_refused_at_once(
    twin: Twin, media: Media, volume: str
) -> None:
    ready = await twin.ready(media.song)
    src = ready.files[0]["cdn_url"]
    text = (
        f'{{"id": "render_1", "sessionId": "{ready.session_id}", "draft": {{"t": [{{"tt": 1, '
        f'"sg": [{{"d": 2000, "m": {{"src": "{src}", "volume": {volume}}}}}]}}]}}}}'
    )
    response = await twin.client.post(
        "/api/render/proxy/lambda",
        content=text.encode(),
        headers={**auth(ready.token), **ATTRIBUTION, "Content-Type": "application/json"},
    )
    assert_error(response, 422, field="body")


async def test_the_contract_bounds_a_draft_to_the_hour_the_engine_renders(twin: Twin) -> None:
    ready = await twin.ready()
    draft = {"t": [{"tt": 7, "sg": [{"d": 3_600_001, "m": {"kind": "text", "text": "x"}}]}]}
    response = await twin.client.post(
        "/api/render/proxy/lambda",
        json={"id": "render_2", "sessionId": ready.session_id, "draft": draft},
        headers={**auth(ready.token), **ATTRIBUTION},
    )
    body = assert_error(response, 422)
    assert "3600000" in body["message"], body


# -- over a real socket: what uvicorn itself used to let through ---------------------------------


@pytest.fixture(scope="module", params=PARSERS)
def live(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """The mock on a real port, with a 1 s request deadline (the contract says 30), served by
    each guarded protocol: httptools' (the default) and h11's (the fallback)."""
    settings = Settings(clock="manual", limits=(("request_seconds", 1.0),))
    with LiveServer(create_app(settings), parser=request.param) as server:
        yield server


def connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by WAIT per read:
    a server that never closes fails here rather than hanging the suite)."""
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(
                f"the server kept the connection open {WAIT} s after {received[:200]!r}"
            ) from None
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def envelope_of(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    parsed: dict[str, Any] = json.loads(body)
    assert_envelope(parsed, where=f"raw answer {status}")
    return status, parsed


WAIT = 15.0  # seconds a socket read may block: far past the 1 s deadline, never reached when fixed


def test_idle_connection_is_closed_after_the_request_deadline(live: LiveServer) -> None:
    with connect(live) as sock:
        assert read_until_closed(sock) == b""


def test_half_sent_request_head_gets_408_and_is_closed(live: LiveServer) -> None:
    with connect(live) as sock:
        sock.sendall(b"GET /api/credits/balance/simple HTTP/1.1\r\nHost: x\r\n")
        status, body = envelope_of(read_until_closed(sock))
    assert (status, body["code"]) == (408, 408), body


def token_of(server: LiveServer, client_id: str) -> str:
    response = httpx.post(
        f"{server.url}/api/auth/anonymous-token", headers={"X-Client-Id": client_id}, timeout=WAIT
    )
    token: str = response.json()["data"]["token"]
    return token


def test_half_sent_body_gets_408_and_is_closed(live: LiveServer) -> None:
    token = token_of(live, "c-408")
    with connect(live) as sock:
        sock.sendall(
            f"POST {SESSIONS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":'.encode()
        )
        status, body = envelope_of(read_until_closed(sock))
    assert (status, body["code"]) == (408, 408), body
    assert body["data"] == {"field": "body", "rule": "timeout"}


def test_oversized_head_gets_431_as_the_envelope(live: LiveServer) -> None:
    with connect(live) as sock:
        sock.sendall(b"GET /api/credits/balance/simple HTTP/1.1\r\nHost: x\r\n")
        sock.sendall(b"X-Filler: " + b"f" * 20_000 + b"\r\n\r\n")
        status, body = envelope_of(read_until_closed(sock))
    assert (status, body["code"]) == (431, 431), body


@pytest.mark.parametrize(
    "request_line",
    [b"GET /api/\xe6\xad\x8c HTTP/1.1", b"GET /x HTTP/1.1\r\nno colon here", b"NOT HTTP AT ALL"],
)
def test_malformed_request_gets_400_as_the_envelope(live: LiveServer, request_line: bytes) -> None:
    with connect(live) as sock:
        sock.sendall(request_line + b"\r\nHost: x\r\n\r\n")
        status, body = envelope_of(read_until_closed(sock))
    assert (status, body["code"]) == (400, 400), body


@pytest.mark.parametrize("pieces", ["many headers", "one header"])
def test_oversized_head_arriving_in_small_pieces_gets_431(live: LiveServer, pieces: str) -> None:
    # httptools bounds no head; the protocol counts what arrives until the head is complete
    limit = live.app.state.backend.limits.header_bytes  # type: ignore[attr-defined]
    with connect(live) as sock:
        sock.sendall(b"GET /api/credits/balance/simple HTTP/1.1\r\nHost: x\r\n")
        if pieces == "one header":
            sock.sendall(b"X-Filler: ")
        for n in range(limit // 1000 + 1):  # just past the limit: all of it read before 431
            sock.sendall(
                b"X-Filler-%03d: %s\r\n" % (n, b"f" * 984)
                if pieces == "many headers"
                else b"f" * 1000
            )
            time.sleep(0.002)  # apart, so that the server reads them as pieces
        status, body = envelope_of(read_until_closed(sock))
    assert (status, body["code"]) == (431, 431), body


def replies(data: bytes) -> list[tuple[int, bytes]]:
    """The (status, body) of each answer in ``data``, answers with a Content-Length."""
    answers = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        [length] = [
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ]
        answers.append((int(head.split(b" ", 2)[1]), rest[:length]))
        data = rest[length:]
    return answers


def test_pipelined_requests_are_answered_in_order(live: LiveServer) -> None:
    token = token_of(live, "c-pipelined")
    credits = b"GET /api/credits/balance/simple HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
    with connect(live) as sock:
        sock.sendall(
            credits
            + token.encode()
            + b"\r\n\r\n"
            + b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
            + credits
            + token.encode()
            + b"\r\nConnection: close\r\n\r\n"
        )
        answers = replies(read_until_closed(sock))
    assert [status for status, _ in answers] == [200, 404, 200], answers
    assert [json.loads(body)["code"] for _, body in answers] == [0, 404, 0], answers


def test_a_body_the_app_did_not_read_is_skipped_for_the_next_request(live: LiveServer) -> None:
    token = token_of(live, "c-unread")
    body = b"x" * 100_000  # a GET's body: the app answers without reading it
    head = (
        b"GET /api/credits/balance/simple HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
        b"Content-Length: %d\r\n\r\n" % (token.encode(), len(body))
    )
    with connect(live) as sock:
        sock.sendall(head + body + b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answers = replies(read_until_closed(sock))
    assert [status for status, _ in answers] == [200, 404], answers


def test_the_unread_rest_of_a_body_ends_the_connection_without_an_answer(
    live: LiveServer,
) -> None:
    token = token_of(live, "c-unread-rest")
    head = (
        b"GET /api/credits/balance/simple HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
        b"Content-Length: 1000\r\n\r\n" % token.encode()
    )
    with connect(live) as sock:
        sock.sendall(head + b"x" * 10)  # answered; the rest of the body never comes
        answers = replies(read_until_closed(sock))  # the deadline closes it: no 408
    assert [status for status, _ in answers] == [200], answers


def test_huge_upload_refused_by_content_length_is_not_read(live: LiveServer) -> None:
    token = token_of(live, "c-upload")
    session = httpx.post(
        f"{live.url}{SESSIONS}",
        json={"task_name": "big", "language": "en"},
        headers=auth(token),
        timeout=WAIT,
    ).json()["data"]["session_id"]
    with connect(live) as sock:
        sock.sendall(
            f"POST /api/upload-video/nemo_agent/me/{session} HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {token}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {600 * 1024 * 1024}\r\n\r\n".encode()
            + b"--b\r\n"
            + b"x" * 65536
        )
        answer = read_until_closed(sock)  # closed after the answer: the 600 MB is never read
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower(), head
    assert json.loads(body)["code"] == 4002


def test_x_forwarded_for_from_loopback_does_not_lift_the_per_ip_token_limit() -> None:
    codes = []
    with LiveServer(create_app(Settings(clock="manual", tokens_per_ip=3))) as server:
        for n in range(5):
            response = httpx.post(
                f"{server.url}/api/auth/anonymous-token",
                headers={"X-Client-Id": f"c-xff-{n}", "X-Forwarded-For": f"203.0.113.{n}"},
                timeout=WAIT,
            )
            codes.append(response.json()["code"])
    assert codes == [0, 0, 0, 429, 429], codes  # the forged addresses all count as loopback


def test_control_api_answers_127_0_0_1_on_a_server_listening_on_all_ipv6_addresses() -> None:
    assert is_loopback("::ffff:127.0.0.1")
    assert is_loopback("127.0.0.2")
    assert is_loopback("::1")
    assert not is_loopback("::ffff:10.0.0.1")
    assert not is_loopback("example.com")
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        server = LiveServer(create_app(Settings(clock="manual")), host="::").start()
    except OSError as exc:
        pytest.skip(f"cannot listen on [::]: {exc}")
    try:
        response = httpx.get(f"http://127.0.0.1:{server.port}/__mock/health", timeout=WAIT)
        assert response.json()["code"] == 0, response.text
    finally:
        server.stop()


async def test_a_draft_not_ready_for_export_is_refused_by_the_contract_itself(twin: Twin) -> None:
    # issue 13: the schema states the rule (ReadyDraft), so a provider run never calls a
    # schema-valid request "rejected"; the message says what to do
    ready = await twin.ready()
    for draft in ({"t": []}, {"t": [{"tt": 1, "sg": []}]}):
        response = await twin.submit(ready.token, ready.session_id, draft, "render_empty")
        body = assert_error(response, 422, field="body.draft.t")
        assert "ask the agent to build a timeline first" in body["message"], body
        draft_schema = {"$ref": "#/components/schemas/Draft"}
        assert twin.backend.spec.validator(draft_schema).is_valid(draft), "only renders need sg"


async def test_url_upload_body_is_bounded_like_every_json_body(twin: Twin) -> None:
    ready = await twin.ready()
    limit = twin.backend.limits.json_body_bytes
    urls = ["https://example.com/" + "a" * 1000 + ".mp3"] * (limit // 1000)
    response = await twin.client.post(
        f"/api/upload-video/nemo_agent/me/{ready.session_id}",
        json={"urls": urls, "source_type": "url"},
        headers=auth(ready.token),
    )
    assert_error(response, 413, field="body")


async def test_a_refused_upload_leaves_nothing_on_disk(twin: Twin, media: Media) -> None:
    ready = await twin.ready()
    url = f"/api/upload-video/nemo_agent/me/{ready.session_id}"
    refusals = [
        [("files", ("notes.txt", b"not media", "text/plain"))],  # 4001 by its name
        [("files", ("fake.mp3", b"not an mp3 at all", "audio/mpeg"))],  # 4001 once probed
        [("other", ("song.mp3", media.song.read_bytes(), "audio/mpeg"))],  # 422: wrong field
    ]
    for files in refusals:
        response = await twin.client.post(url, files=files, headers=auth(ready.token))
        assert response.json()["code"] != 0, response.json()
    assert not any(twin.backend.uploads_dir.iterdir()), list(twin.backend.uploads_dir.iterdir())
