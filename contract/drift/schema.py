"""Each recorded exchange against openapi.yaml: request, response and every SSE event.

What counts as drift is what a client written from the contract would trip over: a field the
contract does not name (``unknown-field``), a required one missing (``missing-field``), a value
of another JSON type (``changed-type``), a value outside the contract's enum or const
(``changed-value``), any other broken rule (``constraint``), an HTTP status the operation does
not document (``undocumented-status``), a business code the contract does not list
(``undocumented-code``), a media type it does not document (``undocumented-media-type``), an
event that fits none of the event shapes (``unknown-event``), and a request the contract would
refuse (``request``). Values are judged by the schemas alone, never compared with the mock's:
ids, timestamps and tokens differ on every run and are never drift.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from jsonschema.exceptions import ValidationError, best_match

from mock_backend.errors import ApiError
from mock_backend.openapi.spec import Operation, Spec
from mock_backend.openapi.validation import check_parameters, media_type

__all__ = ["Drift", "check_exchange", "unknown_fields"]


@dataclass(frozen=True)
class Drift:
    kind: str
    operation: str  # operationId; "runSse event" for an event of a stream
    where: str  # what broke: "response.data.available", "status 418", "event.type"
    detail: str  # what the contract says and what came instead
    ref: str  # "sessions/ses_1.yaml #7"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.operation, self.where)


_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def _json_type(value: Any) -> str:
    return _TYPES.get(type(value), type(value).__name__)


def _path(prefix: str, error: ValidationError) -> str:
    parts = [prefix, *(str(p) for p in error.absolute_path)]
    if error.validator == "required":
        found = re.match(r"'(.+?)' is a required property", error.message)
        if found:
            parts.append(found.group(1))
    return ".".join(parts)


def _leaf(error: ValidationError) -> ValidationError:
    """The error that says what is wrong: inside a oneOf/anyOf, the branch the value came
    closest to (fewest errors, then the deepest: a float ``data.total`` is a success answer
    with one wrong field, not a business error whose ``code`` is wrong)."""
    while error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        closest = min(
            branches.values(),
            key=lambda found: (len(found), -max(len(e.absolute_path) for e in found)),
        )
        error = best_match(closest)
    return error


def _classify(prefix: str, error: ValidationError) -> tuple[str, str, str]:
    error = _leaf(error)
    where = _path(prefix, error)
    if error.validator == "required":
        return "missing-field", where, "the contract requires it"
    if error.validator == "type":
        return (
            "changed-type",
            where,
            f"the contract says {error.validator_value}, got {_json_type(error.instance)} "
            f"({json.dumps(error.instance)[:60]})",
        )
    if error.validator in ("enum", "const"):
        if where.endswith(".code") and isinstance(error.instance, int):
            return "undocumented-code", where, f"code {error.instance} is not one of this answer's"
        return "changed-value", where, f"{error.message[:160]}"
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        return "unknown-field", where, error.message[:160]
    return "constraint", where, f"{error.validator}: {error.message[:160]}"


def _merge(spec: Spec, schema: Any, value: Any, into: dict[str, Any]) -> None:
    """Gather the properties a (composed) schema names for ``value``, and whether it is open."""
    schema = spec.resolve(schema)
    if not isinstance(schema, dict):
        return
    if "properties" in schema:
        into["named"] = True
        for name, sub in schema["properties"].items():
            into["props"].setdefault(name, []).append(sub)
    extra = schema.get("additionalProperties")
    if extra not in (None, False) or "patternProperties" in schema:
        into["open"] = True
    for sub in schema.get("allOf", []):
        _merge(spec, sub, value, into)
    for word in ("oneOf", "anyOf"):
        branches = schema.get(word, [])
        fitting = [b for b in branches if spec.validator(spec.resolve(b)).is_valid(value)]
        for sub in fitting or branches:
            _merge(spec, sub, value, into)


def unknown_fields(spec: Spec, schema: Any, value: Any, where: str) -> Iterator[str]:
    """Locations of fields in ``value`` that ``schema`` never names (JSON Schema lets unnamed
    fields through unless told otherwise; a client written from the contract never reads them,
    which is what a new field in the backend's answers means)."""
    resolved = spec.resolve(schema)
    if not isinstance(resolved, dict):
        return
    if isinstance(value, dict):
        found: dict[str, Any] = {"props": {}, "named": False, "open": False}
        _merge(spec, resolved, value, found)
        for name, item in value.items():
            subs = found["props"].get(name)
            if subs:
                yield from unknown_fields(spec, {"allOf": subs}, item, f"{where}.{name}")
            elif found["named"] and not found["open"]:
                yield f"{where}.{name}"
    elif isinstance(value, list):
        items = [
            part["items"]
            for part in (resolved, *(spec.resolve(sub) for sub in resolved.get("allOf", [])))
            if isinstance(part, dict) and isinstance(part.get("items"), dict)
        ]
        if items:
            for index, item in enumerate(value):
                yield from unknown_fields(spec, {"allOf": items}, item, f"{where}.{index}")


def _schema_drift(
    spec: Spec, schema: dict[str, Any], value: Any, prefix: str
) -> Iterator[tuple[str, str, str]]:
    seen = set()
    for error in spec.validator(schema).iter_errors(value):
        found = _classify(prefix, error)
        seen.add(found[1])
        yield found
    for where in unknown_fields(spec, schema, value, prefix):
        if where not in seen:
            yield "unknown-field", where, "the contract does not name this field"


def _documented_codes(spec: Spec) -> set[int]:
    return {int(code) for code in spec.extension("info", "x-error-codes")}


def _request_drift(
    spec: Spec, op: Operation, request: dict[str, Any], params: dict[str, str]
) -> Iterator[tuple[str, str, str]]:
    query = dict(parse_qsl(str(request.get("query", "")), keep_blank_values=True))
    try:
        check_parameters(spec, op, dict(request.get("headers", {})), params, query)
    except ApiError as error:
        field = (error.data or {}).get("field", "request")
        yield "request", f"request.{field}", error.message[:200]
    body = (request.get("body") or {}).get("json")
    schema = op.body_schemas.get("application/json")
    if body is not None and schema is not None:
        for kind, where, detail in _schema_drift(spec, schema, body, "request.body"):
            yield "request", where, f"{kind}: {detail}"


def check_exchange(spec: Spec, exchange: dict[str, Any], ref: str) -> list[Drift]:
    """Every drift one recorded exchange shows (empty outside the contract: not an operation)."""
    found = spec.match(exchange["request"]["method"], exchange["request"]["path"])
    if found is None:
        return []
    op, params = found
    out = [
        Drift(kind, op.operation_id, where, detail, ref)
        for kind, where, detail in _request_drift(spec, op, exchange["request"], params)
    ]
    response = exchange.get("response") or {}
    status = str(response.get("status"))
    documented = {str(k): spec.resolve(v) for k, v in op.raw.get("responses", {}).items()}
    if status not in documented:
        out.append(
            Drift(
                "undocumented-status",
                op.operation_id,
                f"status {status}",
                f"the contract documents {', '.join(sorted(documented))}",
                ref,
            )
        )
        return out
    content = documented[status].get("content", {})
    kind = media_type(response.get("headers", {}).get("content-type"))
    body = response.get("body") or {}
    if kind is None and not body and "events" not in response:
        return out
    if kind not in content:
        if content:
            out.append(
                Drift(
                    "undocumented-media-type",
                    op.operation_id,
                    f"status {status} {kind}",
                    f"the contract documents {', '.join(content)}",
                    ref,
                )
            )
        return out
    if "json" in body:
        value = body["json"]
        code = value.get("code") if isinstance(value, dict) else None
        if isinstance(code, int) and code not in _documented_codes(spec):
            detail = f"code {code} ({str(value.get('message', ''))[:80]!r}) is not in the contract"
            out.append(Drift("undocumented-code", op.operation_id, "response.code", detail, ref))
            return out
        schema = content[kind].get("schema", {})
        out += [
            Drift(k, op.operation_id, where, detail, ref)
            for k, where, detail in _schema_drift(spec, schema, value, "response")
        ]
    for index, event in enumerate(response.get("events", [])):
        out += _event_drift(spec, event, f"{ref} event {index}")
    return out


def _event_drift(spec: Spec, event: dict[str, Any], ref: str) -> list[Drift]:
    """One event's data against the contract's event shapes (an empty ``data:`` is a beat)."""
    data = str(event.get("data", ""))
    if not data.strip():
        return []
    op = "runSse event"
    try:
        value = json.loads(data)
    except ValueError:
        return [Drift("unknown-event", op, "event", f"not JSON: {data[:80]!r}", ref)]
    shapes = spec.resolve(spec.document["components"]["schemas"]["StreamEvent"])["oneOf"]
    candidates = []
    for shape in shapes:
        resolved = spec.resolve(shape)
        required = resolved.get("required", [])
        if isinstance(value, dict) and all(name in value for name in required):
            kind = resolved.get("properties", {}).get("type")
            if kind is None or spec.validator(kind).is_valid(value.get("type")):
                candidates.append(resolved)
    if not candidates:
        shown = value.get("type") if isinstance(value, dict) and "type" in value else None
        where = f"event.type {shown}" if shown is not None else "event"
        return [Drift("unknown-event", op, where, f"fits no event shape: {data[:80]}", ref)]
    best: list[Drift] | None = None
    for shape in candidates:
        drifts = [
            Drift(k, op, where, detail, ref)
            for k, where, detail in _schema_drift(spec, shape, value, "event")
        ]
        if best is None or len(drifts) < len(best):
            best = drifts
    return best or []
