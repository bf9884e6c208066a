"""Hypothesis strategies for the backend's answers, derived from openapi.yaml, and the checks
every run of the command line must pass.

Nothing here spells out a response shape: each documented (operation, status, media type) of the
contract is a `ResponseVariant`, and its values come from the schema the contract gives it,
turned into a strategy by schemathesis' JSON Schema generator (the one it fuzzes requests
with). ``hypothesis-jsonschema`` is not a dependency of this project; schemathesis' generator
lives in ``schemathesis.generation.jsonschema`` (4.x, pinned below 5 in pyproject.toml).

An SSE stream is built the same way: one `SseMessage` per event, its ``data`` drawn from the
``contentSchema`` the contract attaches to it (`StreamEvent`: ADK, heartbeat, run error, legacy).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import httpx
import jsonschema_rs
from hypothesis import strategies as st
from schemathesis.generation.jsonschema.builder import build
from schemathesis.specs.openapi.formats import get_default_format_strategies

from clients_under_test.reference.errors import ExitCode
from mock_backend.openapi.spec import Spec, load_spec

__all__ = [
    "EVENT_STREAM",
    "JSON",
    "Answer",
    "ResponseVariant",
    "answers",
    "assert_sound_run",
    "encode_sse",
    "json_values",
    "response_variants",
    "sse_messages",
]

JSON = "application/json"
EVENT_STREAM = "text/event-stream"
# Framing headers are the transport's business, not a value a body can be fuzzed with.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "content-type"})


def _spec() -> Spec:
    return load_spec()


def _inline(node: Any, spec: Spec, trail: tuple[str, ...] = ()) -> Any:
    """The schema with every local ``$ref`` replaced by what it names (the contract has no
    recursive schema; one would be reported rather than looped on)."""
    if isinstance(node, list):
        return [_inline(item, spec, trail) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in trail:
            raise ValueError(f"recursive schema through {ref}; these strategies cannot inline it")
        target = _inline(spec.resolve({"$ref": ref}), spec, (*trail, ref))
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return {"allOf": [target, _inline(siblings, spec, trail)]} if siblings else target
    return {key: _inline(value, spec, trail) for key, value in node.items()}


@cache
def _json_values(frozen: str, whole_floats: bool) -> st.SearchStrategy[Any]:
    schema = _inline(json.loads(frozen), _spec())
    return build(
        schema,
        draft=jsonschema_rs.Draft202012,
        formats=get_default_format_strategies(),
        whole_floats=whole_floats,
    )


def json_values(schema: dict[str, Any], *, whole_floats: bool = True) -> st.SearchStrategy[Any]:
    """Values the contract's schema admits (``$ref``s resolved inside openapi.yaml).

    ``whole_floats`` as schemathesis sets it for JSON bodies: an integer may arrive as ``2.0``."""
    return _json_values(json.dumps(schema, sort_keys=True), whole_floats)


@dataclass(frozen=True)
class ResponseVariant:
    """One documented answer of an operation: a status, a media type and their schema."""

    operation_id: str
    status: int
    media_type: str
    schema: dict[str, Any]
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → schema

    @property
    def id(self) -> str:
        return f"{self.operation_id}-{self.status}-{self.media_type}"


def response_variants(operation_id: str) -> list[ResponseVariant]:
    """Every (status, media type) the contract documents for the operation, in its order."""
    spec = _spec()
    variants = []
    for status, raw in spec.operations[operation_id].raw["responses"].items():
        response = spec.resolve(raw)
        headers = {
            name: spec.resolve(header).get("schema", {})
            for name, header in response.get("headers", {}).items()
            if name.lower() not in _FRAMING_HEADERS
        }
        for media_type, content in response.get("content", {}).items():
            variants.append(
                ResponseVariant(
                    operation_id, int(status), media_type, content.get("schema", {}), headers
                )
            )
    return variants


@dataclass(frozen=True)
class Answer:
    """A drawn answer; `response()` makes a fresh `httpx.Response` of it for every call."""

    status: int
    media_type: str
    body: Any  # a JSON value, the text of a file, or a list of SSE messages
    headers: tuple[tuple[str, str], ...] = ()

    def content(self) -> bytes:
        if self.media_type == EVENT_STREAM:
            return b"".join(encode_sse(message) for message in self.body)
        if self.media_type == JSON:
            return json.dumps(self.body, ensure_ascii=False).encode()
        return str(self.body).encode()

    def response(self, request: httpx.Request | None = None) -> httpx.Response:
        headers = [("content-type", self.media_type), *self.headers]
        return httpx.Response(self.status, headers=headers, content=self.content())

    def json_data(self) -> Any:
        """The envelope's ``data`` (None unless a JSON object carries one)."""
        return self.body.get("data") if isinstance(self.body, dict) else None


def _header_values(variant: ResponseVariant) -> st.SearchStrategy[tuple[tuple[str, str], ...]]:
    names = sorted(variant.headers)
    values = [json_values(variant.headers[name], whole_floats=False) for name in names]
    return st.tuples(*values).map(
        lambda drawn: tuple(
            (name, _header_text(value)) for name, value in zip(names, drawn, strict=True)
        )
    )


def _header_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return "".join(ch for ch in text if " " <= ch <= "~").strip()  # what a header can carry


def answers(variant: ResponseVariant) -> st.SearchStrategy[Answer]:
    """Answers of one documented variant: JSON bodies, files (the schema's string as the bytes),
    or event streams (a list of `sse_messages`)."""
    if variant.media_type == EVENT_STREAM:
        body: st.SearchStrategy[Any] = st.lists(sse_messages(), max_size=8)
    else:
        body = json_values(variant.schema, whole_floats=variant.media_type == JSON)
    return st.builds(
        Answer, st.just(variant.status), st.just(variant.media_type), body, _header_values(variant)
    )


# -- Server-Sent Events ---------------------------------------------------------------------


def _data_values(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    """The ``data`` of an `SseMessage`: JSON text of the ``contentSchema`` where the contract
    gives one (schemathesis treats it as an annotation), else the schema's own strings."""
    schema = _inline(schema, _spec())
    if "anyOf" in schema or "oneOf" in schema:
        return st.one_of(
            [_data_values(option) for option in schema.get("anyOf", schema.get("oneOf"))]
        )
    if "contentSchema" in schema and "json" in schema.get("contentMediaType", ""):
        return json_values(schema["contentSchema"]).map(
            lambda value: json.dumps(value, ensure_ascii=False)
        )
    return json_values(schema, whole_floats=False)


@cache
def sse_messages() -> st.SearchStrategy[dict[str, Any]]:
    """One parsed event of ``/run_sse`` as the contract's `SseMessage` describes it."""
    schema = _inline(_spec().schema("SseMessage"), _spec())
    data_schema = schema["properties"].pop("data")
    schema["required"] = [name for name in schema.get("required", []) if name != "data"]
    return st.builds(
        lambda fields, data: {**fields, "data": data},
        json_values(schema, whole_floats=False),
        _data_values(data_schema),
    )


def encode_sse(message: dict[str, Any]) -> bytes:
    """One event on the wire. A field value is one line, so line breaks in ``event`` or ``id``
    (which no server can send) are dropped; ``data`` is split over ``data:`` lines."""
    lines = []
    for name in ("event", "id"):
        value = message.get(name)
        if isinstance(value, str):
            lines.append(f"{name}: " + re.sub(r"[\r\n]", "", value))
    if isinstance(message.get("retry"), int) and not isinstance(message.get("retry"), bool):
        lines.append(f"retry: {message['retry']}")
    lines.extend(f"data: {line}" for line in str(message.get("data", "")).split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


# -- what every run of the command line must show -------------------------------------------

# A failure message says what to do next: one of these verbs (or a link to act on).
_ACTION = re.compile(
    r"\b(try|check|run|set|unset|register|upgrade|top up|upload|compress|trim|use|wait|send|"
    r"describe|start|simplify|report|supported formats)\b|https?://",
    re.IGNORECASE,
)
_CREDITS = re.compile(
    r"Credits: (\S+) available \((\S+) reserved for work in progress, (\S+) total\)"
)
_TOKEN_SHAPE = re.compile(r"nmv_usr_[A-Za-z0-9]{6,}")
_KNOWN_EXITS = {code.value for code in ExitCode}


def assert_sound_run(
    argv: list[str], code: object, out: str, err: str, tokens: set[str] | frozenset[str]
) -> None:
    """The promises of the command line, whatever the backend answered:

    - it returns a known exit code, never a traceback or the "Internal error" of a crash;
    - a non-zero exit ends with an ``Error:`` line on stderr that says what to do;
    - no API token appears in stdout or stderr;
    - a credit balance is never shown negative.
    """
    shown = f"$ nemo-client {' '.join(argv)}\n-- exit {code}\n-- stdout:\n{out}\n-- stderr:\n{err}"
    assert isinstance(code, int), shown
    assert not isinstance(code, bool), shown
    assert code in _KNOWN_EXITS, shown
    both = out + err
    assert "Traceback" not in both, shown
    assert "Internal error" not in both, shown  # the CLI's catch-all: a crash in disguise
    if code != 0:
        # split on newlines only: str.splitlines also splits on control characters a server's
        # message may carry
        errors = [line for line in err.split("\n") if line.startswith("Error: ")]
        assert errors, f"non-zero exit without an Error: line\n{shown}"
        message = errors[-1].removeprefix("Error: ").strip()
        assert len(message) >= 20, f"not actionable\n{shown}"
        assert _ACTION.search(message), f"not actionable\n{shown}"
    leaked = [token for token in tokens if token and token in both]
    assert not leaked, f"a token was printed\n{shown}"
    assert not _TOKEN_SHAPE.search(both), f"something shaped like a token was printed\n{shown}"
    for match in _CREDITS.finditer(out):
        for number in match.groups():
            assert not number.startswith("-"), shown
            assert float(number) >= 0, shown
