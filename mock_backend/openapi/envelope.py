"""The `{code, message, data}` envelope and the HTTP status it travels with."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from ..control.redact import redact, redact_text
from ..errors import ApiError
from .spec import load_spec

__all__ = ["BUSINESS_CODES", "REST_STATUS", "error_body", "error_response", "ok", "status_for"]

# The REST error-status profile, as the contract states it (info.x-error-status-profiles.rest);
# its keys are the business codes, which the default profile answers with HTTP 200.
REST_STATUS = {
    int(code): int(status)
    for code, status in load_spec().extension("info", "x-error-status-profiles", "rest").items()
}
BUSINESS_CODES = frozenset(REST_STATUS)
# refusals answered before the request's body was read: too large (413, 4002) or too slow (408)
UNREAD_BODY = frozenset({408, 413, 4002})


def status_for(code: int, profile: str) -> int:
    if code in BUSINESS_CODES:
        return REST_STATUS[code] if profile == "rest" else 200
    return code if 400 <= code < 600 else 500


def ok(data: Any, message: str = "ok") -> dict[str, Any]:
    return {"code": 0, "message": message, "data": data}


def error_body(error: ApiError) -> dict[str, Any]:
    """The envelope, with any token a message or field would echo (a token sent as a session
    id, or in a path that matched nothing) replaced by its fingerprint: an error answer never
    repeats a secret, to a log or to whoever reads it."""
    return {"code": error.code, "message": redact_text(error.message), "data": redact(error.data)}


def error_response(
    error: ApiError, profile: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    extra = dict(headers or {})
    if error.code == 429:
        extra.setdefault("Retry-After", "30")
    if error.code in UNREAD_BODY:
        # the rest of the body is never read: ending the connection spares the client sending
        # (and the server receiving) hundreds of megabytes nobody wants
        extra.setdefault("Connection", "close")
    return JSONResponse(
        error_body(error), status_code=status_for(error.code, profile), headers=extra
    )
