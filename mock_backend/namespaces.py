"""Namespaces: one mock serving many independent backends, one per CI run.

A request names its namespace with the header ``X-Mock-Namespace: NAME`` or, for a client that
cannot add a header, with the path prefix ``/__ns/NAME/`` in its base URL
(``http://mock:8000/__ns/ci-42``). Each namespace is a `Backend` of its own: its records, rules,
clock, seeded draws and journal; ``POST /__mock/reset`` sent in a namespace resets that one
alone. Requests without a name (or named ``default``) reach the server's own backend, as before
namespaces existed.

A namespace is made on its first request and closed once idle for ``Settings.namespace_idle``
real seconds (none of its runs going on); at most ``Settings.max_namespaces`` exist at once, so
a caller inventing names cannot grow the mock without bound. Its records are forgotten (its
files too) once no process has used it for that long: each process marks the namespaces it
uses in the store (`Store.mark_used`, at most once a `period`, and those with a run going on
at every sweep), and a sweep (on requests, and every `period` from the server's lifespan)
releases those unmarked for ``idle + period`` (`Store.release_idle`). With ``--workers`` on
Redis a namespace one worker let go of stays while another uses it, whichever worker sweeps.

A request in a namespace is routed as if it came without its prefix, and URLs the mock hands
out in it (``cdn_url``, renders' downloads) carry the prefix, so a client fetching them needs
no header.

On Redis (``--state redis://…``) a namespace's records live under ``nemo:{NAME}:`` and the
default backend's under ``nemo:default:``.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from .backend import Backend
from .errors import ApiError
from .openapi.envelope import error_response

__all__ = ["HEADER", "PREFIX", "NamespaceMiddleware", "Namespaces", "backend_of"]

HEADER = "x-mock-namespace"
PREFIX = "/__ns/"
DEFAULT = "default"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ABOUT_NAME = "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"


class Namespaces:
    """The backends of one mock by namespace name; ``default`` is the server's own."""

    def __init__(
        self,
        default: Backend,
        make: Callable[[str], Backend],
        *,
        idle_seconds: float,
        limit: int,
        now: Callable[[], float],  # the mock's clock's wall time: one clock object
        released: Callable[[str], None] = lambda name: None,
    ) -> None:
        self.default = default
        self._make = make
        self.idle_seconds = idle_seconds
        self.limit = limit
        self._now = now
        self._released = released  # a namespace's records are gone: its files may go too
        self._open: OrderedDict[str, tuple[Backend, float]] = OrderedDict()  # least recent first
        # how often this process marks a namespace used and sweeps: a small part of the idle
        # time, so a mark is never that stale
        self.period = max(0.05, min(60.0, idle_seconds / 20))
        self._marked: dict[str, float] = {}  # name -> when this process last marked it used
        self._swept = now()

    def get(self, name: str | None, *, where: str = "header.X-Mock-Namespace") -> Backend:
        """The backend of ``name`` (made if new). `ApiError` 422 for a name that is not one,
        429 when `limit` namespaces are open already (and none has expired)."""
        if not name or name == DEFAULT:
            return self.default
        if not _NAME.fullmatch(name):
            raise ApiError(
                422,
                f"{where}: {name[:80]!r} is not a namespace name ({_ABOUT_NAME})",
                data={"field": where},
            )
        now = self._now()
        if now - self._swept >= self.period:
            self.sweep(now)
        else:
            self.expire(now)
        found = self._open.pop(name, None)
        if found is None:
            if len(self._open) >= self.limit:
                raise ApiError(
                    429,
                    f"the mock holds {self.limit} namespaces already (its --max-namespaces); "
                    f"reuse one, or wait until idle ones expire ({self.idle_seconds:g} s)",
                    data={"field": where},
                )
            backend = self._make(name)
        else:
            backend = found[0]
        self._open[name] = (backend, now)
        if now - self._marked.get(name, -math.inf) >= self.period:
            self.default.store.mark_used([name])
            self._marked[name] = now
        return backend

    def sweep(self, now: float | None = None) -> list[str]:
        """Close this process's idle namespaces, mark those with a run going on used, and
        release the records of those no process used for ``idle + period``; their names."""
        now = self._now() if now is None else now
        self._swept = now
        self.expire(now)
        running = [name for name, (backend, _) in self._open.items() if len(backend.runs)]
        self.default.store.mark_used(running)
        self._marked.update(dict.fromkeys(running, now))
        released = self.default.store.release_idle(self.idle_seconds + self.period)
        for name in released:
            self._marked.pop(name, None)
            if name not in self._open:  # (a namespace in use here is marked: never released)
                self._released(name)
        return released

    def expire(self, now: float | None = None) -> list[str]:
        """Close the namespaces idle for `idle_seconds` with no run going on; their names."""
        now = self._now() if now is None else now
        closed = []
        for name, (backend, used) in list(self._open.items()):
            if now - used < self.idle_seconds:
                break  # least recently used first: the rest are younger
            if len(backend.runs):
                continue  # a stream still open: not idle, whatever its last request
            del self._open[name]
            backend.close()  # its records stay until released: another process may use it
            closed.append(name)
        return closed

    def configure(self, backend: Backend, overrides: dict[str, Any]) -> Backend:
        """Remake ``backend``'s namespace with its own settings (``overrides``, checked by
        namespace_settings.check_overrides), kept in its store so every process makes it alike;
        the new backend. `ApiError` 422 for the default namespace (its settings are the
        server's), 409 once anything happened in the namespace (a reset keeps its settings:
        close it, or pick a fresh name)."""
        name = self._name_of(backend)
        if name is None:
            raise ApiError(
                422,
                "the default namespace runs on the server's own settings (nemo-mock serve's "
                "options): name a namespace with X-Mock-Namespace or /__ns/NAME/",
                data={"field": "header.X-Mock-Namespace"},
            )
        chosen = backend.store.settings_overrides()
        if chosen == overrides:
            return backend  # the same again (a retried call): nothing to remake
        used = [kind for kind, count in backend.store.counts().items() if count]
        used += ["rules"] if backend.scenarios.active() else []
        used += ["a run"] if len(backend.runs) else []
        if chosen or used:
            what = "its settings are set" if chosen else "it holds " + ", ".join(used)
            raise ApiError(
                409,
                f"the namespace {name!r} is in use ({what}): a namespace chooses its settings "
                "before anything else happens in it; close it (DELETE /__mock/namespace) or "
                "pick a fresh name",
                data={"field": "header.X-Mock-Namespace"},
            )
        backend.store.put_settings_overrides(overrides)
        fresh = self._make(name)
        self._open[name] = (fresh, self._now())
        backend.close()
        return fresh

    def _name_of(self, backend: Backend) -> str | None:
        for name, (found, _) in self._open.items():
            if found is backend:
                return name
        return None

    def drop(self, backend: Backend) -> str:
        """Close ``backend``'s namespace and forget its records (on Redis too); its name.
        `ApiError` 422 for the default namespace, which is reset, never closed."""
        for name, (found, _) in list(self._open.items()):
            if found is backend:
                del self._open[name]
                backend.reset()
                backend.store.put_settings_overrides({})  # the next of that name starts anew
                backend.close()
                return name
        raise ApiError(
            422,
            "the default namespace cannot be closed: name one with X-Mock-Namespace or "
            "/__ns/NAME/, or reset the default with POST /__mock/reset",
            data={"field": "header.X-Mock-Namespace"},
        )

    def describe(self) -> list[dict[str, Any]]:
        now = self._now()
        return [
            {
                "name": name,
                "idle_seconds": round(now - used, 3),
                "runs": len(backend.runs),
                "state": backend.store.counts(),
            }
            for name, (backend, used) in self._open.items()
        ]

    def all(self) -> list[Backend]:
        return [self.default, *(backend for backend, _ in self._open.values())]

    def end_streams(self) -> None:
        for backend in self.all():
            backend.end_streams()

    def close(self) -> None:
        for backend, _ in self._open.values():
            backend.close()
        self._open.clear()
        self.default.close()


def backend_of(connection: HTTPConnection) -> Backend:
    """The backend a request reaches: its namespace's (set by `NamespaceMiddleware`)."""
    backend: Backend = connection.scope["state"]["backend"]
    return backend


class NamespaceMiddleware:
    """Outermost: picks the request's backend by header or path prefix, before the journal
    (each namespace journals its own requests) and everything else."""

    def __init__(self, app: ASGIApp, namespaces: Namespaces) -> None:
        self.app = app
        self.namespaces = namespaces

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root = scope.get("root_path", "")
        path = scope["path"]
        route = path[len(root) :] if root and path.startswith(root) else path
        name, where = None, "header.X-Mock-Namespace"
        for key, value in scope["headers"]:
            if key == b"x-mock-namespace":
                name = value.decode("latin-1")
        if route.startswith(PREFIX):  # the path's prefix wins over a header
            name, _, rest = route[len(PREFIX) :].partition("/")
            where, route = "path", "/" + rest
        try:
            backend = self.namespaces.get(name, where=where)
        except ApiError as error:
            response = error_response(error, self.namespaces.default.control_profile)
            await response(scope, receive, send)
            return
        if backend.clock_sync is not None:
            backend.clock_sync.before_request()
        # the scope and its state are the request's own (the server makes them for it): set in
        # place, not copied, so that a held stream keeps one scope, not two
        scope.setdefault("state", {})["backend"] = backend
        if name:
            # routed without the prefix, and the URLs handed out (base_url, from root_path)
            # carry it, so a client fetching them needs no header
            scope["root_path"] = root = f"{root}{PREFIX}{name}"
            scope["path"] = root + route
            scope["raw_path"] = scope["path"].encode("utf-8")
        await self.app(scope, receive, send)
