"""The limits on what a request may be, as the contract states them (``info.x-limits``).

The documents state none; the contract decides them (`x-assumed`) so that one careless or
hostile client cannot slow or break the mock for the others, and the mock enforces exactly
those, each with the envelope of its code: a JSON body over ``json_body_bytes`` answers 413,
nested deeper than ``json_depth`` 422, a head over ``header_bytes`` 431, a request whose head or
next body chunk takes longer than ``request_seconds`` (wall time: it is the network's) 408. The
journal keeps at most ``journal_body_bytes`` of each body and ``journal_bytes`` in all. A
completed render's first poll and its downloads wait at most ``file_wait_seconds`` (wall time:
the encoder's) for the file.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from starlette.requests import ClientDisconnect, Request

from ..errors import ApiError, ContractError
from .spec import Spec

__all__ = ["Limits", "read_body"]


@dataclass(frozen=True)
class Limits:
    json_body_bytes: int
    json_depth: int
    header_bytes: int
    request_seconds: float
    journal_bytes: int
    journal_body_bytes: int
    file_wait_seconds: float

    @classmethod
    def from_spec(cls, spec: Spec, **overrides: Any) -> Limits:
        """The contract's limits; ``overrides`` (a test's, or a flag's) replace some of them."""
        stated = spec.extension("info", "x-limits")
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in stated]
        if missing:
            raise ContractError(f"openapi.yaml: info.x-limits lacks {missing}")
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise TypeError(f"unknown limits {unknown}; known: {names}")
        limits = cls(**{name: stated[name] for name in names})
        return replace(limits, **overrides)


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError(
        413,
        f"body: {size} bytes is more than the {limit} a JSON body may have; send a smaller one",
        data={"field": "body", "rule": "maxBytes"},
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is known to pass ``limit`` bytes (from
    Content-Length before a byte is read, else while it streams in), so that no body costs
    more memory than the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > limit:
                raise _too_large(len(body), limit)
    except ClientDisconnect:
        raise ApiError(
            422,
            "body: the connection closed before the body ended",
            data={"field": "body", "rule": "complete"},
        ) from None
    return bytes(body)
