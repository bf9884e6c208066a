"""The console: one page under ``/__mock/ui`` to watch and steer the mock while reproducing an
incident, its live journal feed, and a session's timeline picture.

The page holds no logic of its own: every control on it is a call of the documented control
API, and what it shows comes from the three routes here. All of them go through the control
API's own guard (`admin.guarded`): loopback only, or the admin token, exactly like the rest.

- ``GET /__mock/ui`` (and ``/__mock/ui/console.js``, ``/__mock/ui/console.css``): the page, from
  package data (``console_page/``, hand-written); no build step, nothing fetched from elsewhere.
- ``GET /__mock/ui/login``, ``POST /__mock/ui/login``: on a mock started with an admin token,
  a browser cannot add the ``X-Mock-Admin-Token`` header, so ``GET /__mock/ui`` without it
  sends the browser to a sign-in form; the right token sets an HttpOnly, SameSite=Strict
  cookie that the control API takes as the header (a wrong one: 403, as the API answers).
- ``GET /__mock/journal/live``: Server-Sent Events, ``entry`` (an entry as ``GET
  /__mock/journal`` shows it, tokens redacted, sent again each time it changes), ``cleared``
  (a reset emptied the journal), ``dropped`` (the reader fell behind and missed changes: reload
  the journal). It starts with the last `SNAPSHOT` entries. With ``--workers`` on Redis it
  follows every worker, whichever serves it (control/shared_journal.py).
- ``GET /__mock/sessions/{session_id}/timeline.svg``: the compatibility report's timeline of
  that session's entries (`timeline_svg`), drawn from the journal.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import anyio
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..backend import Backend
from ..errors import ApiError
from ..namespaces import backend_of
from ..openapi.envelope import error_response
from ..openapi.limits import read_body
from .admin import ADMIN_COOKIE, authorized, guarded
from .journal import kept, public
from .subscribers import TooManySubscribers
from .timeline_svg import timeline_svg

__all__ = ["console_routes"]

SNAPSHOT = 500  # entries a new reader is sent first; older ones stay in GET /__mock/journal
COALESCE_SECONDS = 0.1  # changes are sent in batches at most this often: a stream's beats merge
PING_SECONDS = 15  # a comment line now and then, so proxies keep an idle feed open
_ASSETS = {
    "": ("index.html", "text/html; charset=utf-8"),
    "console.js": ("console.js", "text/javascript; charset=utf-8"),
    "console.css": ("console.css", "text/css; charset=utf-8"),
}
# the page's own files only: no inline scripts, nothing from elsewhere, not framed by others
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


async def page(request: Request, backend: Backend, body: dict[str, Any]) -> Response:
    name = request.path_params.get("asset", "")
    if name not in _ASSETS:
        raise ApiError(404, f"no console file {name!r}", data={"field": "path"})
    filename, media_type = _ASSETS[name]
    text = resources.files(__package__).joinpath("console_page", filename).read_bytes()
    return Response(text, media_type=media_type, headers=_PAGE_HEADERS)


async def ui(request: Request) -> Response:
    """The page, or, for a browser without the admin token, the way to sign in."""
    backend = backend_of(request)
    asked = "x-mock-admin-token" not in request.headers  # a browser: it cannot send one
    if backend.settings.admin_token and asked and not authorized(request, backend):
        return RedirectResponse("ui/login", status_code=303)
    return await _page(request)


async def login_form(request: Request) -> Response:
    """The sign-in form: no data of the mock, so open to anyone who can reach the port."""
    text = resources.files(__package__).joinpath("console_page", "login.html").read_bytes()
    return Response(text, media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)


async def login(request: Request) -> Response:
    """The form's token, checked as the control API checks its header, kept in a cookie."""
    backend = backend_of(request)
    expected = backend.settings.admin_token
    raw = await read_body(request, backend.limits.json_body_bytes)
    given = parse_qs(raw.decode("utf-8", "replace")).get("token", [""])[0]
    if not expected:
        error = ApiError(422, "this mock has no admin token: open /__mock/ui from loopback")
        return error_response(error, backend.control_profile)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        error = ApiError(403, "that is not the admin token the server was started with")
        return error_response(error, backend.control_profile)
    response = RedirectResponse("../ui", status_code=303)
    response.set_cookie(ADMIN_COOKIE, expected, httponly=True, samesite="strict", path="/")
    return response


async def live_journal(request: Request, backend: Backend, body: dict[str, Any]) -> Response:
    journal = backend.journal
    try:
        subscriber = journal.subscribe()
    except TooManySubscribers as exc:
        raise ApiError(429, str(exc)) from None

    def snapshot() -> tuple[list[str], _SentOnce]:
        """The last entries written out, and the ids of the finished ones: a shared journal's
        finished entries are final, so when one that finished as the reader subscribed is
        announced too (`kept`), it is not sent twice."""
        recent = [public(e) for e in journal.recent(SNAPSHOT)]
        sent = _SentOnce(SNAPSHOT + 4 * subscriber.limit)
        for e in recent:
            if e["real_end"] is not None:
                sent.first(int(e["id"]))
        return [_json(e) for e in recent], sent

    async def events() -> AsyncIterator[dict[str, str]]:
        try:
            yield {"event": "clock", "data": _json(backend.clock.describe())}
            # read and written in a worker thread, as GET /__mock/journal is: hundreds of large
            # entries (from Redis, with --workers) must not hold up the server
            texts, sent = await anyio.to_thread.run_sync(snapshot)
            for text in texts:
                yield {"event": "entry", "data": text}
            while True:
                owed = await subscriber.changes()
                if owed.ended:
                    return
                if owed.cleared:
                    sent.clear()
                    yield {"event": "cleared", "data": _json(backend.clock.describe())}
                shown, gone = journal.changes(owed.ids)
                if owed.dropped + gone:
                    yield {"event": "dropped", "data": _json({"changes": owed.dropped + gone})}
                for entry in shown:
                    # a kept entry is final: sent once, however often it is owed (this
                    # process's touches while it was open, then the store's announcement)
                    if kept(entry) and not sent.first(int(public(entry)["id"])):
                        continue
                    yield {"event": "entry", "data": _json(public(entry))}
                await anyio.sleep(COALESCE_SECONDS)  # wall time: it paces a screen, not a run
        finally:
            journal.unsubscribe(subscriber)

    return EventSourceResponse(events(), ping=PING_SECONDS, headers={"Cache-Control": "no-store"})


class _SentOnce:
    """The ids of the final entries a reader was sent, the last ``most`` of them: an entry is
    owed again only soon after it was sent (its announcement follows its finishing; a reader
    owed more than its limit is told ``dropped`` and reloads), so older ones are let go."""

    def __init__(self, most: int) -> None:
        self.most = most
        self._ids: dict[int, None] = {}

    def first(self, entry_id: int) -> bool:
        """Whether ``entry_id`` is sent for the first time (it is remembered as sent)."""
        if entry_id in self._ids:
            return False
        self._ids[entry_id] = None
        if len(self._ids) > self.most:
            del self._ids[next(iter(self._ids))]
        return True

    def clear(self) -> None:
        self._ids.clear()


async def session_timeline(request: Request, backend: Backend, body: dict[str, Any]) -> Response:
    session_id = request.path_params["session_id"]
    # with --workers: every worker's
    entries = [public(e) for e in backend.journal.shown(session_id=session_id)]
    if not entries:
        raise ApiError(
            404,
            f"the journal holds nothing of session {session_id}",
            data={"field": "path.session_id"},
        )
    start = min(float(e["virtual_start"]) for e in entries)
    svg = timeline_svg(entries, start)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


_page = guarded(page)


def console_routes() -> list[Route]:
    return [
        Route("/__mock/ui", ui, methods=["GET"]),
        Route("/__mock/ui/login", login_form, methods=["GET"]),
        Route("/__mock/ui/login", login, methods=["POST"]),
        Route("/__mock/ui/{asset}", guarded(page), methods=["GET"]),
        Route("/__mock/journal/live", guarded(live_journal), methods=["GET"]),
        Route(
            "/__mock/sessions/{session_id}/timeline.svg",
            guarded(session_timeline),
            methods=["GET"],
        ),
    ]
