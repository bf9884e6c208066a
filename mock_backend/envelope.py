"""The `{code, message, data}` envelope and the HTTP status it travels with."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from .errors import ApiError
from .spec import load_spec

__all__ = ["BUSINESS_CODES", "REST_STATUS", "error_response", "ok", "status_for"]

# The REST error-status profile, as the contract states it (info.x-error-status-profiles.rest);
# its keys are the business codes, which the default profile answers with HTTP 200.
REST_STATUS = {
    int(code): int(status)
    for code, status in load_spec().extension("info", "x-error-status-profiles", "rest").items()
}
BUSINESS_CODES = frozenset(REST_STATUS)


def status_for(code: int, profile: str) -> int:
    if code in BUSINESS_CODES:
        return REST_STATUS[code] if profile == "rest" else 200
    return code if 400 <= code < 600 else 500


def ok(data: Any, message: str = "ok") -> dict[str, Any]:
    return {"code": 0, "message": message, "data": data}


def error_body(error: ApiError) -> dict[str, Any]:
    data = dict(error.data) if isinstance(error.data, dict) else error.data
    if error.field:
        data = {**(data or {}), "field": error.field}
    return {"code": error.code, "message": error.message, "data": data}


def error_response(
    error: ApiError, profile: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    extra = dict(headers or {})
    if error.code == 429:
        extra.setdefault("Retry-After", "30")
    return JSONResponse(
        error_body(error), status_code=status_for(error.code, profile), headers=extra
    )
