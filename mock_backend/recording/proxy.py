"""`nemo-mock record`: a proxy a client points at instead of the backend, recording as it goes.

Every request is forwarded to the upstream as it arrives and every answer comes back as the
upstream sends it: an event stream chunk by chunk (each event stamped with its arrival on the
recording clock), an upload or a download without ever being held whole in memory. Only a
JSON or text answer is read whole before it is passed on, because the upstream's own address
in it (``cdn_url``, a render's ``output.url``) is replaced by the proxy's, so that the client
fetches those files through the proxy too (and they are recorded). The recording keeps the
upstream's words as they were.

Secrets are replaced (`recording.secrets`) before an exchange is handed to the `Cassette`;
the control API of a mock upstream (``/__mock/…``) is forwarded but not recorded.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..agent.sse_frames import SseParser
from ..errors import ApiError
from ..openapi.envelope import default_profile, error_response
from ..openapi.spec import Spec, load_spec
from ..state.clock import Clock
from .bodies import TEXT_LIMIT, MediaSink, MultipartTap, is_textual, summarize_text
from .cassette import Cassette, SessionKeys
from .secrets import redact_headers, redact_str, redact_url

__all__ = ["create_recorder"]

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# hop-by-hop headers (RFC 9110 7.6.1) and those the proxy sets itself
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "accept-encoding",
    }
)
_NOT_KEPT = _HOP | {"content-length", "content-encoding"}


def _forwarded(headers: Any) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.items() if k.lower() not in _HOP]


class Recorder:
    def __init__(
        self,
        upstream: str,
        cassette: Cassette,
        *,
        clock: Clock,
        spec: Spec,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.cassette = cassette
        self.clock = clock
        self.spec = spec
        self.keys = SessionKeys()
        self.started: float | None = None  # the first call's start: its "at" is 0
        self._http = http

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            # no read timeout: a stream may be quiet as long as the upstream likes; the client
            # that waits on it has its own timeouts, and the proxy must not add one it lacks
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(30.0, read=None), follow_redirects=False
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def now(self) -> float:
        if self.started is None:
            self.started = self.clock.now()
        return round(self.clock.now() - self.started, 4)

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        query = request.url.query
        found = self.spec.match(request.method, path)
        operation = found[0].operation_id if found else None
        params = found[1] if found else {}
        content_type = request.headers.get("content-type")
        length = request.headers.get("content-length") or "0"
        declared = int(length) if length.isdigit() else 0
        exchange: dict[str, Any] = {
            "seq": self.cassette.next_seq(),
            "at": self.now(),
            "operation": operation,
            "request": {
                "method": request.method,
                "path": redact_url(path),
                **({"query": redact_url("?" + query)[1:]} if query else {}),
                "headers": redact_headers(
                    (k, v) for k, v in request.headers.items() if k not in _NOT_KEPT
                ),
            },
        }
        tap: MediaSink | MultipartTap | None = None
        raw = b""
        content: Any
        if is_textual(content_type) and declared <= TEXT_LIMIT:
            # the client may send back an address the proxy gave it (a draft's cdn_url): the
            # upstream knows it by its own address, and the recording keeps the upstream's words
            mine = str(request.base_url).rstrip("/").encode()
            raw = (await request.body()).replace(mine, self.upstream.encode())
            content = raw
        else:
            folder = self.cassette.root / "media" if self.cassette.keep_media else None
            if (content_type or "").startswith("multipart/"):
                tap = MultipartTap(content_type or "", folder)
            elif declared or request.headers.get("transfer-encoding"):
                tap = MediaSink(content_type, folder)
            content = _teed(request.stream(), tap)
        kept = summarize_text(raw, content_type)
        parsed = kept.get("json") if kept else None
        session = self.keys.key(operation, params, parsed)
        # the path as the client sent it (an escaped "/" stays escaped)
        sent = request.scope.get("raw_path", path.encode()).decode("latin-1")
        upstream_request = self.http.build_request(
            request.method,
            self.upstream + sent + (f"?{query}" if query else ""),
            headers=[*_forwarded(request.headers), ("accept-encoding", "identity")],
            content=content,
        )
        try:
            answer = await self.http.send(upstream_request, stream=True)
        except httpx.HTTPError as exc:
            if isinstance(tap, MediaSink):
                tap.abandon()
            error = ApiError(
                502,
                f"the recording proxy cannot reach the upstream {self.upstream}: "
                f"{type(exc).__name__}; start it, or point --upstream at it",
            )
            return error_response(error, default_profile())
        if tap is not None:
            exchange["request"]["body"] = tap.close()
        elif kept is not None:
            exchange["request"]["body"] = kept
        record = not path.startswith("/__mock")
        return await self._answer(answer, exchange, session if record else None, request)

    async def _answer(
        self,
        answer: httpx.Response,
        exchange: dict[str, Any],
        session: str | None,
        request: Request,
    ) -> Response:
        content_type = answer.headers.get("content-type", "")
        exchange["response"] = {
            "status": answer.status_code,
            "headers": redact_headers(
                (k, v) for k, v in answer.headers.multi_items() if k.lower() not in _NOT_KEPT
            ),
        }
        headers = [(k, v) for k, v in answer.headers.multi_items() if k.lower() not in _NOT_KEPT]
        length = int(answer.headers.get("content-length") or 0)
        if is_textual(content_type) and length <= TEXT_LIMIT:
            try:
                raw = await answer.aread()
            finally:
                await answer.aclose()
            body = summarize_text(raw, content_type)
            if body is not None:
                exchange["response"]["body"] = body
            if session is not None:
                session = SessionKeys.opened(session, (body or {}).get("json"))
            self._finish(exchange, session)
            mine = str(request.base_url).rstrip("/")
            rewritten = raw.replace(self.upstream.encode(), mine.encode())
            return _passed_on(Response(rewritten, status_code=answer.status_code), headers)
        stream = content_type.startswith("text/event-stream")
        relay = self._relay(answer, exchange, session, stream=stream)
        # passed on as raw as it came: an encoding the upstream chose despite "identity" stays
        encoding = [("content-encoding", v) for v in answer.headers.get_list("content-encoding")]
        streamed = StreamingResponse(relay, status_code=answer.status_code)
        return _passed_on(streamed, headers + encoding)

    async def _relay(
        self, answer: httpx.Response, exchange: dict[str, Any], session: str | None, *, stream: bool
    ) -> AsyncIterator[bytes]:
        """Pass the body on chunk by chunk; an event stream's events stamped as they arrive."""
        opened = self.clock.now()
        parser = SseParser() if stream else None
        events: list[dict[str, Any]] = []
        folder = self.cassette.root / "media" if self.cassette.keep_media else None
        sink = None if stream else MediaSink(answer.headers.get("content-type"), folder)
        ending = "upstream closed"
        try:
            async for chunk in answer.aiter_raw():
                if parser is not None:
                    at = round(self.clock.now() - opened, 4)
                    for event in parser.feed(chunk):
                        events.append(_event(event.data, event.event, event.id, at))
                if sink is not None:
                    sink.write(chunk)
                yield chunk
        except httpx.HTTPError as exc:
            ending = f"upstream broke off: {type(exc).__name__}"  # the client sees a cut too
            raise
        except BaseException:
            ending = "client left"  # the client disconnected: the proxy's task is cancelled
            raise
        finally:
            # kept before anything is awaited: an await in a cancelled task's finally is
            # cancelled too, and the exchange would be lost with it
            response = exchange["response"]
            if parser is not None:
                response["events"] = events
                response["closed_at"] = round(self.clock.now() - opened, 4)
                response["ending"] = ending
                if parser.pending:
                    response["cut"] = redact_str(parser.rest())
            elif sink is not None:
                if sink.size:
                    response["body"] = sink.close()
                else:
                    sink.abandon()
            self._finish(exchange, session)
            await answer.aclose()

    def _finish(self, exchange: dict[str, Any], session: str | None) -> None:
        exchange["took"] = round(self.now() - float(exchange["at"]), 4)
        if session is not None:
            self.cassette.add(session, exchange)


def _passed_on(response: Response, headers: list[tuple[str, str]]) -> Response:
    """The upstream's headers on ``response``, repeated ones (two Set-Cookie) kept apart."""
    response.raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    return response


def _event(data: str, kind: str, event_id: str | None, at: float) -> dict[str, Any]:
    event: dict[str, Any] = {"at": at, "data": redact_str(data)}
    if kind != "message":
        event["event"] = kind
    if event_id is not None:
        event["id"] = event_id
    return event


async def _teed(
    chunks: AsyncIterator[bytes], tap: MediaSink | MultipartTap | None
) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        if tap is not None and chunk:
            tap.write(chunk)
        yield chunk


def create_recorder(
    upstream: str,
    out: Path,
    *,
    clock: Clock | None = None,
    clock_name: str = "real",
    keep_media: bool = False,
    http: httpx.AsyncClient | None = None,
) -> Starlette:
    """The recording proxy's ASGI app: forwards to ``upstream``, records into ``out``.

    ``clock`` stamps exchanges and events: give it the upstream's time when the upstream is a
    mock on a scaled clock (the same `Clock` object, in tests), so gaps are its virtual seconds.
    """
    clock = clock or Clock(1.0)
    cassette = Cassette(out, upstream=upstream, clock=clock_name, keep_media=keep_media)
    recorder = Recorder(upstream, cassette, clock=clock, spec=load_spec(), http=http)

    async def endpoint(request: Request) -> Response:
        return await recorder.handle(request)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # the upstream connections belong to the server's event loop: closed with it
        try:
            yield
        finally:
            await recorder.aclose()

    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=METHODS)], lifespan=lifespan)
    app.state.recorder = recorder
    return app
