"""Checking a request against its operation in the contract.

A violation becomes an `ApiError` whose code comes from the contract (a parameter's
``x-error-code``, else 422) and whose message names the field and the rule it broke, so the
journal can explain near-misses and a client developer sees what to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from . import json_text
from .json_text import JsonRejected
from .spec import Operation, Spec

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

__all__ = [
    "CLIENT_ID_REQUIRED",
    "ValidatedRequest",
    "body_error",
    "check_body",
    "check_parameters",
    "media_type",
]

# also the default words of a scripted 400 (control.effects)
CLIENT_ID_REQUIRED = (
    "X-Client-Id header is required: a UUID you generate once and keep (at most 64 chars)"
)


@dataclass
class ValidatedRequest:
    headers: dict[str, str] = field(default_factory=dict)
    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    media_type: str | None = None


def media_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _short(error: ValidationError) -> str:
    # a schema may say in its own words what breaking it means (openapi.yaml's x-message)
    stated = error.schema.get("x-message") if isinstance(error.schema, dict) else None
    text = stated if isinstance(stated, str) else error.message
    if len(text) > 160:
        text = text[:157] + "..."
    return text


def _location(prefix: str, error: ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        found = re.match(r"'(.+?)' is a required property", error.message)
        if found:
            parts.append(found.group(1))
    return ".".join([prefix, *parts]) if parts else prefix


def body_error(prefix: str, error: ValidationError) -> ApiError:
    where = _location(prefix, error)
    return ApiError(
        422, f"{where}: {_short(error)}", data={"field": where, "rule": str(error.validator)}
    )


def check_parameters(
    spec: Spec,
    operation: Operation,
    headers: dict[str, str],
    path: dict[str, str],
    query: dict[str, str],
) -> ValidatedRequest:
    """Headers, path and query against the operation's parameters."""
    out = ValidatedRequest()
    if not operation.parameters:
        return out
    sources = {"header": headers, "path": path, "query": query}
    targets = {"header": out.headers, "path": out.path, "query": out.query}
    for param in operation.parameters:
        values = sources.get(param.location, {})
        value = values.get(param.key)
        if value is None:
            if param.required:
                raise ApiError(
                    param.error_code,
                    _missing_message(param.name, param.location, param.error_code),
                    data={"field": param.where, "rule": "required"},
                )
            continue
        errors = spec.value_errors(param.schema, value)
        if errors:
            where = param.where
            raise ApiError(
                param.error_code,
                f"{where}: {_short(errors[0])}",
                data={"field": where, "rule": str(errors[0].validator)},
            )
        targets[param.location][param.name] = value
    return out


def _missing_message(name: str, location: str, code: int) -> str:
    if name == "X-Client-Id":
        return CLIENT_ID_REQUIRED
    if code == 402:
        return (
            f"Export needs the attribution headers X-Skill-Source, X-Skill-Version and "
            f"X-Skill-Platform; missing: {name}"
        )
    if name == "Accept":
        return "run_sse answers text/event-stream: send Accept: text/event-stream"
    return f"{location}.{name}: required {location} parameter is missing"


def check_body(
    spec: Spec,
    operation: Operation,
    content_type: str | None,
    raw: bytes,
    *,
    max_depth: int = json_text.MAX_DEPTH,
) -> Any:
    """Parse and validate a JSON body; returns the parsed value (None when there is none)."""
    if not operation.body_schemas:
        return None
    kind = media_type(content_type)
    if not raw and kind is None:
        if operation.body_required:
            raise ApiError(
                422, "body: a JSON body is required", data={"field": "body", "rule": "required"}
            )
        return None
    if kind != "application/json" or kind not in operation.body_schemas:
        accepted = ", ".join(operation.body_schemas)
        raise ApiError(
            422,
            f"header.Content-Type: {content_type or 'none'} is not accepted here; send {accepted}",
            data={"field": "header.Content-Type", "rule": "content-type"},
        )
    try:
        body = json_text.loads(raw, max_depth=max_depth)
    except JsonRejected as exc:
        raise ApiError(422, f"body: {exc}", data={"field": "body", "rule": "json"}) from None
    errors = sorted(
        spec.validator(operation.body_schemas[kind]).iter_errors(body),
        key=lambda e: (len(list(e.absolute_path)), str(e.message)),
    )
    if errors:
        raise body_error("body", errors[0])
    return body
