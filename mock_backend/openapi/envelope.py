"""The `{code, message, data}` envelope and the HTTP status it travels with."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from starlette.responses import JSONResponse

from ..control.redact import redact, redact_text
from ..errors import ApiError
from .spec import Spec, load_spec

__all__ = [
    "OK_HEAD",
    "Answer",
    "FlatBody",
    "StatusProfile",
    "compact",
    "default_profile",
    "error_body",
    "error_response",
    "ok",
]

# refusals answered before the request's body was read: too large (413, 4002) or too slow (408)
UNREAD_BODY = frozenset({408, 413, 4002})


# JSON as Starlette's JSONResponse writes it (strict: no NaN can reach a client). The C encoder is
# made once: json.dumps builds a new encoder, and a new C one under it, on every call (half the
# time of a small answer's JSON). No circular-reference check: answers are trees of dicts and lists.
def _unencodable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_PY_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
_C_ENCODE = (
    None
    if c_make_encoder is None  # a Python built without the _json accelerator
    else c_make_encoder(None, _unencodable, encode_basestring, None, ":", ",", False, False, False)
)


def _encode(value: Any) -> str:
    if _C_ENCODE is None or isinstance(value, str):  # the C encoder takes no bare string
        return _PY_ENCODE(value)
    return "".join(_C_ENCODE(value, 0))


def compact(value: Any) -> bytes:
    """``value`` as JSON bytes, exactly as Starlette's JSONResponse renders it."""
    return _encode(value).encode("utf-8")


class Answer(JSONResponse):
    """A JSONResponse: the same body and headers, made without Starlette's general path (header
    mapping, media-type and charset checks) when no extra header is asked for. Every JSON answer
    of the mock is one, so this is on the path of nearly every request."""

    def __init__(
        self, content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        if headers:
            super().__init__(content, status_code, headers)
            return
        self._take(compact(content), status_code)

    @classmethod
    def ok(cls, data: Any) -> Answer:
        """``Answer(ok(data))``, the same bytes, with only ``data`` encoded: the envelope
        around it is the same on every successful answer."""
        answer = cls.__new__(cls)
        answer._take(OK_HEAD + compact(data) + b"}", 200)
        return answer

    def _take(self, body: bytes, status_code: int) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-length", str(len(body)).encode("latin-1")),
            (b"content-type", b"application/json"),
        ]

    def render(self, content: Any) -> bytes:
        return compact(content)


# `ok`'s envelope up to its data, as `compact` writes it: an answer written in parts starts so
OK_HEAD = b'{"code":0,"message":"ok","data":'


@dataclass(frozen=True)
class StatusProfile:
    """The HTTP status each code travels with under one error-status profile of a contract.

    The contract's ``info.x-error-status-profiles.rest`` maps the business codes to statuses;
    under ``http200`` (the default, as the documents show) they travel with HTTP 200. Other
    codes are HTTP statuses themselves."""

    name: str  # "http200" or "rest"
    rest: Mapping[int, int] = field(default_factory=dict)

    @classmethod
    def of(cls, spec: Spec, name: str) -> StatusProfile:
        rest = spec.extension("info", "x-error-status-profiles", "rest")
        return cls(name, {int(code): int(status) for code, status in rest.items()})

    def status(self, code: int) -> int:
        if code in self.rest:
            return self.rest[code] if self.name == "rest" else 200
        return code if 400 <= code < 600 else 500


@functools.cache
def default_profile() -> StatusProfile:
    """``http200`` of the packaged contract: for answers given before any app is involved (a
    malformed request head) or by the control API."""
    return StatusProfile.of(load_spec(), "http200")


class FlatBody(dict[str, Any]):
    """A whole answer whose envelope fields sit beside its data, sent as it is: the render API
    answers so (``{code, message, id, status, progress, ...}``, as the documents show it)."""


def ok(data: Any, message: str = "ok") -> dict[str, Any]:
    return {"code": 0, "message": message, "data": data}


def error_body(error: ApiError) -> dict[str, Any]:
    """The envelope, with any token a message or field would echo (a token sent as a session
    id, or in a path that matched nothing) replaced by its fingerprint: an error answer never
    repeats a secret, to a log or to whoever reads it."""
    return {"code": error.code, "message": redact_text(error.message), "data": redact(error.data)}


def error_response(
    error: ApiError, profile: StatusProfile, headers: dict[str, str] | None = None
) -> JSONResponse:
    extra = dict(headers or {})
    if error.code == 429:
        extra.setdefault("Retry-After", "30")
    if error.code in UNREAD_BODY:
        # the rest of the body is never read: ending the connection spares the client sending
        # (and the server receiving) hundreds of megabytes nobody wants
        extra.setdefault("Connection", "close")
    return Answer(error_body(error), status_code=profile.status(error.code), headers=extra)
