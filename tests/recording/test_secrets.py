"""No secret reaches the disk: the recorded flows' own tokens, and every place one can hide."""

from __future__ import annotations

from mock_backend.recording.secrets import redact_headers, redact_json, redact_str, redact_url

from .servers import Recorded


def test_no_token_used_while_recording_is_anywhere_under_the_recording(
    recorded: Recorded,
) -> None:
    # the tokens the clients held (their config files) and showed (the claim link)
    assert any(t.startswith("nmv_usr_") for t in recorded.tokens)
    assert any(t.startswith("clm_") for t in recorded.tokens)
    files = [p for p in recorded.out.rglob("*") if p.is_file()]
    assert len(files) > 4
    for path in files:
        content = path.read_bytes()
        leaked = [t for t in recorded.tokens if t.encode() in content]
        assert leaked == [], f"{path} holds {len(leaked)} token(s)"
    # what was there is still visible as a stand-in, so a reader sees a token was sent
    sessions = b"".join(p.read_bytes() for p in (recorded.out / "sessions").iterdir())
    assert b"authorization: Bearer nmv_usr_REDACTED" in sessions
    assert b"claim_token: clm_REDACTED" in sessions


def test_headers_keep_the_scheme_and_which_cookie_but_no_value() -> None:
    kept = redact_headers(
        [
            ("Authorization", "Bearer nmv_usr_a1b2c3d4e5f6"),
            ("Cookie", "sid=abc123; theme=dark"),
            ("Set-Cookie", "sid=abc123; Path=/; HttpOnly"),
            ("Set-Cookie", "refresh=zzz999; Max-Age=60"),
            ("X-Api-Key", "k-123456"),
            ("Location", "/next?token=abc123&page=2"),
        ]
    )
    text = repr(kept)
    for secret in ("a1b2c3d4e5f6", "abc123", "zzz999", "k-123456", "dark"):
        assert secret not in text
    assert kept["authorization"].startswith("Bearer nmv_usr_REDACTED")
    assert kept["set-cookie"].splitlines()[0].endswith("; Path=/; HttpOnly")
    assert kept["location"].endswith("&page=2")


def test_tokens_in_urls_bodies_and_text_are_replaced_the_same_way_everywhere() -> None:
    token = "nmv_usr_Zx9Yw8Vu7T"
    url = redact_url(f"/api/x?token={token}&ct=clm_q1w2e3r4t5&n=3")
    body = redact_json({"data": {"token": token, "password": "hunter2", "expires_in": 9}})
    text = redact_str(f"open https://nemovideo.com/claim?ct=anything and use {token}")
    for secret in (token, "clm_q1w2e3r4t5", "hunter2", "anything"):
        assert secret not in url + repr(body) + text
    stand_in = body["data"]["token"]
    assert stand_in in url  # the same token, the same stand-in
    assert stand_in in text
    assert body["data"]["expires_in"] == 9
    assert redact_json(body) == body  # redacting twice changes nothing
