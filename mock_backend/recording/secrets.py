"""Keeping secrets out of a recording, before anything touches the disk.

A recording is meant to be shared (attached to a bug, committed next to a test), so everything
that could let its reader act as the recorded user is replaced: bearer tokens and claim tokens
wherever they sit (headers, paths, query strings, JSON bodies, event text), cookies, and values
of JSON keys and URL query parameters whose names say they are secret.

NemoVideo tokens become stand-ins of the same shape (`control.redact.placeholder`,
``nmv_usr_REDACTED3f9a1c``): the contract's token patterns still hold, so drift is not raised
by the redaction itself, and a replayed client that sends the stand-in back is matched. Other
secrets become ``REDACTED`` plus the first hex digits of their sha256, so two exchanges that
carried the same secret still visibly carried the same one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..control.redact import placeholder, redact_text

__all__ = [
    "SECRET_HEADERS",
    "is_secret_name",
    "redact_headers",
    "redact_json",
    "redact_str",
    "redact_url",
]

# headers whose whole value is a credential
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-mock-admin-token",
        "x-mock-token",
        "x-api-key",
        "x-auth-token",
    }
)
# JSON keys and query parameters whose value is a credential, whatever it looks like
_SECRET_NAME = re.compile(
    r"(^|_|-)(token|secret|password|passwd|api_?key|access_?key|signature|sig|credential|"
    r"session_?key|ct|auth)$",
    re.IGNORECASE,
)
# names that contain "token" but are not secrets
_NOT_SECRET = frozenset({"expires_in", "token_type", "scopes"})
_URL = re.compile(r"https?://[^\s\"'<>]+")


def _opaque(value: str) -> str:
    """A stand-in for a secret of no known shape (the same secret, the same stand-in)."""
    if _STAND_IN.match(value):
        return value
    return f"REDACTED{hashlib.sha256(value.encode()).hexdigest()[:6]}"


_STAND_IN = re.compile(r"^(nmv_usr_|clm_)?REDACTED[0-9a-f]{6}$")


def _secret_value(value: str) -> str:
    if _STAND_IN.match(value):  # already replaced: redacting twice changes nothing
        return value
    shaped = redact_text(value, placeholder)
    return shaped if shaped != value else _opaque(value)


def is_secret_name(name: str) -> bool:
    return name.lower() not in _NOT_SECRET and bool(_SECRET_NAME.search(name))


def redact_url(url: str) -> str:
    """A URL or a path with its query string's secret parameters and any token replaced."""
    parts = urlsplit(url)
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = urlencode(
            [(k, _secret_value(v) if is_secret_name(k) and v else v) for k, v in pairs],
            safe="/:",
        )
        url = urlunsplit(parts._replace(query=query))
    return redact_text(url, placeholder)


def redact_str(text: str) -> str:
    """Free text (a message, an event's data): tokens, and secrets in the URLs it holds."""
    text = _URL.sub(lambda m: redact_url(m.group(0)) if "?" in m.group(0) else m.group(0), text)
    return redact_text(text, placeholder)


def redact_json(value: Any) -> Any:
    """A copy of a JSON value with every secret replaced (by key name, and by token shape)."""
    if isinstance(value, str):
        return redact_str(value)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = redact_str(str(key))
            if isinstance(item, str) and item and is_secret_name(str(key)):
                out[name] = _secret_value(item)
            else:
                out[name] = redact_json(item)
        return out
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    return value


def redact_headers(headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> dict[str, str]:
    """Headers as a recording keeps them: lower-case names, credentials replaced (the scheme
    of an Authorization header kept), repeated headers joined as HTTP allows."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        if key in SECRET_HEADERS:
            scheme, _, credential = value.partition(" ")
            if key.endswith("authorization") and credential:
                value = f"{scheme} {_secret_value(credential.strip())}"
            elif key in ("set-cookie", "cookie"):
                value = _cookie(value, attributes=key == "set-cookie")
            else:
                value = _secret_value(value)
        elif key in ("location", "content-location", "link", "referer"):
            value = redact_url(value)
        else:
            value = redact_str(value)
        if key in out:  # a repeated header; Set-Cookie cannot be comma-joined, so a new line
            value = f"{out[key]}{chr(10) if key == 'set-cookie' else ', '}{value}"
        out[key] = value
    return out


def _cookie(value: str, *, attributes: bool) -> str:
    """``sid=abc; Path=/`` → ``sid=REDACTED…; Path=/``: which cookie, never its value. A
    Set-Cookie (``attributes``) keeps its attributes; in a Cookie header every pair is a cookie."""
    pieces = []
    for i, piece in enumerate(p.strip() for p in value.split(";")):
        name, eq, content = piece.partition("=")
        if eq and (i == 0 or not attributes):
            pieces.append(f"{name}={_opaque(content)}")
        else:
            pieces.append(piece)
    return "; ".join(pieces)
