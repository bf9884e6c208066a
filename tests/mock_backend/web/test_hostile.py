"""Hostile clients: whatever a client sends, the mock answers, stays up and keeps tokens secret.

Hypothesis sends malformed traffic to a real uvicorn server (`LiveServer`, in a thread) over raw
sockets, so nothing is tidied on the way (httpx would refuse repeated headers and bad JSON):
every operation of openapi.yaml (read from the contract, not restated) and every route of the
control API, with random bytes; JSON that Python reads but RFC 8259 forbids (NaN, Infinity,
1e400, 10**400, a 5,000-digit integer, lone surrogates, 5,000 levels of nesting); unknown
fields and wrong types; multipart bodies with odd file names, cut short or without a boundary;
repeated and odd headers; good and bad tokens; real tokens where no token belongs (paths, query
strings, after ``%20`` or ``_``, bodies, headers); and clients that hang up mid-body.

Each example starts on a freshly reset mock holding real objects (three kinds of token, a
session, a render), sends one request, and checks:

1. no 5xx, no exception in the app, and every JSON error is exactly the envelope;
2. the state reads still answer: the session (no 5xx), health and the whole journal (200), and
   a new client still gets a token and reads its credits (code 0);
3. no token in the journal or in a log line (uvicorn's error and access logs, nemo_mock), and in
   the answer none but an issued one or one the request itself carried outside its
   Authorization header (a 404 naming the path it was asked is an echo, not a leak).

A hang is a failure too: every request is bounded by ``TIMEOUT`` seconds. Uploads also have to
work: a real mp3 sent under any file name (Chinese, accents, emoji, RTL marks, control
characters, a path) is accepted, keeps its name and is served back byte for byte.

610 generated examples (300 operation requests, 150 control requests, 120 smuggled tokens, 40
upload names) plus 21 explicit ones, the bugs this test was written for; derandomized, so CI
sees the same ones every run. About 40-50 s on a busy 2-core machine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send
from uvicorn.logging import AccessFormatter

from mock_backend.agent.stream import StreamFaults
from mock_backend.control.admin import admin_routes
from mock_backend.control.redact import redact_logs
from mock_backend.control.scenarios import CATALOGUE
from mock_backend.media.samples import make_song
from mock_backend.namespace_settings import NAMESPACE_SETTINGS
from mock_backend.openapi.spec import Operation, Parameter, load_spec
from mock_backend.rendering.render_engine import RenderJob, RenderResult
from mock_backend.settings import Settings
from mock_backend.web.app import create_app
from mock_backend.web.server import LiveServer

from ..conftest import assert_envelope
from .wire import Hang, Raw, Reply, exchange, show

TIMEOUT = 5.0  # seconds any one request may take, answer included
SEED = 11
SPEC = load_spec()
OPERATIONS = sorted(SPEC.operations.values(), key=lambda op: op.operation_id)
PATHS = {op.operation_id: op.path for op in OPERATIONS}
CONTROL_ROUTES = sorted((m, route.path) for route in admin_routes() for m in route.methods or ())
TOKEN = re.compile(r"(?:nmv_usr_|clm_)[A-Za-z0-9]{6,}")  # redact.py's format, at any boundary
ISSUERS = {PATHS["createAnonymousToken"], PATHS["createClaimToken"], "/__mock/tokens"}
SECRET_HEADERS = {"authorization", "x-mock-token", "x-mock-admin-token"}
BEARER = re.compile(rb"Bearer [A-Za-z0-9_]+\Z")
LOGGERS = ("uvicorn.error", "uvicorn.access", "nemo_mock")
HYPOTHESIS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Strategies are built before the server runs, so they name the real objects of an example by
# markers, replaced in the request's bytes just before it is sent (`World.fill`).
ANONYMOUS, REGISTERED, CLAIM = "@@anonymous@@", "@@registered@@", "@@claim@@"
SESSION, TASK, RENDER, SONG = "@@session@@", "@@task@@", "@@render@@", "@@song@@"
TOKENS = (ANONYMOUS, REGISTERED, CLAIM)
OBJECTS = (SESSION, TASK, RENDER)


@dataclass(frozen=True)
class World:
    """The real objects behind the markers, in one example."""

    values: dict[str, str]
    song: bytes  # a real mp3

    def fill(self, data: bytes) -> bytes:
        for marker, value in self.values.items():
            data = data.replace(marker.encode(), value.encode())
        return data.replace(SONG.encode(), self.song)


def _answer(sent: Raw, reply: Reply, after: str) -> Any:
    """The reply's JSON body, or None when it has none."""
    if sent.method == "HEAD" or not reply.headers.get("content-type", "").startswith(
        "application/json"
    ):
        return None
    try:
        return json.loads(reply.body)
    except ValueError as exc:
        raise AssertionError(f"a JSON answer that is not JSON ({exc}){after}") from None


def _leaks_in_reply(sent: Raw, reply: Reply) -> list[str]:
    """Tokens in the answer that the request did not carry itself outside a secret header."""
    text = reply.body.decode("utf-8", "replace")
    if sent.target.split("?", 1)[0] in ISSUERS:  # where tokens are issued, they belong
        with contextlib.suppress(ValueError):
            body = json.loads(text)
            if body.get("code") == 0 and isinstance(body.get("data"), dict):
                data = {k: v for k, v in body["data"].items() if k not in ("token", "claim_token")}
                text = json.dumps({**body, "data": data}, ensure_ascii=False)
    carried = [unquote(sent.target), sent.target, sent.body.decode("utf-8", "replace")]
    for name, value in sent.headers:
        if name.lower() not in SECRET_HEADERS:
            carried += [value.decode("latin-1"), value.decode("utf-8", "replace")]
    return sorted({t for t in TOKEN.findall(text) if not any(t in c for c in carried)})


# -- the server under attack ---------------------------------------------------------------------


def no_encode(job: RenderJob, progress: Callable[[float], None]) -> RenderResult:
    """Renders are not what is attacked here: a few bytes at once keep both cores free."""
    job.out_path.write_bytes(b"hostile" * 64)
    return RenderResult(job.out_path, 1.0, 7 * 64, "audio/mpeg")


class Swappable:
    """One mock at a time behind one server: a mock an example broke (its clock at infinity,
    say) is replaced in milliseconds, where a new server would take half a second."""

    def __init__(self, make: Callable[[], Starlette]) -> None:
        self.make = make
        self.app = make()

    @property
    def state(self) -> Any:
        """The current mock's: LiveServer reads its settings, DrainingServer its streams."""
        return self.app.state

    def replace(self) -> None:
        """A new mock; the old one was reset (its runs ended) or is beyond saving."""
        old, self.app = self.app, self.make()
        old.state.backend.renders.close()  # a thread pool: safe from this thread

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # the mock's own lifespan only closes it: done here
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            self.app.state.backend.close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await self.app(scope, receive, send)


class LogLines(logging.Handler):
    """Every record of the mock's loggers, formatted as the CLI's logging prints it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.access = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s')
        self.plain = logging.Formatter("%(levelname)s %(name)s: %(message)s")
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        formatter = self.access if record.name == "uvicorn.access" else self.plain
        try:
            self.lines.append(formatter.format(record))
        except Exception as exc:  # logging would print "--- Logging error ---" and go on
            self.lines.append(f"UNPRINTABLE {record.name} record ({exc!r}): {record.msg!r}")


class Hostile:
    """The server, its log lines, and the steps every example starts and ends with."""

    def __init__(self, folder: Path, song: bytes) -> None:
        self.song = song
        self.folders = (folder / f"data-{n}" for n in itertools.count())
        self.epoch = 0.0
        self.swap = Swappable(self.make_app)
        self.server = LiveServer(self.swap, raise_app_exceptions=False)  # checked per example
        self.logs = LogLines()
        self.client = httpx.Client(timeout=TIMEOUT)
        self.dirty = False  # an example failed: its mock may be broken in ways a reset keeps
        self.wedged: str | None = None  # what the server stopped answering after
        self.marks = (0, 0)  # app errors and log lines before the current example

    def make_app(self) -> Starlette:
        settings = Settings(clock="manual", seed=SEED, data_dir=next(self.folders))
        app = create_app(settings.with_(tokens_per_ip=10**9))  # a new client every example
        app.state.backend.renders.engine = no_encode
        self.epoch = app.state.backend.clock.now()  # a manual clock moves only when told
        return app

    @contextlib.contextmanager
    def running(self) -> Iterator[Hostile]:
        self.server.start()
        self.client = httpx.Client(base_url=self.server.url, timeout=TIMEOUT)
        # uvicorn emptied the access logger (LiveServer serves without one). The CLI serves with
        # it, behind redact_logs' filter: that is the access log under test here.
        loggers = [logging.getLogger(name) for name in LOGGERS]
        before = [(logger.level, logger.propagate, list(logger.filters)) for logger in loggers]
        redact_logs("uvicorn.access")
        for logger in loggers:
            logger.setLevel(logging.DEBUG)
            logger.addHandler(self.logs)
            logger.propagate = False  # thousands of lines: a failure quotes the ones that count
        try:
            yield self
        finally:
            for logger, (level, propagate, filters) in zip(loggers, before, strict=True):
                logger.removeHandler(self.logs)
                logger.setLevel(level)
                logger.propagate = propagate
                logger.filters[:] = filters
            self.client.close()
            self.server.stop()

    def fresh(self) -> World:
        """A reset mock (a new one if the last example broke it) with real objects in it."""
        assert self.wedged is None, f"the server stopped answering after\n    {self.wedged}"
        if self.dirty or self.swap.app.state.backend.clock.now() != self.epoch:
            with contextlib.suppress(httpx.HTTPError, AssertionError, ValueError):
                self.ok("POST", "/__mock/reset")  # ends its runs on the server's own loop
            self.swap.replace()
            self.client.close()  # a crash closes the connection under the pooled one
            self.client = httpx.Client(base_url=self.server.url, timeout=TIMEOUT)
        self.dirty = True
        self.ok("POST", "/__mock/reset", json={"seed": SEED})
        # after a round trip: an error the app raised after its last answer is counted by now
        self.marks = (len(self.server.app_errors), len(self.logs.lines))
        anonymous = self.ok("POST", PATHS["createAnonymousToken"], headers=_client("world"))
        registered = self.ok("POST", "/__mock/tokens", json={"credits": 500})["token"]
        bearer = {"Authorization": f"Bearer {registered}"}
        session = self.ok(
            "POST", PATHS["createSession"], headers=bearer, json=_example("createSession")
        )
        ids = {SESSION: session["session_id"], TASK: session["task_id"]}
        claim = self.ok(
            "POST", PATHS["createClaimToken"], headers=bearer, json=_filled(CLAIM_BODY, ids)
        )
        render = _filled(_example("submitRender"), ids)
        attribution = {p.name: "hostile-1.0" for p in _headers(SPEC.operations["submitRender"])}
        self.ok("POST", PATHS["submitRender"], headers={**bearer, **attribution}, json=render)
        tokens = {ANONYMOUS: anonymous["token"], REGISTERED: registered}
        return World(
            {**tokens, CLAIM: claim["claim_token"], **ids, RENDER: render["id"]}, self.song
        )

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """A setup step or a state read: it must answer code 0."""
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            self.wedged = f"{method} {path} (a state read or a setup step)"
            raise
        body = response.json()
        assert (response.status_code, body["code"]) == (200, 0), (
            f"{method} {path} answered {response.status_code}: {body}"
        )
        return body["data"]

    def send(self, request: Raw, world: World) -> tuple[Raw, Reply | None]:
        sent = request.filled(world.fill)
        try:
            return sent, exchange(self.server.port, sent, TIMEOUT)
        except Hang:
            self.wedged = str(sent)
            raise

    def settle(self, after: str) -> None:
        """Wait until the mock has finished the request its client hung up on."""
        deadline = time.monotonic() + TIMEOUT
        while any(e["real_end"] is None for e in self.ok("GET", "/__mock/journal")["entries"]):
            assert time.monotonic() < deadline, f"the request never ended{after}"
            time.sleep(0.01)

    def verify(self, sent: Raw, reply: Reply | None, world: World) -> None:
        """The three invariants, after ``sent`` got ``reply`` (None: the client hung up)."""
        after = f"\n  after the request\n    {sent}"
        control = sent.target.startswith("/__mock/")
        body = None
        if reply is None:
            self.settle(after)
        else:
            assert reply.status < 500, f"answered {reply.status}: {show(reply.body)}{after}"
            body = _answer(sent, reply, after)
            if isinstance(body, dict) and (reply.status >= 400 or body.get("code") != 0):
                assert_envelope(body, where=f"the error envelope{after}")
            leaked = _leaks_in_reply(sent, reply)
            assert not leaked, f"a token in the answer: {leaked}: {show(reply.body)}{after}"
        if not control:  # a rule the control API added may answer anything to the world
            created = body.get("data") if isinstance(body, dict) else None
            sessions = [(world.values[SESSION], f"Bearer {world.values[REGISTERED]}".encode())]
            if isinstance(created, dict) and isinstance(created.get("session_id"), str):
                bearers = [v for k, v in sent.headers if k == "Authorization" and BEARER.match(v)]
                sessions += [(created["session_id"], v) for v in bearers]  # whichever it believed
            for session_id, authorization in sessions:
                path = PATHS["getSessionState"].replace("{session_id}", quote(session_id))
                state = self.client.get(path, headers={"Authorization": authorization.decode()})
                assert state.status_code < 500, f"reading {path} answered {state.text}{after}"
        health = self.client.get("/__mock/health")
        assert health.status_code == 200, f"health answered {health.text}{after}"
        journal = self.client.get("/__mock/journal")
        assert journal.status_code == 200, f"the journal answered {journal.text[:300]}{after}"
        leaked = sorted(set(TOKEN.findall(journal.text)))
        assert not leaked, f"a token in the journal: {leaked}{after}"
        if control:  # the control API may have scripted the next token request: start over
            self.ok("POST", "/__mock/reset", json={"seed": SEED})
        token = self.ok("POST", PATHS["createAnonymousToken"], headers=_client(uuid.uuid4()))
        self.ok("GET", PATHS["getCredits"], headers={"Authorization": f"Bearer {token['token']}"})
        errors = self.server.app_errors[self.marks[0] :]
        assert not errors, f"the app raised {errors!r}{after}"
        lines = self.logs.lines[self.marks[1] :]
        broken = [line for line in lines if line.startswith("UNPRINTABLE")]
        assert not broken, f"log records that cannot be printed: {broken}{after}"
        leaked = [line for line in lines if TOKEN.search(line)]
        assert not leaked, f"a token in the log: {leaked}{after}"
        self.dirty = False


def _client(name: object) -> dict[str, str]:
    return {"X-Client-Id": f"hostile-{name}"}


# -- bodies ---------------------------------------------------------------------------------------


class Verbatim(str):
    """JSON text put into a document as it is: what `json.dumps` would never write."""


WICKED = tuple(
    map(
        Verbatim,
        [
            *("NaN", "Infinity", "-Infinity", "1e400", "-1e400", "-5", "3e11"),
            str(10**400),
            "9" * 5000,  # beyond Python's limit for int digits (4,300)
            *('"\\ud800"', '"\\udfff"', '"tail\\ud800"'),
            "[" * 5000 + "]" * 5000,
            '{"a":' * 5000 + "0" + "}" * 5000,
        ],
    )
)
ODD_TEXT = ("", " ", "..", "../../etc/passwd", "歌曲", "café", "🎵", "\u202e\u200f", "\x01\x1f\x7f")
HIDING = tuple(wrap + token for token in TOKENS for wrap in ("", " ", "_", "x", "%20"))
LEAVES = st.one_of(
    st.sampled_from(WICKED),
    st.sampled_from(HIDING),
    st.sampled_from(ODD_TEXT),
    st.sampled_from(OBJECTS),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
CLAIM_BODY = {"session_id": SESSION, "task_id": TASK}


def _keys(fields: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(fields), st.text(max_size=10), st.just(Verbatim('"\\ud800"')))


def documents(fields: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """Any JSON-ish value: known and unknown fields, wrong types, wicked leaves."""
    return st.recursive(
        LEAVES,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(_keys(fields), inner, max_size=4)
        ),
        max_leaves=8,
    )


@st.composite
def mutations(draw: st.DrawFn, value: Any, fields: tuple[str, ...]) -> Any:
    """``value`` with one part spoiled: a leaf replaced, a field added or dropped."""
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        return {**value, key: draw(mutations(value[key], fields))}
    if isinstance(value, list) and value and draw(st.booleans()):
        i = draw(st.integers(0, len(value) - 1))
        return [*value[:i], draw(mutations(value[i], fields)), *value[i + 1 :]]
    how = draw(st.sampled_from(["replace", "add", "drop"] if isinstance(value, dict) else ["r"]))
    if how == "add":
        return {**value, draw(_keys(fields)): draw(documents(fields))}
    if how == "drop" and value:
        gone = draw(st.sampled_from(sorted(value)))
        return {k: v for k, v in value.items() if k != gone}
    return draw(documents(fields))


def render(value: Any) -> str:
    if isinstance(value, Verbatim):
        return str(value)
    if isinstance(value, dict):
        items = (
            f"{render(Verbatim(json.dumps(k)) if type(k) is str else k)}:{render(v)}"
            for k, v in value.items()
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(render(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _example(operation_id: str) -> Any:
    """The contract's first JSON example of the operation's body, its ids made markers."""
    body = SPEC.resolve(SPEC.operations[operation_id].raw.get("requestBody", {}))
    found = body.get("content", {}).get("application/json", {}).get("examples", {})
    return _marked(next((SPEC.resolve(e)["value"] for e in found.values()), {}))


def _marked(value: Any) -> Any:
    ids = {"session_id": SESSION, "sessionId": SESSION, "task_id": TASK}
    if isinstance(value, dict):
        return {k: ids[k] if k in ids else _marked(v) for k, v in value.items()}
    return [_marked(v) for v in value] if isinstance(value, list) else value


def _filled(value: Any, ids: dict[str, str]) -> Any:
    return json.loads(World(ids, b"").fill(json.dumps(value).encode()))


def _fields(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _fields(item)
    elif isinstance(value, list):
        for item in value:
            yield from _fields(item)


def json_bodies(op: Operation) -> st.SearchStrategy[bytes]:
    base = _example(op.operation_id)
    schemas = [SPEC.resolve(s) for s in op.body_schemas.values()]
    named = {*_fields(base), *(k for s in schemas for k in s.get("properties", {}))}
    fields = tuple(sorted(named)) or ("session_id",)
    return st.one_of(
        st.just(base),
        mutations(base, fields),
        st.dictionaries(_keys(fields), documents(fields), max_size=5),
        documents(fields),
    ).map(lambda value: render(value).encode())


FILE_NAMES = (
    *("歌曲.mp3", "café.mp3", "🎵🎶.mp3", "\u202eevil\u202c.mp3", "\u200fשיר.mp3"),
    *("../../etc/passwd", "..\\..\\boot.mp3", "tab\there\x01\x1f.mp3", "", ".mp3"),
    *("x" * 300 + ".mp3", 'quo"te.mp3', "semi;colon.mp3", "next\u0085line.mp3"),
)
BOUNDARIES = (b"hostile-boundary", b"----WebKitFormBoundary7MA4YWxkTrZu0gW", b"b" * 70, b"a b")


@st.composite
def multipart_bodies(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A multipart body (sometimes cut short) and a Content-Type (sometimes with no boundary)."""
    boundary = draw(st.sampled_from(BOUNDARIES))
    part = st.tuples(
        st.sampled_from(["files", "file", "", "urls"]),
        st.sampled_from(FILE_NAMES) | st.none() | st.text(max_size=20),
        st.just(SONG.encode()) | st.binary(max_size=64),
        st.booleans(),  # the name as RFC 5987's filename*=UTF-8''...
    )
    body = b""
    for name, filename, data, star in draw(st.lists(part, max_size=3)):
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += (
                f"; filename*=UTF-8''{quote(filename)}" if star else f'; filename="{filename}"'
            )
        body += b"--%s\r\nContent-Disposition: %s\r\n" % (boundary, disposition.encode())
        body += b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    body += b"--%s--\r\n" % boundary
    if draw(st.integers(0, 3)) == 3:
        body = body[: draw(st.integers(0, len(body)))]
    kinds = [b"form-data; boundary=" + boundary, b'form-data; boundary="%s"' % boundary]
    kinds += [b"form-data", b"form-data; boundary=", b"form-data; boundary=elsewhere"]
    kinds += [b"mixed; boundary=" + boundary]
    return body, b"multipart/" + draw(st.sampled_from(kinds))


@st.composite
def bodies(draw: st.DrawFn, op: Operation) -> tuple[bytes, bytes | None]:
    """A body and the Content-Type it would travel with."""
    kind = draw(st.sampled_from(["none", "json", "json", "bytes", "multipart", "form"]))
    if kind == "json":
        return draw(json_bodies(op)), b"application/json"
    if kind == "bytes":
        kinds = [b"application/json", b"application/octet-stream", b"text/plain"]
        return draw(st.binary(min_size=1, max_size=200)), draw(st.sampled_from(kinds))
    if kind == "multipart":
        return draw(multipart_bodies())
    if kind == "form":
        return f"task_name=x&session_id={SESSION}".encode(), b"application/x-www-form-urlencoded"
    return b"", None


# -- headers and targets --------------------------------------------------------------------------


ODD_VALUES = st.sampled_from(
    [
        *(b"", b" ", b"\t", "é".encode("latin-1"), "歌曲".encode(), "🎵".encode(), b"\xff\xfe"),
        *(b"x" * 4000, *(h.encode() for h in HIDING)),
    ]
) | st.binary(max_size=30).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
AUTHORIZATIONS = st.one_of(
    st.sampled_from([f"Bearer {t}".encode() for t in TOKENS]),
    st.sampled_from(
        [
            *(b"Bearer", b"Bearer ", b"Basic dXNlcjpwYXNz", b"Bearer nmv_usr_" + b"0" * 32),
            *(b"Bearer clm_" + b"f" * 24, f"bearer {ANONYMOUS}".encode()),
            *(f"BEARER  {REGISTERED}\t".encode(), f"Bearer {ANONYMOUS} {REGISTERED}".encode()),
            *(f"Bearer {REGISTERED}x".encode(), f"Token {REGISTERED}".encode()),
        ]
    ),
    ODD_VALUES,
)
CLIENT_IDS = st.one_of(
    st.just(b"hostile-client"),
    st.uuids().map(lambda u: str(u).encode()),
    st.sampled_from([t.encode() for t in TOKENS]),
    ODD_VALUES,
)
CONTENT_TYPES = st.sampled_from(
    [b"application/json", b"application/json; charset=latin-1", b"text/plain", b"", b"*/*"]
)
ODD_HEADERS = st.tuples(
    st.sampled_from(["X-Mock-Scenario", "X-Mock-Token", "Accept", "Range", "Cookie", "Expect"]),
    st.sampled_from([n.encode() for n in sorted(CATALOGUE)])
    | st.sampled_from([b"100-continue", b"bytes=0-", b"bytes=-0", b"text/event-stream"])
    | ODD_VALUES,
)


def _headers(op: Operation) -> list[Parameter]:
    return [p for p in op.parameters if p.location == "header" and p.name != "X-Client-Id"]


def _plain(param: Parameter) -> bytes:
    return b"text/event-stream" if param.name == "Accept" else b"hostile-1.0"


@st.composite
def header_sets(
    draw: st.DrawFn, op: Operation | None, content_type: bytes | None
) -> tuple[tuple[str, bytes], ...]:
    """None, one or two of each header that matters, plain or odd, in any order."""
    headers = [("Authorization", draw(AUTHORIZATIONS)) for _ in range(draw(st.integers(0, 2)))]
    headers += [("X-Client-Id", draw(CLIENT_IDS)) for _ in range(draw(st.integers(0, 2)))]
    for param in _headers(op) if op is not None else []:
        if draw(st.booleans()):
            headers.append((param.name, draw(st.just(_plain(param)) | ODD_VALUES)))
    if content_type is not None:
        times = draw(st.sampled_from([1, 0, 2]))
        headers += [("Content-Type", content_type)] * min(times, 1)
        headers += [("Content-Type", draw(CONTENT_TYPES))] * (times == 2)
    headers += draw(st.lists(ODD_HEADERS, max_size=2))
    return tuple(draw(st.permutations(headers)))


PATH_VALUES = st.one_of(
    st.sampled_from(OBJECTS),
    st.sampled_from([wrap + t for t in TOKENS for wrap in ("", "%20", "_", "x", "%2F")]),
    st.text(max_size=30).map(lambda s: quote(s, safe="")),
    st.sampled_from(["", "%20", "%00", "%ZZ", "%C3%28", "..", "%2E%2E", "%2F", "-1", "a" * 300]),
)
QUERY_PAIRS = st.one_of(
    st.sampled_from([f"{k}{t}" for t in TOKENS for k in ("token=", "q=%20", "x=_")]),
    st.tuples(st.text(max_size=10), st.text(max_size=10)).map(lambda kv: "=".join(map(quote, kv))),
    st.sampled_from(["a=%ZZ", "=", "&&", "a=%00", "since=NaN", "until=1e400", "token=%ff"]),
)


@st.composite
def targets(draw: st.DrawFn, template: str) -> str:
    """The path with its parameters filled (real ids, tokens, odd strings), maybe a query."""
    path = re.sub(r"\{\w+\}", lambda _: draw(PATH_VALUES), template)
    if draw(st.booleans()):
        path += "?" + "&".join(draw(st.lists(QUERY_PAIRS, min_size=1, max_size=3)))
    return path


# -- requests -------------------------------------------------------------------------------------


@st.composite
def operation_requests(draw: st.DrawFn) -> Raw:
    op = draw(st.sampled_from(OPERATIONS))
    others = st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"])
    method = op.method if draw(st.integers(0, 9)) < 9 else draw(others)  # a tenth: 405s
    body, content_type = draw(bodies(op))
    headers = draw(header_sets(op, content_type))
    hang_up = bool(body) and draw(st.integers(0, 9)) == 9
    return Raw(method, draw(targets(op.path)), headers, body, hang_up)


# the control API is not in openapi.yaml: its fields and one good body per route, from the README
CONTROL_FIELDS = (
    *("advance", "seed", "credits", "plan", "scopes", "token", "name", "scope", "id", "once"),
    "seconds",
    *("shape", "match", "respond", "times", *(f.name for f in dataclasses.fields(StreamFaults))),
    *NAMESPACE_SETTINGS,
)
CONTROL_EXAMPLES: dict[str, Any] = {
    "/__mock/reset": {"seed": 3},
    "/__mock/clock": {"advance": 30},
    "/__mock/clock/sleep": {"seconds": 30},
    "/__mock/tokens": {"credits": 5, "plan": "pro", "scopes": ["read"]},
    "/__mock/tokens/revoke": {"token": ANONYMOUS},
    "/__mock/namespace": {"seed": 3, "clock": "scaled:100", "render_seconds": [70, 80]},
    "/__mock/scenarios": {"name": "rate-limited", "scope": {"client_id": "c-1"}},
    "/__mock/sessions/{session_id}/faults": {"once": True, "cut_at_event": 1},
}
CONTROL_LEAVES = st.sampled_from([*WICKED, *sorted(CATALOGUE), *TOKENS, *OBJECTS]) | LEAVES


@st.composite
def control_requests(draw: st.DrawFn) -> Raw:
    method, path = draw(st.sampled_from(CONTROL_ROUTES))
    base = CONTROL_EXAMPLES.get(path, {})
    fields = tuple(sorted({*CONTROL_FIELDS, *base}))
    value = draw(
        st.one_of(
            st.just(base),
            mutations(base, fields),
            st.dictionaries(st.sampled_from(fields), CONTROL_LEAVES, max_size=4),
            documents(fields),
        )
    )
    body, content_type = draw(
        st.sampled_from([(render(value).encode(), b"application/json"), (b"", None)])
        | st.tuples(st.binary(min_size=1, max_size=100), st.just(b"application/json"))
    )
    headers = draw(header_sets(None, content_type))
    if draw(st.booleans()):
        headers += (("X-Mock-Token", draw(st.sampled_from(HIDING)).encode()),)
    return Raw(method, draw(targets(path)), headers, body)


@st.composite
def smuggled_tokens(draw: st.DrawFn) -> Raw:
    """A plausible request with a real token where none belongs (and a good Authorization)."""
    wrapped = draw(st.sampled_from(["", "%20", "_", "x", "%2F"])) + draw(st.sampled_from(TOKENS))
    op = draw(st.sampled_from(OPERATIONS))
    place = draw(st.sampled_from(["path", "query", "body", "header", "unknown path"]))
    path = re.sub(r"\{(\w+)\}", lambda m: RENDER if "render" in m[1] else SESSION, op.path)
    if place == "path":
        path = (
            re.sub(r"\{\w+\}", wrapped, op.path, count=1)
            if "{" in op.path
            else path + "/" + wrapped
        )
    elif place == "unknown path":
        path = f"/api/{wrapped}/latest"
    elif place == "query":
        path += f"?{draw(st.sampled_from(['token', 'access_token', 'q']))}={wrapped}"
    headers = [("Authorization", f"Bearer {draw(st.sampled_from(TOKENS))}".encode())]
    headers += [(p.name, _plain(p)) for p in _headers(op)]
    value = _example(op.operation_id) if op.body_schemas else None
    if place == "body":
        key = draw(st.sampled_from(sorted(value or {"token": None})))
        value = {**(value or {}), key: unquote(wrapped)}
    elif place == "header":
        name = draw(
            st.sampled_from(["X-Client-Id", "X-Mock-Scenario", "X-Skill-Source", "Referer"])
        )
        headers.append((name, unquote(wrapped).encode()))
    if value is not None:
        headers.append(("Content-Type", b"application/json"))
    return Raw(op.method, path, tuple(headers), b"" if value is None else render(value).encode())


# -- the tests ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    folder = tmp_path_factory.mktemp("hostile")
    song = make_song(folder / "song.mp3", 1.0).read_bytes()
    with Hostile(folder, song).running() as server:
        yield server


def attack(hostile: Hostile, request: Raw) -> Reply | None:
    world = hostile.fresh()
    sent, reply = hostile.send(request, world)
    event(
        f"answered {reply.status}" if reply is not None else "hung up"
    )  # --hypothesis-show-statistics
    hostile.verify(sent, reply, world)
    return reply


AS_REGISTERED = ("Authorization", f"Bearer {REGISTERED}".encode())
JSON = ("Content-Type", b"application/json")
STATE = PATHS["getSessionState"]


def _new_session(body: bytes) -> Raw:
    return Raw("POST", PATHS["createSession"], (AS_REGISTERED, JSON), body)


@settings(HYPOTHESIS, max_examples=300)
@given(request=operation_requests())
@example(request=_new_session(b'{"task_name": "\\ud800"}'))  # then reading the session: 500
@example(request=_new_session(b'{"task_name": "x", "language": NaN}'))  # the journal: 500
@example(request=_new_session(b'{"task_name": %s}' % (b"9" * 5000)))
@example(request=_new_session(b"[" * 5000 + b"]" * 5000))
@example(request=Raw("GET", f"{PATHS['getCredits']}?token={REGISTERED}", (AS_REGISTERED,)))
@example(request=Raw("GET", STATE.replace("{session_id}", f"%20{ANONYMOUS}"), (AS_REGISTERED,)))
@example(request=Raw("GET", STATE.replace("{session_id}", f"_{ANONYMOUS}"), (AS_REGISTERED,)))
@example(
    request=Raw(
        "POST",
        PATHS["createAnonymousToken"],
        (("X-Client-Id", b"one"), ("Authorization", b"Bearer x"), JSON) * 2,
        b"{}",
    )
)
def test_no_operation_request_breaks_the_mock(hostile: Hostile, request: Raw) -> None:
    attack(hostile, request)


def _control(path: str, body: bytes) -> Raw:
    return Raw("POST", path, (JSON,), body)


@settings(HYPOTHESIS, max_examples=150)
@given(request=control_requests())
@example(request=_control("/__mock/clock", b'{"advance": 1e400}'))  # bricked the server
@example(request=_control("/__mock/clock", b'{"advance": Infinity}'))
@example(request=_control("/__mock/clock", b'{"advance": NaN}'))
@example(request=_control("/__mock/clock", b'{"advance": 3e11}'))  # past year 9999
@example(request=_control("/__mock/clock", b'{"advance": -5}'))
@example(request=_control("/__mock/reset", b'{"seed": 1%s}' % (b"0" * 400)))
@example(request=_control("/__mock/reset", b'{"seed": %s}' % (b"9" * 5000)))
@example(request=_control("/__mock/tokens", b'{"scopes": ["\\ud800"]}'))
@example(request=_control("/__mock/scenarios", b"\x80"))
@example(request=Raw("GET", f"/__mock/journal?token={REGISTERED}"))
def test_no_control_request_breaks_the_mock(hostile: Hostile, request: Raw) -> None:
    attack(hostile, request)


@settings(HYPOTHESIS, max_examples=120)
@given(request=smuggled_tokens())
@example(request=Raw("POST", PATHS["createAnonymousToken"], (("X-Client-Id", CLAIM.encode()),)))
def test_tokens_never_reach_the_journal_or_the_logs(hostile: Hostile, request: Raw) -> None:
    attack(hostile, request)


UPLOAD_NAMES = st.sampled_from(
    [*FILE_NAMES[:5], "../../etc/passwd.mp3", "tab\there\x01\x1f.mp3", "x" * 200 + ".mp3"]
) | st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters='"\\/\r\n\x00'),
    min_size=1,
    max_size=40,
).map(lambda name: name + ".mp3")
BOUNDARY = b"hostile-upload-boundary-7f3a9c"


@settings(HYPOTHESIS, max_examples=40)
@given(name=UPLOAD_NAMES)
@example(name="歌曲.mp3")  # was a 422: the name was encoded as Latin-1
@example(name="café.mp3")  # was stored as "caf�.mp3"
def test_uploads_keep_any_file_name(hostile: Hostile, name: str) -> None:
    part = b'Content-Disposition: form-data; name="files"; filename="%s"\r\n' % name.encode()
    body = b"--%s\r\n%sContent-Type: audio/mpeg\r\n\r\n" % (BOUNDARY, part)
    body += SONG.encode() + b"\r\n--%s--\r\n" % BOUNDARY
    kind = ("Content-Type", b"multipart/form-data; boundary=" + BOUNDARY)
    path = PATHS["uploadFiles"].replace("{session_id}", SESSION)
    reply = attack(hostile, Raw("POST", path, (AS_REGISTERED, kind), body))
    assert reply is not None
    answer = json.loads(reply.body)
    assert answer["code"] == 0, f"the upload of {name!r} was refused: {answer}"
    (stored,) = answer["data"]["files"]
    assert stored["filename"] == name.rsplit("/", 1)[-1], f"{name!r} was stored as {stored}"
    download = hostile.client.get(stored["cdn_url"])
    assert download.status_code == 200, f"{stored['cdn_url']} answered {download.status_code}"
    assert download.content == hostile.song, f"{stored['cdn_url']} serves other bytes"
