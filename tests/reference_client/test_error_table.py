"""Each row of the documents' error table, under both HTTP-status profiles the backend may use:
HTTP 200 with the business code in the body, or the REST status mapping."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from clients_under_test.reference.error_table import TABLE, Recovery
from clients_under_test.reference.errors import (
    AuthError,
    CreditsError,
    FileRejected,
    NetworkError,
    PlanError,
    RateLimited,
    SessionError,
    UnexpectedResponse,
)

from .backend import WEB, Backend, FakeClock, envelope
from .conftest import MakeClient

REST = {1001: 401, 1002: 404, 2001: 403, 4001: 415, 4002: 413}
PROFILES = pytest.mark.parametrize("rest", [False, True], ids=["http200", "rest"])


def business_error(code: int, rest: bool) -> httpx.Response:
    return envelope(code=code, status=REST[code] if rest else 200, message=f"error {code}")


def test_the_table_holds_every_documented_code() -> None:
    assert set(TABLE) == {1001, 1002, 2001, 4001, 4002, 400, 402, 429}
    recoveries = {code: rule.recovery for code, rule in TABLE.items() if rule.recovery}
    assert recoveries == {
        1001: Recovery.REAUTHENTICATE,
        1002: Recovery.NEW_SESSION,
        400: Recovery.NEW_CLIENT_ID,
        429: Recovery.WAIT_AND_RETRY,
    }


@PROFILES
def test_1001_reauthenticates_once_with_the_same_client_id(
    make_client: MakeClient, backend: Backend, rest: bool
) -> None:
    backend.queue("credits", business_error(1001, rest))
    balance = make_client().credits()

    assert balance.available == 100
    tokens = backend.ops("token")
    assert len(tokens) == 2
    assert tokens[0].request.headers["X-Client-Id"] == tokens[1].request.headers["X-Client-Id"]
    credits = backend.ops("credits")
    assert [c.request.headers["Authorization"] for c in credits] == [
        "Bearer nmv_usr_secret1",
        "Bearer nmv_usr_secret2",
    ]


@PROFILES
def test_1001_twice_is_an_auth_error(make_client: MakeClient, backend: Backend, rest: bool) -> None:
    backend.queue("credits", business_error(1001, rest), business_error(1001, rest))
    with pytest.raises(AuthError, match="even after renewing"):
        make_client().credits()
    assert len(backend.ops("credits")) == 2


def test_1001_with_nemo_token_is_not_renewed(make_client: MakeClient, backend: Backend) -> None:
    backend.queue("credits", business_error(1001, False))
    with pytest.raises(AuthError, match="NEMO_TOKEN was rejected"):
        make_client(token="nmv_registered_token").credits()
    assert backend.ops("token") == []


@PROFILES
def test_1002_creates_a_new_session_and_retries_there(
    make_client: MakeClient, backend: Backend, rest: bool
) -> None:
    client = make_client()
    client.new_session()
    backend.queue("state", business_error(1002, rest))

    client.state()

    paths = [c.request.url.path for c in backend.ops("state")]
    assert paths == [
        "/api/state/nemo_agent/me/sess_1/latest",
        "/api/state/nemo_agent/me/sess_2/latest",
    ]
    assert client.session().session_id == "sess_2"


def test_1002_twice_is_a_session_error(make_client: MakeClient, backend: Backend) -> None:
    client = make_client()
    backend.queue("state", business_error(1002, False), business_error(1002, False))
    with pytest.raises(SessionError):
        client.state()
    assert backend.sessions_made == 2


@PROFILES
def test_2001_anonymous_gets_a_registration_link_with_bind(
    make_client: MakeClient, backend: Backend, rest: bool
) -> None:
    backend.queue("credits", business_error(2001, rest))
    with pytest.raises(CreditsError) as caught:
        make_client().credits()
    assert str(caught.value) == f"Out of credits. Register to get more: {WEB}/register?bind=anon_42"


def test_2001_registered_is_told_to_top_up(make_client: MakeClient, backend: Backend) -> None:
    backend.queue("credits", business_error(2001, False))
    with pytest.raises(CreditsError, match="Top up credits in your account"):
        make_client(token="nmv_registered_token").credits()


@PROFILES
@pytest.mark.parametrize(
    ("code", "expected"),
    [(4001, r"Supported formats: mp4, mov, avi.*flac"), (4002, r"Compress it or trim it")],
)
def test_file_errors_explain_what_to_do(
    make_client: MakeClient, backend: Backend, tmp_path: Path, code: int, expected: str, rest: bool
) -> None:
    song = tmp_path / "song.mp3"
    song.write_bytes(b"ID3" + b"\0" * 100)
    backend.queue("upload", business_error(code, rest))
    with pytest.raises(FileRejected, match=expected):
        make_client().upload([song])
    assert len(backend.ops("upload")) == 1


def test_400_makes_a_new_client_id_persists_it_and_retries(
    make_client: MakeClient, backend: Backend
) -> None:
    client = make_client()
    old_id = client.credentials.client_id()
    backend.queue("token", envelope(code=400, status=400, message="missing X-Client-Id"))

    client.credits()

    tokens = backend.ops("token")
    assert len(tokens) == 2
    new_id = tokens[1].request.headers["X-Client-Id"]
    assert new_id != old_id
    assert client.store.read_text("client_id") == new_id


def test_400_twice_is_an_auth_error(make_client: MakeClient, backend: Backend) -> None:
    bad = envelope(code=400, status=400)
    backend.queue("token", bad, bad)
    with pytest.raises(AuthError, match="client id"):
        make_client().credits()


def test_402_is_a_plan_issue_not_credits(make_client: MakeClient, backend: Backend) -> None:
    client = make_client()
    client.new_session()
    backend.draft = {"t": [{"id": "v", "tt": 0, "sg": [{"id": "s", "s": 0, "d": 1000}]}]}
    backend.queue("render", envelope(code=402, status=402, message="free plan"))
    with pytest.raises(PlanError) as caught:
        client.export("mp4")
    assert str(caught.value).startswith("Register or upgrade your plan to unlock export.")
    assert "credit" not in str(caught.value).lower()


def test_429_waits_30_seconds_by_the_clock_and_retries_once(
    make_client: MakeClient, backend: Backend, clock: FakeClock
) -> None:
    backend.queue("credits", envelope(code=429, status=429))
    make_client().credits()
    assert clock.sleeps == [30.0]
    assert len(backend.ops("credits")) == 2


def test_429_twice_gives_up_with_a_message(
    make_client: MakeClient, backend: Backend, clock: FakeClock
) -> None:
    backend.queue("credits", envelope(code=429, status=429), envelope(code=429, status=429))
    with pytest.raises(RateLimited, match="try again later"):
        make_client().credits()
    assert clock.sleeps == [30.0]
    assert len(backend.ops("credits")) == 2


def test_429_without_a_json_body_still_counts(
    make_client: MakeClient, backend: Backend, clock: FakeClock
) -> None:
    backend.queue("credits", httpx.Response(429, text="slow down"))
    make_client().credits()
    assert clock.sleeps == [30.0]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (httpx.Response(502, text="<html>Bad gateway</html>"), r"HTTP 502 and a body that is not"),
        (httpx.Response(500, json={"code": 0, "data": None}), r"HTTP 500"),
        (envelope(code=9999, message="weird"), r"error code 9999: weird"),
        (httpx.Response(200, json={"data": {"available": 1}}), r"without the expected `code`"),
        (httpx.Response(200, json=["not", "an", "object"]), r"not JSON"),
        (envelope({"available": "lots"}), r"malformed `available`"),
        (envelope(None), r"malformed `data`"),
    ],
    ids=["html-502", "code0-on-500", "unknown-code", "no-code", "json-array", "bad-field", "null"],
)
def test_anything_unexpected_is_a_clear_error(
    make_client: MakeClient, backend: Backend, answer: httpx.Response, expected: str
) -> None:
    backend.queue("credits", answer)
    with pytest.raises(UnexpectedResponse, match=expected):
        make_client().credits()


def test_a_network_failure_is_a_network_error(make_client: MakeClient, backend: Backend) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    backend.queue("credits", refuse)
    with pytest.raises(NetworkError, match="Could not reach NemoVideo"):
        make_client().credits()
