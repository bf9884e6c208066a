"""Product operations, one function per ``operationId`` of openapi.yaml.

A handler receives a `Call` (the validated request, the authenticated caller, the backend) and
returns the success ``data`` (the app wraps it in the envelope, ``code`` 0), a `FlatBody` (the
render API's answers, whose envelope fields sit beside the data) or a Starlette response (a
stream, a file). It raises `ApiError` for a documented error, which the app answers
with the envelope of its code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ...backend import Backend
from ...control.overrides import NO_OVERRIDES, Overrides
from ...openapi.spec import Operation
from ...openapi.validation import ValidatedRequest
from ...state.accounts import Caller, session_not_found
from ...state.store import SessionRecord

__all__ = ["Call", "Handler", "all_handlers"]


@dataclass
class Call:
    request: Request
    operation: Operation
    params: ValidatedRequest
    caller: Caller | None
    backend: Backend
    overrides: Overrides = NO_OVERRIDES  # from the rules fired for this request (effects.py)

    @property
    def body(self) -> Any:
        return self.params.body

    @property
    def me(self) -> Caller:
        assert self.caller is not None, f"{self.operation.operation_id} is not a secured operation"
        return self.caller

    @property
    def base_url(self) -> str:
        return str(self.request.base_url).rstrip("/")

    def session(self, session_id: str, field: str = "path.session_id") -> SessionRecord:
        """The caller's session, or 1002."""
        session = self.backend.store.get_session(session_id)
        if session is None or session.user_id != self.me.user_id:
            raise session_not_found(session_id, field)
        return session


Result = dict[str, Any] | Response


@dataclass(frozen=True)
class Handler:
    fn: Callable[[Call], Awaitable[Result]]
    reads_body: bool = False  # the handler streams the request body itself


def all_handlers() -> dict[str, Handler]:
    from . import accounts, chat, renders, sessions

    table: dict[str, Handler] = {}
    for module in (accounts, sessions, chat, renders):
        for op_id, handler in module.HANDLERS.items():
            if op_id in table:
                raise AssertionError(f"two handlers for {op_id}")
            table[op_id] = handler
    return table
