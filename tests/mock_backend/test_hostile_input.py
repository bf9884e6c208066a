"""Regressions of issue 12: each input a hostile client sent that broke the mock, leaked a token or
ate memory, answered now with the documented envelope (or, for Unicode names, simply working).

Every test is named after the reproduction it guards. Those that need a real socket (connection
handling, uvicorn's access log) run a `LiveServer`; the others the in-process twin.
"""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from mock_backend.redact import RedactingFilter

from .conftest import Media, Twin, assert_error, auth

pytestmark = pytest.mark.anyio

TOKEN = re.compile(r"nmv_usr_[A-Za-z0-9]{6,}")
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
    response = await twin.client.post(SESSIONS, **raw_json(token, text))  # type: ignore[arg-type]
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
        "/__mock/tokens", content=b'{"plan": "\\ud800"}', headers={"Content-Type": "application/json"}
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
async def test_token_glued_to_other_text_is_redacted_in_the_journal(
    twin: Twin, place: str
) -> None:
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
    assert isinstance(record.args, tuple) and record.args[4] == 200


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
