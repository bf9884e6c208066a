"""One exchange with the backend: headers on, request out, envelope read, error table applied.

Every request, the downloads included, goes through `Api.call` or `Api.open_stream`, so the
attribution headers and the error table are applied in exactly one place. ``Authorization`` is
sent to the API host only, never to a download URL on another host, and never in a URL.

Requests are built by a zero-argument factory, called again for each retry, so a retry after a
new token or a new session carries the new token and the new session id.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from .attribution import Attribution
from .auth import Credentials
from .clock import Clock
from .config import Settings
from .console import Console
from .error_table import RATE_LIMIT_WAIT_SECONDS, FailureContext, Recovery, rule_for
from .errors import NetworkError, UnexpectedResponse
from .files import UploadRules

__all__ = ["Api", "RequestFactory"]

RequestFactory = Callable[[], httpx.Request]
# Transport-level codes: when the body carries no code, the HTTP status stands in for it.
_STATUS_CODES = frozenset({400, 402, 429})


class Api:
    def __init__(
        self,
        http: httpx.Client,
        settings: Settings,
        clock: Clock,
        console: Console,
        attribution: Attribution,
        credentials: Credentials,
        upload_rules: UploadRules,
    ) -> None:
        self.http = http
        self.settings = settings
        self.clock = clock
        self.console = console
        self.attribution = attribution
        self.credentials = credentials
        self.upload_rules = upload_rules
        self.on_session_lost: Callable[[], None] | None = None

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        authenticated: bool = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Request:
        """Build a request to an API path, or to a full URL (a download link)."""
        url = path_or_url if "://" in path_or_url else self.settings.api_url + path_or_url
        all_headers = self.attribution.headers()
        if authenticated and self._is_api_host(url):
            all_headers["Authorization"] = f"Bearer {self.credentials.bearer()}"
        all_headers.update(headers or {})
        return self.http.build_request(method, url, headers=all_headers, **kwargs)

    def call(
        self,
        build: RequestFactory,
        *,
        session_bound: bool = False,
        authenticated: bool = True,
        envelope_required: bool = True,
    ) -> dict[str, Any]:
        """Send a request; return the JSON body once its ``code`` is 0 (or absent, when
        ``envelope_required`` is false: the render endpoints may answer without an envelope)."""
        _, body = self._exchange(
            build,
            stream=False,
            accept=None,
            session_bound=session_bound,
            authenticated=authenticated,
            envelope_required=envelope_required,
        )
        assert body is not None  # a non-streaming exchange always ends with a body
        return body

    def open_stream(
        self,
        build: RequestFactory,
        *,
        accept: Callable[[httpx.Response], bool],
        session_bound: bool = False,
        authenticated: bool = True,
    ) -> httpx.Response:
        """Send a streaming request; return the open response once ``accept`` takes it (the
        caller closes it). Anything else is read as an envelope and goes through the table."""
        response, _ = self._exchange(
            build,
            stream=True,
            accept=accept,
            session_bound=session_bound,
            authenticated=authenticated,
            envelope_required=True,
        )
        return response

    def failure_context(self) -> FailureContext:
        return FailureContext(
            web_url=self.settings.web_url,
            registered=self.credentials.registered,
            user_id=self.credentials.user_id,
            upload_rules=self.upload_rules,
        )

    def _exchange(
        self,
        build: RequestFactory,
        *,
        stream: bool,
        accept: Callable[[httpx.Response], bool] | None,
        session_bound: bool,
        authenticated: bool,
        envelope_required: bool,
    ) -> tuple[httpx.Response, dict[str, Any] | None]:
        used: set[Recovery] = set()
        while True:
            request = self._build(build)
            response = self.send(request, stream=stream)
            if accept is not None and accept(response):
                self._log(request, response, "stream")
                return response, None
            if stream:
                try:
                    response.read()
                except httpx.TransportError as error:
                    raise self._network_error(request, error) from None
                finally:
                    response.close()
            body = _json_object(response)
            code = self._code(request, response, body, envelope_required)
            self._log(request, response, f"code={code}")
            if code == 0:
                if accept is not None:  # an envelope where a stream or a file was expected
                    raise _unexpected(request, response, body, None, expected="a stream")
                assert body is not None
                return response, body
            rule = rule_for(code)
            if rule is None:
                raise _unexpected(request, response, body, code)
            recovery = rule.recovery
            if (
                recovery is None
                or recovery in used
                or not self._can(recovery, session_bound, authenticated)
            ):
                raise rule.failure(self.failure_context())
            used.add(recovery)
            self._recover(recovery)

    def _build(self, build: RequestFactory) -> httpx.Request:
        try:
            return build()
        except (httpx.InvalidURL, ValueError):
            # an id or a link from the backend that makes no URL (a NUL, "::://", "http://[x")
            raise UnexpectedResponse(
                "NemoVideo sent an id or a link that does not make a valid URL. Try again; if "
                "it keeps happening the backend may have changed."
            ) from None

    def send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        try:
            return self.http.send(request, stream=stream)
        except httpx.TransportError as error:
            raise self._network_error(request, error) from None

    def _code(
        self,
        request: httpx.Request,
        response: httpx.Response,
        body: dict[str, Any] | None,
        envelope_required: bool,
    ) -> int:
        code = body.get("code") if body is not None else None
        if isinstance(code, int) and not isinstance(code, bool):
            if code == 0 and not response.is_success:
                raise _unexpected(request, response, body, code)
            return code
        if response.status_code in _STATUS_CODES:
            return response.status_code
        if body is not None and not envelope_required and response.is_success:
            return 0
        raise _unexpected(request, response, body, None)

    def _can(self, recovery: Recovery, session_bound: bool, authenticated: bool) -> bool:
        if recovery is Recovery.REAUTHENTICATE:
            return authenticated and not self.credentials.registered
        if recovery is Recovery.NEW_SESSION:
            return session_bound and self.on_session_lost is not None
        return True

    def _recover(self, recovery: Recovery) -> None:
        self.console.debug(f"recovering: {recovery.value}")
        if recovery is Recovery.REAUTHENTICATE:
            self.credentials.reauthenticate()
        elif recovery is Recovery.NEW_SESSION:
            assert self.on_session_lost is not None
            self.on_session_lost()
        elif recovery is Recovery.NEW_CLIENT_ID:
            self.credentials.rotate_client_id()
        elif recovery is Recovery.WAIT_AND_RETRY:
            self.console.warn("NemoVideo is busy (rate limited); retrying in 30 s…")
            self.clock.sleep(RATE_LIMIT_WAIT_SECONDS)

    def _is_api_host(self, url: str) -> bool:
        api = urlsplit(self.settings.api_url)
        target = urlsplit(url)
        return (target.scheme, target.netloc) == (api.scheme, api.netloc)

    def _log(self, request: httpx.Request, response: httpx.Response, detail: str) -> None:
        # Method, host and path only: query strings and bodies may carry secrets or raw output.
        self.console.debug(
            f"{request.method} {_where(request, self.settings.api_url)} → "
            f"HTTP {response.status_code} {detail}"
        )

    def _network_error(self, request: httpx.Request, error: httpx.TransportError) -> NetworkError:
        return NetworkError(
            f"Could not reach NemoVideo ({request.url.host}): {type(error).__name__}. "
            "Check your connection (and NEMO_API_URL), then try again."
        )


def _where(request: httpx.Request, api_url: str) -> str:
    if str(request.url).startswith(api_url):
        return request.url.path
    return f"{request.url.host}{request.url.path}"


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        value = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _unexpected(
    request: httpx.Request,
    response: httpx.Response,
    body: dict[str, Any] | None,
    code: int | None,
    *,
    expected: str | None = None,
) -> UnexpectedResponse:
    where = f"{request.method} {request.url.path}"
    status = response.status_code
    if expected is not None:
        what = f"JSON where {expected} was expected"
    elif body is None:
        what = "a body that is not JSON"
    elif code is None:
        what = "a body without the expected `code`"
    elif code == 0:
        what = "success code 0 on an error status"
    else:
        message = body.get("message")
        hint = f": {_short(message)}" if isinstance(message, str) and message.strip() else ""
        what = f"error code {code}{hint}"
    advice = (
        "The service seems to be having trouble; try again in a few minutes."
        if status >= 500
        else "Try again; if it keeps happening the backend may have changed."
    )
    return UnexpectedResponse(f"NemoVideo answered {where} with HTTP {status} and {what}. {advice}")


def _short(text: str, limit: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
