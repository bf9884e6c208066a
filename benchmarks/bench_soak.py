"""Soak: the mock under a long mix of normal and hostile traffic, watched for 5xx and growth.

    .venv/bin/python benchmarks/bench_soak.py [--seconds 600] [--requests 100000] [--clients 8]
        [--seed 0] [--timeout 10] [--rss-growth-mb 256] [--include-clock-bombs] [--quick]

Starts ``nemo-mock serve --host 127.0.0.1 --port 0 --clock scaled:100 --seed 0 --log-level
warning`` as a subprocess (stderr to a log file, uploads in a temporary data folder), warms it
up, then lets ``--clients`` keep-alive clients send until ``--seconds`` or ``--requests`` runs out:

- normal traffic (35%): an anonymous token for a fresh X-Client-Id UUID, credits, create
  session, session state, claim token;
- hostile traffic (60%) to every operation of openapi.yaml (loaded with `load_spec`; JSON bodies
  start from each operation's own schema and are then broken): random bytes; JSON with NaN,
  Infinity, 1e400, lone surrogates, invalid UTF-8, deep nesting, huge and negative numbers,
  unknown fields, wrong types; multipart uploads with Unicode file names (歌曲.mp3, café.mp3),
  truncated multipart; repeated headers; bodies of 200 KB to 3 MB; issued tokens placed in paths,
  query strings, bodies and headers; wrong methods; uploads abandoned half-way;
- the control API (5%): /__mock/health, /__mock/journal (filtered), /__mock/clock GET and POST,
  /__mock/scenarios GET, POST and DELETE. A hostile rule the mock accepts is removed at once.

Every ``--journal-every`` seconds the whole journal is read (GET /__mock/journal). The mock is
never reset, so the journal fills to its cap (20,000 entries) and its memory shows in the RSS.
The server's VmRSS and open file descriptors are sampled every second from /proc.

Token leaks: each token the run was issued (``nmv_usr_…``, ``clm_…``) is looked for in every
response body but the one that issued it, in every journal read and in the server's log. A
token the client itself got stored (a client id, a task name) and later read back is listed,
not counted; a token echoed back to the request that carried it ("Session nmv_usr_… not
found") is counted unless --allow-echo. The exit status is 1 on any 5xx, timeout (every request
has one), token leak, "Traceback", "Logging error" or any exception named in the log, a server
that died or listened beyond loopback, or RSS growth (end minus start) above
``--rss-growth-mb``; 0 otherwise.

A POST /__mock/clock with a non-finite or astronomically large ``advance`` has bricked a shared
mock's clock (every later request failed): those are sent only with --include-clock-bombs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import ctypes
import json
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from contract.control import Control
from contract.errors import NemoContractError
from mock_backend.openapi.spec import Operation, Spec, load_spec

HOST = "127.0.0.1"
IDLE = 4.0  # uvicorn closes keep-alive connections idle for 5 s: reconnect before that
TOKEN = re.compile(rb"(?:nmv_usr_|clm_)[A-Za-z0-9]{6,}")
SENTINEL = "@@SOAK@@"
ECHO = "echoed to the request that carried it"
JSON = ("Content-Type", "application/json")
SKILL = [("X-Skill-Source", "soak"), ("X-Skill-Version", "1.0.0"), ("X-Skill-Platform", "linux")]
# The default --rss-growth-mb: what a mock whose state is bounded may still grow by in a run.
# Its journal keeps 20,000 entries (16 KB of each body at most) and is written out an entry at a
# time; what clients create (users, tokens, sessions) stays until /__mock/reset. Measured with
# this mix, 8 clients, 10 minutes (2026-12-02): +217 MB in all, the journal full within the
# first minute, then +17.5 MB in the second half while hostile requests added ~1,000 sessions
# and ~500 tokens. 256 MB leaves room for the allocator while a leak of 1 KB a request
# (170 MB more) fails.
RSS_GROWTH_MB = 256.0
# Normal traffic comes from a fixed population of devices, as real clients are: each device keeps
# its X-Client-Id (so asking for a token again gives back its still-valid one) and works on at
# most this many sessions. What clients create then stops growing, and RSS must stop with it.
DEVICES = 300
SESSIONS_PER_DEVICE = 3

# fmt: off
KINDS = {  # hostile request kinds and their weights
    "random-bytes": 10, "json-special": 14, "deep-nesting": 6, "numbers": 8, "unknown-fields": 8,
    "wrong-types": 10, "token-placed": 12, "repeated-headers": 8, "big-body": 4,
    "multipart-unicode": 8, "multipart-truncated": 5, "wrong-method": 3, "abort": 1,
}
SPECIAL = [  # JSON text that Python's json.loads accepts (or dies on) and a strict parser refuses
    b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b'"\\ud800"', b'"a\\udfff\\ud800b"',
    b'"\\u0000"', b'"\xff\xfe"', b'"caf\xc3"', b'"\xed\xa0\x80"',
]
NUMBERS = [
    b"-1", b"-0", b"-0.0", b"1e-400", b"1e308", b"-1e308", b"18446744073709551616",
    b"-9223372036854775809", b"123456789012345678901234567890", b"1" * 5000, b"-" + b"9" * 5000,
    b"0." + b"0" * 4000 + b"1", b"1E+999999999",
]
WRONG_TYPES: list[Any] = [[], {}, 0, -1, 1.5, True, False, None, "", [[]], {"a": {}}, ["x"] * 3]
FILE_NAMES = [
    "歌曲.mp3", "café.mp3", "🎵 clip.mp4", "Ünïcødé ñame.wav", "../../etc/passwd.mp3",
    "a\x00b.mp3", "CON.mp3", " .mp3", "x" * 300 + ".mp3", "no_extension", "中文 视频.mov",
]
CONTENT_TYPES = [
    "application/json", "application/octet-stream", "multipart/form-data; boundary=x",
    "text/plain", "application/json; charset=utf-16", "",
]
BAD_AUTH = [
    "Bearer", "Bearer ", "Basic Zm9vOmJhcg==", "bearer  nmv_usr_", "Bearer \t",
    "Bearer nmv_usr_" + "f" * 32, "Bearer " + "A" * 4000, "Bearer 歌曲",
]
BAD_PATH_VALUES = [
    "..", "%2e%2e%2f%2e%2e", "%00", quote("歌曲"), "a" * 3000, "%ff%fe", "-1", "0", "render_soak",
    quote("<script>"), "%u0000", "null",
]
JOURNAL_QUERIES = [
    "operation=getCredits", "since=nan", "since=1e400", "until=-inf", "since=abc",
    "client_id=" + quote("歌曲"), "session_id=%00", "token=nmv_usr_%00",
]
CLOCK_BODIES = [
    b'{"advance": 0}', b'{"advance": 0.5}', b'{"advance": 1}', b'{"advance": -1}',
    b'{"advance": "30"}', b'{"advance": true}', b'{"advance": null}', b"{}", b"[]",
    b'{"advance": 1, "x": NaN}', b'{"advance": 1, "x": "\\ud800"}', b"[" * 50_000,
    b'{"advance": 1, "n": ' + b"7" * 5000 + b"}", b'"\xff"', b"\x00\x01\x02",
]
CLOCK_BOMBS = [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"1e308", b"9" * 400, b"1e20"]
SCENARIO_BODIES = [
    b'{"name": "no-such-scenario"}', b'{"name": 12}', b'{"rule": {"match": []}}',
    b'{"rule": {"match": {"path": "("}}}', b'{"rules": "x"}', b'{"scope": NaN}',
    b'{"name": "\\ud800"}', b'{"rule": {"respond": {"fault": "nope"}}}', b"[" * 20_000,
    b'{"rule": {"match": {"operation": "nope"}, "times": -1}}', b"\xff\xfe{",
]
# fmt: on


# -- the raw HTTP/1.1 client --------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[bytes, bytes]
    body: bytes
    close: bool


class Connection:
    """One keep-alive connection on raw asyncio streams (httpx would take the server's CPU)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last = 0.0

    async def exchange(self, raw: bytes) -> Reply:
        reused = self.writer is not None and time.monotonic() - self.last < IDLE
        while True:
            if not reused:
                await self.close()
                self.reader, self.writer = await asyncio.open_connection(
                    HOST, self.port, limit=1 << 20
                )
            assert self.reader is not None
            assert self.writer is not None
            self.writer.write(raw)
            with contextlib.suppress(ConnectionError):  # it may answer before reading it all
                await self.writer.drain()
            try:
                reply = await read_reply(self.reader)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                await self.close()
                nothing = isinstance(exc, ConnectionError) or not exc.partial
                if reused and nothing:  # the server had closed it: once more, on a new one
                    reused = False
                    continue
                raise
            self.last = time.monotonic()
            if reply.close:
                await self.close()
            return reply

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def read_reply(reader: asyncio.StreamReader) -> Reply:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    close = headers.get(b"connection", b"").lower() == b"close"
    if status < 200 or status in (204, 304):
        body = b""
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        while await reader.readuntil(b"\r\n") != b"\r\n":
            pass  # trailers
        body = b"".join(parts)
    elif b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    else:
        body, close = await reader.read(), True
    return Reply(status, headers, body, close)


def encode(method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {HOST}"]
    if (body or method == "POST") and all(k.lower() != "content-length" for k, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# -- what is sent ---------------------------------------------------------------------------------


@dataclass
class Planned:
    label: str  # results are grouped by it: "<kind> <operationId>" or "control <route>"
    method: str
    target: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    timeout: float | None = None
    abort: bool = False  # send part of the body, then hang up: no reply expected
    after: Callable[[Reply], None] | None = None  # bookkeeping of normal traffic
    issuing: bool = False  # the reply may hand out a token (it is no leak there)
    planted: str | None = None  # a token this request may get stored (a client id, a name)


@dataclass
class Session:
    token: str
    task_id: str
    session_id: str


def skeleton(spec: Spec, schema: Any, depth: int = 0) -> Any:
    """The smallest value that has the schema's required fields (valid, or close to it)."""
    schema = spec.resolve(schema)
    if not isinstance(schema, dict) or depth > 6:
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("oneOf", "anyOf", "allOf"):
        if schema.get(key):
            return skeleton(spec, schema[key][0], depth + 1)
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        required = [name for name in schema.get("required", []) if name in props]
        return {name: skeleton(spec, props[name], depth + 1) for name in required}
    if kind == "array":
        return [skeleton(spec, schema.get("items", {}), depth + 1)]
    return {"string": "soak", "integer": 1, "number": 1.5, "boolean": True}.get(kind)


def field_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict | list):
        for key, child in value.items() if isinstance(value, dict) else enumerate(value):
            yield (*prefix, key)
            yield from field_paths(child, (*prefix, key))


def put(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    value = copy.deepcopy(value)
    target = value
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return value


def jsonb(value: Any) -> bytes:
    return json.dumps(value).encode()


def data_of(reply: Reply) -> dict[str, Any]:
    try:
        data = json.loads(reply.body).get("data")
    except (ValueError, AttributeError):
        return {}
    return data if isinstance(data, dict) else {}


class Traffic:
    """Plans every request from one seeded RNG, and keeps what normal traffic was given."""

    def __init__(
        self, spec: Spec, rng: random.Random, *, clock_bombs: bool, devices: int = 0
    ) -> None:
        self.rng = rng
        self.clock_bombs = clock_bombs
        # the X-Client-Ids of a fixed population of devices (none: a fresh id each time)
        self.devices = [self.uuid() for _ in range(devices)]
        self.sessions_of: Counter[str] = Counter()  # token → sessions its device created
        self.claimed: set[str] = set()  # sessions claimed by their device
        self.operations = list(spec.operations.values())
        self.skeletons = {
            op.operation_id: skeleton(spec, op.body_schemas.get("application/json"))
            for op in self.operations
        }
        self.tokens: list[str] = []  # API tokens (nmv_usr_) to use, newest last
        self.issued: set[str] = set()  # every token of the run, claim tokens too
        self.lengths: set[int] = set()  # of the issued tokens: a match is cut to these
        self.planted: set[str] = set()
        self.sessions: list[Session] = []
        self.identity: dict[int, str] = {}  # client → its anonymous token
        self.serial = 0

    def issue(self, token: Any) -> None:
        if isinstance(token, str) and token not in self.issued:
            self.issued.add(token)
            self.lengths.add(len(token))
            if token.startswith("nmv_usr_"):
                self.tokens = [*self.tokens[-499:], token]

    def issued_in(self, text: bytes) -> set[str]:
        """The issued tokens in ``text`` (a match may run on into more letters and digits)."""
        words = {m.group().decode() for m in TOKEN.finditer(text)}
        return {w[:n] for w in words for n in self.lengths if w[:n] in self.issued}

    def next(self, client: int) -> Planned:
        roll = self.rng.random()
        if roll < 0.35 or not self.tokens:
            return self.normal(client)
        return self.hostile() if roll < 0.95 else self.control()

    # normal traffic

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def client_id(self) -> str:
        """A device's X-Client-Id: one of the population's, or a fresh one without one."""
        return self.rng.choice(self.devices) if self.devices else self.uuid()

    def normal(self, client: int) -> Planned:
        token = self.identity.get(client)
        roll = self.rng.random()
        if token is None or roll < 0.08:

            def got(reply: Reply) -> None:
                token = data_of(reply).get("token")
                self.issue(token)
                if isinstance(token, str):
                    self.identity[client] = token

            headers = [("X-Client-Id", self.client_id()), *SKILL]
            path = "/api/auth/anonymous-token"
            return Planned("normal createAnonymousToken", "POST", path, headers, after=got)
        auth = [("Authorization", f"Bearer {token}"), *SKILL]
        mine = [s for s in self.sessions[-200:] if s.token == token]
        if roll < 0.40:
            return Planned("normal getCredits", "GET", "/api/credits/balance/simple", auth)
        full = self.devices and self.sessions_of[token] >= SESSIONS_PER_DEVICE
        if not mine or (roll < 0.60 and not full):
            self.serial += 1
            self.sessions_of[token] += 1
            body = jsonb({"task_name": f"soak {self.serial}", "language": "en"})

            def created(reply: Reply) -> None:
                data = data_of(reply)
                if isinstance(data.get("session_id"), str) and isinstance(data.get("task_id"), str):
                    self.sessions.append(Session(token, data["task_id"], data["session_id"]))
                    del self.sessions[:-500]

            path = "/api/tasks/me/with-session/nemo_agent"
            return Planned("normal createSession", "POST", path, [*auth, JSON], body, after=created)
        session = self.rng.choice(mine)
        if roll < 0.95 or (self.devices and session.session_id in self.claimed):
            # a device claims a session once (its claim token lasts 7 days)
            path = f"/api/state/nemo_agent/me/{session.session_id}/latest"
            return Planned("normal getSessionState", "GET", path, auth)
        body = jsonb({"task_id": session.task_id, "session_id": session.session_id})
        path = "/api/auth/claim-token"

        def claimed(reply: Reply) -> None:
            self.issue(data_of(reply).get("claim_token"))
            self.claimed.add(session.session_id)

        return Planned("normal createClaimToken", "POST", path, [*auth, JSON], body, after=claimed)

    # hostile traffic

    def token(self) -> str:
        return self.rng.choice(self.tokens)

    def auth(self) -> list[tuple[str, str]]:
        roll = self.rng.random()
        if roll < 0.7:  # most hostile requests pass auth, so that the body checks are reached
            return [("Authorization", f"Bearer {self.token()}")]
        return [("Authorization", self.rng.choice(BAD_AUTH))] if roll < 0.85 else []

    def target(self, op: Operation) -> str:
        def value(found: re.Match[str]) -> str:
            if found.group(1) == "session_id" and self.rng.random() < 0.6:
                return self.rng.choice(self.sessions[-200:]).session_id if self.sessions else "s"
            return self.rng.choice(BAD_PATH_VALUES)

        return re.sub(r"\{(\w+)\}", value, op.path)

    def body_for(self, op: Operation, literal: bytes) -> bytes:
        """The operation's skeleton body, one field (or all of it) replaced by ``literal``."""
        base = self.skeletons.get(op.operation_id)
        paths = list(field_paths(base))
        where = self.rng.choice(paths) if paths and self.rng.random() < 0.85 else ()
        if base is None:
            base, where = {"value": None}, ("value",)
        text = json.dumps(put(base, where, SENTINEL), ensure_ascii=False).encode()
        return text.replace(json.dumps(SENTINEL).encode(), literal)

    def hostile(self) -> Planned:
        kind = self.rng.choices(list(KINDS), list(KINDS.values()))[0]
        if kind.startswith("multipart") or kind == "abort":
            return self.upload(kind)
        op = self.rng.choice(self.operations)
        label = f"{kind} {op.operation_id}"
        headers = self.auth() + SKILL
        if op.operation_id == "runSse" and self.rng.random() < 0.8:
            headers.append(("Accept", "text/event-stream"))
        if op.operation_id == "createAnonymousToken":
            headers.append(("X-Client-Id", self.client_id()))
        issuing = op.operation_id == "createAnonymousToken"
        body, ctype = b"", "application/json"
        if kind == "token-placed":
            return self.token_placed(op, label, headers, issuing)
        if kind == "wrong-method":
            method = self.rng.choice(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "POST"])
            # "POST" is the right method for some: a token request then gets its token
            return Planned(label, method, self.target(op), headers, issuing=issuing)
        if kind == "random-bytes":
            body = self.rng.randbytes(self.rng.choice([1, 17, 512, 4096, 65_536]))
            ctype = self.rng.choice(CONTENT_TYPES)
        elif kind == "json-special":
            body = self.body_for(op, self.rng.choice(SPECIAL))
        elif kind == "deep-nesting":
            depth = self.rng.choice([64, 1000, 10_000, 100_000])
            body = self.rng.choice([b"[" * depth + b"]" * depth, b'{"a":' * depth + b"}" * depth])
        elif kind == "numbers":
            body = self.body_for(op, self.rng.choice(NUMBERS))
        elif kind == "unknown-fields":
            base = self.skeletons.get(op.operation_id)
            extra = {f"unknown_{self.rng.getrandbits(32):x}": 1, "__proto__": {"polluted": True}}
            body = jsonb({**base, **extra} if isinstance(base, dict) else extra)
        elif kind == "wrong-types":
            body = self.body_for(op, jsonb(self.rng.choice(WRONG_TYPES)))
        elif kind == "repeated-headers":
            body = self.body_for(op, b'"soak"')
            extra = [("Authorization", f"Bearer {self.token()}"), ("Content-Type", "text/plain"),
                     ("X-Client-Id", self.client_id()), ("Accept", "application/json"),
                     ("Content-Type", "multipart/form-data; boundary=zz")]  # fmt: skip
            headers += self.rng.sample(extra, self.rng.randint(2, len(extra)))
            headers += [("X-Skill-Source", f"s{i}") for i in range(self.rng.choice([2, 50, 400]))]
        elif kind == "big-body":
            size = int(200_000 * 15 ** self.rng.random())  # 200 KB .. 3 MB, log-uniform
            choices = [lambda: jsonb({"task_name": "a" * size}),
                       lambda: b"[" + b"1," * (size // 2) + b"1]",
                       lambda: self.body_for(op, jsonb("x" * size)),
                       lambda: self.rng.randbytes(size)]  # fmt: skip
            body = self.rng.choice(choices)()
        if ctype:
            headers.append(("Content-Type", ctype))
        return Planned(label, op.method, self.target(op), headers, body, issuing=issuing)

    def token_placed(
        self, op: Operation, label: str, headers: list[tuple[str, str]], issuing: bool
    ) -> Planned:
        """An issued token where no token belongs: a path, a query string, a body, a header."""
        token = self.token()
        where = self.rng.choice(["path", "query", "body", "header"])
        target, body, planted = self.target(op), b"", None
        if where == "path":
            mine = "/me/" in target
            target = target.replace("/me/", f"/{token}/", 1) if mine else f"{target}/{token}"
        elif where == "query":
            target += f"?token={token}&access_token={token}"
        elif where == "body":
            body, planted = self.body_for(op, jsonb(token)), token
            headers = [*headers, JSON]
        else:
            name = self.rng.choice(["X-Client-Id", "X-Skill-Source", "Cookie", "X-Api-Key"])
            headers = [h for h in headers if h[0] != name] + [(name, token)]
            planted = token if name == "X-Client-Id" else None  # a client id is kept
        label = f"{label} (in {where})"
        return Planned(label, op.method, target, headers, body, issuing=issuing, planted=planted)

    def upload(self, kind: str) -> Planned:
        session = self.rng.choice(self.sessions[-200:]) if self.sessions else None
        sid, token = (session.session_id, session.token) if session else ("s", self.token())
        boundary = f"soak{self.rng.getrandbits(48):x}"
        body = b""
        for _ in range(self.rng.choice([1, 1, 2, 5])):
            name = self.rng.choice(FILE_NAMES)
            names = [f'filename="{name}"', f"filename*=UTF-8''{quote(name)}", f"filename={name}",
                     f"filename=\"{name}\"; filename*=UTF-8''{quote(name)}"]  # fmt: skip
            size = self.rng.choice([0, 10, 4096, 200_000]) if self.rng.random() < 0.9 else 2_000_000
            body += (
                (
                    f"--{boundary}\r\nContent-Disposition: form-data; name=files; "
                    f"{self.rng.choice(names)}\r\nContent-Type: audio/mpeg\r\n\r\n"
                ).encode()
                + self.rng.randbytes(size)
                + b"\r\n"
            )
        body += f"--{boundary}--\r\n".encode()
        if kind == "multipart-truncated":
            body = body[: self.rng.randint(1, max(1, len(body) - len(boundary) - 8))]
        headers = [("Authorization", f"Bearer {token}"), *SKILL,
                   ("Content-Type", f"multipart/form-data; boundary={boundary}")]  # fmt: skip
        if kind == "abort":  # announce a megabyte more than will ever come
            headers.append(("Content-Length", str(len(body) + 1_000_000)))
        path = f"/api/upload-video/nemo_agent/me/{sid}"
        return Planned(f"{kind} uploadFiles", "POST", path, headers, body, abort=kind == "abort")

    # the control API

    def control(self) -> Planned:
        roll, choice = self.rng.random(), self.rng.choice
        if roll < 0.15:
            return Planned("control GET /__mock/health", "GET", "/__mock/health?x=%ff&x=1")
        if roll < 0.45:
            query = choice([*JOURNAL_QUERIES, f"token={self.token()}"])
            headers = [("X-Mock-Token", self.token())] if self.rng.random() < 0.3 else []
            path = f"/__mock/journal?{query}"
            return Planned("control GET /__mock/journal (filtered)", "GET", path, headers)
        if roll < 0.55:
            return Planned("control GET /__mock/clock", "GET", "/__mock/clock")
        if roll < 0.75:
            if self.clock_bombs and self.rng.random() < 0.05:
                body = b'{"advance": ' + choice(CLOCK_BOMBS) + b"}"
                return Planned("control POST /__mock/clock (bomb)", "POST", "/__mock/clock",
                               [JSON], body)  # fmt: skip
            body = choice([*CLOCK_BODIES, self.rng.randbytes(64)])
            return Planned("control POST /__mock/clock", "POST", "/__mock/clock", [JSON], body)
        if roll < 0.85:
            return Planned("control GET /__mock/scenarios", "GET", "/__mock/scenarios")
        if roll < 0.95:
            body = choice([*SCENARIO_BODIES, self.rng.randbytes(128)])
            return Planned("control POST /__mock/scenarios", "POST", "/__mock/scenarios",
                           [JSON], body)  # fmt: skip
        path = "/__mock/scenarios?id=" + choice(["nope", "%00", "r" * 500])
        return Planned("control DELETE /__mock/scenarios", "DELETE", path)


# -- the server and what is measured of it ------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    port: int
    folder: Path  # the log and the data folder

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_server(folder: Path, tokens_per_ip: int) -> Server:
    (folder / "data").mkdir()
    command = [str(Path(sys.executable).with_name("nemo-mock")), "serve", "--host", HOST,
               "--port", "0", "--clock", "scaled:100", "--seed", "0", "--log-level", "warning",
               "--data-dir", str(folder / "data"),
               "--tokens-per-ip", str(tokens_per_ip)]  # fmt: skip
    with (folder / "server.log").open("wb") as log:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log, preexec_fn=_die_with_parent
        )
    assert process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline().decode() if ready else ""
        found = re.search(r"nemo-mock serving (http://127\.0\.0\.1:(\d+))", line)
        if not found:
            raise RuntimeError(f"the mock did not start: {line!r}; see {folder / 'server.log'}")
    except BaseException:
        process.kill()
        process.wait()
        raise
    # nothing more is expected on stdout, but a full pipe would block the server: drain it
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return Server(process, found.group(1), int(found.group(2)), folder)


def held(server: Server) -> dict[str, int]:
    """What the mock holds (its health's state: users, tokens, sessions, journal); {} when the
    server cannot say (it is gone, or too busy within the timeout)."""
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            return dict(Control(http).health()["state"])
    except (httpx.HTTPError, NemoContractError, KeyError):
        return {}


def _die_with_parent() -> None:
    """In the child: the kernel kills it when this script dies, even of SIGKILL."""
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


def sample(pid: int) -> tuple[int, int] | None:
    """(VmRSS in KB, open file descriptors), or None once the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return None
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return rss, fds


def listening(pid: int) -> list[str]:
    """The addresses the process listens on: its sockets' inodes looked up in /proc/net/tcp*."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            inodes.add(str(fd.readlink()).removeprefix("socket:[").removesuffix("]"))
    found = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        with contextlib.suppress(FileNotFoundError):
            for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                cols = row.split()
                if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                    address, port = cols[1].split(":")
                    raw = bytes.fromhex(address)  # 32-bit words in host (little-endian) order
                    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                    found.append(f"{socket.inet_ntop(family, raw)}:{int(port, 16)}")
    return found


@dataclass
class Stats:
    sent: int = 0
    classes: Counter[str] = field(default_factory=Counter)
    refused: int = 0  # 2xx whose envelope code is not 0
    normal_refused: Counter[str] = field(default_factory=Counter)
    fivexx: Counter[str] = field(default_factory=Counter)
    timeouts: Counter[str] = field(default_factory=Counter)
    conn_errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    aborted: int = 0
    leaks: Counter[str] = field(default_factory=Counter)  # where → count
    leaks_by_request: Counter[str] = field(default_factory=Counter)
    read_backs: int = 0  # planted tokens read back: not leaks
    journal_ok: int = 0
    journal_failed: int = 0
    journal_largest: int = 0
    journal_slowest: float = 0.0
    journal_entries: int | None = None
    accepted_rules: int = 0


class Sampler(threading.Thread):
    """Samples the server every second; prints a progress line every 10 s of the run."""

    def __init__(self, server: Server, stats: Stats, halt: threading.Event) -> None:
        super().__init__(daemon=True)
        self.server, self.stats, self.halt = server, stats, halt
        self.samples: list[tuple[float, int, int]] = []
        self.stop = threading.Event()
        self.run_started: float | None = None

    def run(self) -> None:
        report = None
        while not self.stop.wait(1.0):
            now, figures = time.monotonic(), sample(self.server.process.pid)
            if figures is None or self.server.process.poll() is not None:
                self.halt.set()
                return
            self.samples.append((now, *figures))
            if self.run_started is None:
                continue
            report = report or self.run_started + 10
            if now >= report:
                report += 10
                s, state = self.stats, held(self.server)
                print(
                    f"  {now - self.run_started:5.0f} s  {s.sent:>7,} requests  RSS "
                    f"{figures[0] / 1024:6.1f} MB  fds {figures[1]:>3}  journal "
                    f"{state.get('journal_entries', '?'):>6} entries "
                    f"{state.get('journal_bytes', 0) / 2**20:5.1f} MiB  sessions "
                    f"{state.get('sessions', '?'):>6}  tokens {state.get('tokens', '?'):>6}  "
                    f"5xx {s.fivexx.total()}  timeouts {s.timeouts.total()}",
                    flush=True,
                )


# -- running the load -----------------------------------------------------------------------------


class Soak:
    def __init__(self, server: Server, traffic: Traffic, args: argparse.Namespace) -> None:
        self.server, self.traffic, self.args = server, traffic, args
        self.stats = Stats()
        self.halt = threading.Event()  # stop sending: the server is gone, or SIGTERM came

    def leak(self, where: str, label: str) -> None:
        self.stats.leaks[where] += 1
        self.stats.leaks_by_request[f"{where}: {label}"] += 1

    async def send(self, conn: Connection, planned: Planned) -> Reply | None:
        stats, label = self.stats, planned.label
        stats.sent += 1
        raw = encode(planned.method, planned.target, planned.headers, planned.body)
        if planned.abort:
            await self.abort(raw)
            return None
        try:
            async with asyncio.timeout(planned.timeout or self.args.timeout):
                reply = await conn.exchange(raw)
        except TimeoutError:
            await conn.close()
            stats.timeouts[label] += 1
            return None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            await conn.close()
            stats.conn_errors[label] += 1
            stats.examples.setdefault(f"conn {label}", repr(exc)[:160])
            return None
        stats.classes[f"{reply.status // 100}xx"] += 1
        if reply.status >= 500:
            stats.fivexx[label] += 1
            stats.examples.setdefault(f"5xx {label}", reply.body[:200].decode("utf-8", "replace"))
        code = re.match(rb'\{"code":(-?\d+)', reply.body)
        accepted = reply.status < 300 and (code is None or code.group(1) == b"0")
        if reply.status < 300 and not accepted:
            stats.refused += 1
            if label.startswith("normal"):
                stats.normal_refused[f"{label}: {reply.body[:100].decode('utf-8', 'replace')}"] += 1
        handed: set[str] = set()  # what this reply hands out, new or again: no leak here
        if planned.issuing or planned.after is not None:
            data = data_of(reply)
            handed = {t for t in (data.get("token"), data.get("claim_token")) if t}
        if planned.after is not None and accepted:
            planned.after(reply)
        if planned.issuing and accepted:
            self.traffic.issue(data_of(reply).get("token"))
        if planned.planted and accepted:
            self.traffic.planted.add(planned.planted)  # stored by the client's own choice
        for token in self.traffic.issued_in(reply.body) - handed:
            if planned.target.startswith("/__mock/journal"):  # it promises fingerprints only
                self.leak("in the journal", label)
            elif token.encode() in raw:
                self.leak(ECHO, label)
            elif token in self.traffic.planted:
                stats.read_backs += 1
            else:
                self.leak("in a response to a request without it", label)
        return reply

    async def abort(self, raw: bytes) -> None:
        """Send the head and half the body, then hang up: a client that went away."""
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(self.args.timeout):
                _, writer = await asyncio.open_connection(HOST, self.server.port)
                writer.write(raw[: len(raw) // 2 + 1])
                await writer.drain()
                await asyncio.sleep(0.05)
                writer.transport.abort()
        self.stats.aborted += 1

    async def client(self, index: int, budget: list[int], deadline: float) -> None:
        conn = Connection(self.server.port)
        try:
            while budget[0] > 0 and time.monotonic() < deadline and not self.halt.is_set():
                budget[0] -= 1
                planned = self.traffic.next(index)
                reply = await self.send(conn, planned)
                if reply is not None and planned.label == "control POST /__mock/scenarios":
                    await self.unscript(conn, reply)
        finally:
            await conn.close()

    async def unscript(self, conn: Connection, reply: Reply) -> None:
        """A hostile rule the mock accepted would change every later answer: remove it."""
        rules = data_of(reply).get("rules")
        for rule in rules if isinstance(rules, list) else []:
            self.stats.accepted_rules += 1
            path = f"/__mock/scenarios?id={quote(str(rule))}"
            label = "control DELETE /__mock/scenarios (cleanup)"
            await self.send(conn, Planned(label, "DELETE", path))

    async def read_journal(self) -> None:
        conn, started = Connection(self.server.port), time.monotonic()
        planned = Planned("journal read (whole)", "GET", "/__mock/journal")
        planned.timeout = self.args.journal_timeout
        try:
            reply = await self.send(conn, planned)
        finally:
            await conn.close()
        stats = self.stats
        if reply is None or reply.status != 200:
            stats.journal_failed += 1
            return
        stats.journal_ok += 1
        stats.journal_largest = max(stats.journal_largest, len(reply.body))
        stats.journal_slowest = max(stats.journal_slowest, time.monotonic() - started)
        count = re.search(rb'"count":(\d+)', reply.body)
        stats.journal_entries = int(count.group(1)) if count else None

    async def phase(self, clients: int, requests: int, seconds: float, *, journal: bool) -> None:
        budget, deadline = [requests], time.monotonic() + seconds

        async def reader() -> None:
            every = self.args.journal_every
            while time.monotonic() + every < deadline and not self.halt.is_set():
                await asyncio.sleep(every)
                await self.read_journal()

        task = asyncio.create_task(reader()) if journal else None
        await asyncio.gather(*(self.client(i, budget, deadline) for i in range(clients)))
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if not self.halt.is_set():
            await self.read_journal()  # after the load: the last word on the journal


def scan_log(path: Path, traffic: Traffic) -> tuple[int, int, int, Counter[str], dict[str, str]]:
    """Leaked tokens, "Logging error"s, tracebacks, and the exceptions named, by type."""
    text = path.read_bytes()
    kinds: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for line in text.decode("utf-8", "replace").splitlines():
        found = re.match(r"([A-Za-z_][\w.]*(?:Error|Exception))\b", line)
        if found:
            kinds[found.group(1)] += 1
            examples.setdefault(found.group(1), line[:160])
    leaked = len(traffic.issued_in(text))
    return leaked, text.count(b"Logging error"), text.count(b"Traceback"), kinds, examples


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--seconds", type=float, help="length of the run (default 600; quick 20)")
    add("--requests", type=int, default=100_000, help="or stop after this many (default 100,000)")
    add("--clients", type=int, help="concurrent keep-alive clients (default 8; quick 4)")
    add("--seed", type=int, default=0, help="seed of the traffic's one RNG (default 0)")
    add(
        "--devices",
        type=int,
        default=DEVICES,
        help="X-Client-Ids of the device population the traffic comes from (default "
        f"%(default)s, each with at most {SESSIONS_PER_DEVICE} sessions); 0: a fresh client id "
        "for every token request, so users, tokens and sessions grow all run long",
    )
    add(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds a request may take; a timeout is a failure (10)",
    )
    add("--journal-every", type=float, help="seconds between whole-journal reads (15; quick 5)")
    add("--journal-timeout", type=float, default=60.0, help="for a whole-journal read (60)")
    add("--warmup", type=int, help="requests before the RSS at start is taken (500; quick 150)")
    add(
        "--rss-growth-mb",
        type=float,
        default=RSS_GROWTH_MB,
        help="RSS growth (end minus start) allowed (default %(default)g): the journal at its "
        "20,000-entry cap and the high-water mark of reading it whole (about 330 MB measured), "
        "with room to spare; see RSS_GROWTH_MB in the source",
    )
    add(
        "--tokens-per-ip",
        type=int,
        default=1_000_000,
        help="passed to the server (default %(default)s): at the mock's own default, 10 "
        "per 7 days, each anonymous token after the tenth is a 429; 10 soaks it as shipped",
    )
    add(
        "--allow-echo",
        action="store_true",
        help="do not fail on a token echoed back to the request that carried it (in a path, "
        "query or body, as in 'Session nmv_usr_… not found'); still listed",
    )
    add(
        "--include-clock-bombs",
        action="store_true",
        help="also POST /__mock/clock with NaN, Infinity, 1e400 and huge advances: they have "
        "bricked a shared mock's clock, after which every request may fail",
    )
    add("--quick", action="store_true", help="a smoke run: 20 s, 4 clients")
    add("--keep", action="store_true", help="keep the server log and data folder (kept on FAIL)")
    args = parser.parse_args()
    quick = args.quick
    args.seconds = args.seconds if args.seconds is not None else (20.0 if quick else 600.0)
    args.clients = args.clients or (4 if quick else 8)
    args.journal_every = args.journal_every or (5.0 if quick else 15.0)
    args.warmup = args.warmup if args.warmup is not None else (150 if quick else 500)
    return args


def main() -> int:
    args = parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    keep = True  # the log and data folder, unless the run passed
    server = start_server(folder, args.tokens_per_ip)
    try:
        traffic = Traffic(
            load_spec(),
            random.Random(args.seed),
            clock_bombs=args.include_clock_bombs,
            devices=args.devices,
        )
        soak = Soak(server, traffic, args)
        sampler = Sampler(server, soak.stats, soak.halt)
        # SIGTERM ends the load early (each request has its timeout) and still reports
        signal.signal(signal.SIGTERM, lambda *_: soak.halt.set())
        sampler.start()
        addresses = listening(server.process.pid)
        print(
            f"nemo-mock pid {server.process.pid}, listening on {', '.join(addresses)}; "
            f"{args.clients} clients, {args.seconds:g} s or {args.requests:,} requests, "
            f"seed {args.seed}",
            flush=True,
        )
        asyncio.run(soak.phase(2, args.warmup, 120, journal=False))  # ends with a journal read
        time.sleep(1.0)
        start = sample(server.process.pid) or (0, 0)
        held_start = held(server)
        warm = soak.stats.sent
        began = sampler.run_started = time.monotonic()
        asyncio.run(soak.phase(args.clients, args.requests, args.seconds, journal=True))
        elapsed = time.monotonic() - began
        time.sleep(2.0)
        end = sample(server.process.pid)
        held_end = held(server)
        sampler.stop.set()
        sampler.join(timeout=5)
        died = server.process.poll()
        server.stop()
        failed = report(
            args, soak, sampler, start, end, warm, elapsed, addresses, died, (held_start, held_end)
        )
        keep = failed or args.keep
        if keep:
            print(f"server log and data folder: {folder}")
        return 1 if failed else 0
    except KeyboardInterrupt:
        print(f"\ninterrupted; server log and data folder: {folder}")
        return 130
    finally:
        server.stop()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def report(
    args: argparse.Namespace,
    soak: Soak,
    sampler: Sampler,
    start: tuple[int, int],
    end: tuple[int, int] | None,
    warm: int,
    elapsed: float,
    addresses: list[str],
    died: int | None,
    state: tuple[dict[str, int], dict[str, int]],
) -> bool:
    """Print the table and the details; True when the run failed."""
    s, traffic, folder = soak.stats, soak.traffic, soak.server.folder
    log_leaks, log_errors, tracebacks, exceptions, examples = scan_log(
        folder / "server.log", traffic
    )
    data = list((folder / "data").rglob("*"))
    files = [p for p in data if p.is_file()]
    samples = [x for x in sampler.samples if x[0] >= (sampler.run_started or 0)]
    peak_rss = max([x[1] for x in samples] + [start[0]])
    peak_fds = max([x[2] for x in samples] + [start[1]])
    end_rss, end_fds = end or (samples[-1][1:] if samples else (0, 0))
    growth = (end_rss - start[0]) / 1024
    middle = (samples[0][0] + samples[-1][0]) / 2 if samples else 0.0
    half_rss = next((x[1] for x in samples if x[0] >= middle), end_rss)
    echoes = s.leaks[ECHO]
    leaks = s.leaks.total() + log_leaks - (echoes if args.allow_echo else 0)
    wide = [a for a in addresses if not a.startswith(("127.0.0.1:", "::1:"))]
    run = s.sent - warm
    allowed = " (allowed)" if args.allow_echo else ""
    leak_text = ", ".join(f"{n} {w}{allowed if w == ECHO else ''}" for w, n in s.leaks.items())
    leak_text += f"{', ' if leak_text else ''}{log_leaks} in the log" if log_leaks else ""
    entries = s.journal_entries if s.journal_entries is not None else "?"
    rows = [
        ("requests sent", f"{s.sent:,} ({warm:,} warm-up, then {run:,} in {elapsed:.0f} s; "
                          f"{s.aborted} abandoned half-way on purpose)"),
        ("req/s", f"{run / elapsed:.0f}"),
        ("status 2xx / 3xx / 4xx / 5xx", " / ".join(f"{s.classes[f'{c}xx']:,}" for c in "2345")),
        ("  of the 2xx: envelope code != 0", f"{s.refused:,}"),
        ("5xx", f"{s.fivexx.total():,}"),
        ("timeouts", f"{s.timeouts.total():,}"),
        ("connection errors", f"{s.conn_errors.total():,}"),
        ("RSS start / peak / end", f"{start[0] / 1024:.1f} / {peak_rss / 1024:.1f} / "
                                   f"{end_rss / 1024:.1f} MB ({growth:+.1f} MB; "
                                   f"{args.rss_growth_mb:g} allowed)"),
        ("RSS at half-time, end", f"{half_rss / 1024:.1f}, {end_rss / 1024:.1f} MB "
                                  f"({(end_rss - half_rss) / 1024:+.1f} MB in the second half, "
                                  "the journal full)"),
        ("state held start → end", ", ".join(
            f"{name} {state[0].get(name, '?'):,} → {state[1].get(name, '?'):,}"
            for name in ("users", "tokens", "sessions", "uploads", "renders", "journal_entries")
        ) + f", journal {state[0].get('journal_bytes', 0) / 2**20:.1f} → "
          f"{state[1].get('journal_bytes', 0) / 2**20:.1f} MiB"
          f" ({args.devices or 'no'} device population)"),
        ("fds start / peak / end", f"{start[1]} / {peak_fds} / {end_fds}"),
        ("journal", f"{entries} entries; whole reads: {s.journal_ok} ok, {s.journal_failed} "
                    f"failed; largest {s.journal_largest / 1e6:.1f} MB, slowest "
                    f"{s.journal_slowest:.1f} s"),
        ("tokens issued / token leak", f"{len(traffic.issued):,} / "
                                       f"{'YES: ' + leak_text if leak_text else 'no'}"),
        ("log: Logging error / Traceback", f"{log_errors} / {tracebacks}"),
        ("server", f"DIED (exit {died})" if died is not None else "alive at the end"
                   + ("; the run was cut short by SIGTERM" if soak.halt.is_set() else "")),
        ("listening", ", ".join(addresses) + (" (BEYOND LOOPBACK)" if wide else "")),
        ("data folder", f"{len(files)} files, {len(data) - len(files)} folders, "
                        f"{sum(p.stat().st_size for p in files) / 1e6:.1f} MB"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    print(f"\n{'':<{width}}  soak of nemo-mock, seed {args.seed}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")

    details = [
        ("5xx by request", s.fivexx, "5xx"), ("timeouts by request", s.timeouts, ""),
        ("connection errors by request", s.conn_errors, "conn"),
        ("token leaks by request", s.leaks_by_request, ""),
        ("normal traffic refused", s.normal_refused, ""),
    ]  # fmt: skip
    for title, counter, kind in details:
        if counter:
            print(f"\n{title}:")
            for key, n in counter.most_common(12):
                example = s.examples.get(f"{kind} {key}")
                print(f"  {n:>6}  {key}" + (f"\n          {example}" if example else ""))
    if exceptions:
        print("\nexceptions in the server log:")
        for name, n in exceptions.most_common(12):
            print(f"  {n:>6}  {examples[name]}")
    if s.read_backs:
        print(f"not leaks: {s.read_backs} read-backs of tokens the client itself got stored")
    if s.accepted_rules:
        print(f"note: the mock accepted {s.accepted_rules} hostile scenario rules (removed)")

    reasons = [
        ("5xx", s.fivexx.total()), ("timeouts", s.timeouts.total()), ("token leak", leaks),
        ("a traceback or Logging error in the log", tracebacks or log_errors),
        # an exception named without a traceback ("Exception ignored in: ...") is a bug too
        (f"exceptions in the log ({', '.join(exceptions)})", bool(exceptions)),
        ("the server died", died is not None), ("listening beyond loopback", wide),
        (f"RSS grew {growth:.0f} MB (> {args.rss_growth_mb:g})", growth > args.rss_growth_mb),
    ]  # fmt: skip
    failed = [reason for reason, bad in reasons if bad]
    print("\n" + ("FAIL: " + ", ".join(failed) if failed else "PASS"))
    return bool(failed)


if __name__ == "__main__":
    raise SystemExit(main())
