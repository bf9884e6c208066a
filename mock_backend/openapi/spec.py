"""The contract, loaded once: operations, their parameters, schemas and extension fields.

Everything the mock validates or derives (routes, request rules, error codes of parameters,
scopes, the SSE event schema) comes from `openapi.yaml` through this module.

Start-up pays for neither PyYAML nor jsonschema: the parsed document is kept as JSON in a cache
keyed by the file's SHA-256 (`load_spec`), and validators are compiled on their first use, each
once (`Spec.validator`). A changed openapi.yaml is a new key: the cache can never serve a stale
contract.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ContractError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator
    from referencing import Registry

__all__ = ["Operation", "Parameter", "Spec", "load_spec", "spec_path"]

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def spec_path() -> Path:
    """openapi.yaml: the packaged copy (a symlink to the repository root in a checkout)."""
    return Path(__file__).parents[1] / "openapi.yaml"


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # header | path | query
    required: bool
    schema: dict[str, Any]
    error_code: int  # envelope code when this parameter breaks its rule (x-error-code, else 422)

    @cached_property
    def key(self) -> str:
        """How the parameter is looked up: ASGI header names are lower-case."""
        return self.name.lower() if self.location == "header" else self.name

    @cached_property
    def where(self) -> str:
        return f"{self.location}.{self.name}"


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    raw: dict[str, Any]
    parameters: tuple[Parameter, ...]
    secured: bool
    scope: str | None
    body_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)  # media type → schema
    body_required: bool = False


class Spec:
    def __init__(self, document: dict[str, Any], path: Path | None = None) -> None:
        self.document = document
        self.path = path
        self._validators: dict[int, tuple[dict[str, Any], Validator]] = {}  # by id(schema)
        self._by_content: dict[str, Validator] = {}
        self._value_errors: dict[tuple[int, str], list[ValidationError]] = {}
        self.operations: dict[str, Operation] = {}
        for route, item in document.get("paths", {}).items():
            shared = item.get("parameters", [])
            for method in HTTP_METHODS:
                if method not in item:
                    continue
                raw = item[method]
                op_id = raw.get("operationId")
                if not op_id:
                    raise ContractError(f"{method.upper()} {route} has no operationId")
                if op_id in self.operations:
                    raise ContractError(f"operationId {op_id} is used twice")
                self.operations[op_id] = self._operation(op_id, method, route, raw, shared)

    def _operation(
        self, op_id: str, method: str, route: str, raw: dict[str, Any], shared: list[Any]
    ) -> Operation:
        params = []
        for entry in [*shared, *raw.get("parameters", [])]:
            p = self.resolve(entry)
            params.append(
                Parameter(
                    name=p["name"],
                    location=p["in"],
                    required=bool(p.get("required", p["in"] == "path")),
                    schema=p.get("schema", {}),
                    error_code=int(p.get("x-error-code", 422)),
                )
            )
        security = raw.get("security", self.document.get("security", []))
        body = raw.get("requestBody")
        body_schemas: dict[str, dict[str, Any]] = {}
        body_required = False
        if body:
            body = self.resolve(body)
            body_required = bool(body.get("required", False))
            for media, content in body.get("content", {}).items():
                body_schemas[media] = content.get("schema", {})
        return Operation(
            operation_id=op_id,
            method=method.upper(),
            path=route,
            raw=raw,
            parameters=tuple(params),
            secured=bool(security) and any(bool(s) for s in security),
            scope=raw.get("x-scope"),
            body_schemas=body_schemas,
            body_required=body_required,
        )

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation a request is for, and its path parameters; None outside the contract."""
        for operation, pattern in self._patterns:
            if operation.method == method.upper():
                found = pattern.match(path)
                if found:
                    return operation, found.groupdict()
        return None

    @cached_property
    def _patterns(self) -> list[tuple[Operation, re.Pattern[str]]]:
        # literal paths first: /lambda/{id} must not take /lambda/{id}/cancel's requests
        def regex(template: str) -> re.Pattern[str]:
            parts = re.split(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", template)
            body = "".join(
                re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)"
                for i, part in enumerate(parts)
            )
            return re.compile(f"^{body}$")

        ordered = sorted(self.operations.values(), key=lambda op: op.path.count("{"))
        return [(op, regex(op.path)) for op in ordered]

    def resolve(self, node: Any) -> Any:
        """Follow a local ``$ref`` (one level, repeatedly) to the node it names."""
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ContractError(f"only local references are supported, got {ref}")
            target: Any = self.document
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    @cached_property
    def _registry(self) -> Registry[Any]:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        registry: Registry[Any] = Registry().with_resource(
            "urn:nemo:openapi",
            Resource.from_contents(self.document, default_specification=DRAFT202012),
        )
        return registry

    def validator(self, schema: dict[str, Any]) -> Validator:
        """A validator whose ``$ref``s resolve inside the whole document: compiled on first use,
        then found by the schema object's identity (the contract's schemas live as long as the
        spec; the object is kept beside it, so its id is never another's)."""
        found = self._validators.get(id(schema))
        if found is not None and found[0] is schema:
            return found[1]
        made = self._compiled(schema)
        if len(self._validators) > 4096:  # schemas made per call ({"$ref": ...}): bounded
            self._validators.clear()
        self._validators[id(schema)] = (schema, made)
        return made

    def _compiled(self, schema: dict[str, Any]) -> Validator:
        # equal schemas (a parameter repeated on many operations) share one validator
        content = json.dumps(schema, sort_keys=True)
        found = self._by_content.get(content)
        if found is None:
            from jsonschema import Draft202012Validator
            from jsonschema.validators import validator_for

            rooted = _rebase_refs(schema)
            cls = validator_for(rooted, default=Draft202012Validator)
            found = cls(rooted, registry=self._registry, format_checker=cls.FORMAT_CHECKER)
            self._by_content[content] = found
        return found

    def value_errors(self, schema: dict[str, Any], value: str) -> list[ValidationError]:
        """A parameter value's violations, memoised: clients send the same headers every call."""
        key = (id(schema), value)
        found = self._value_errors.get(key)
        if found is None:
            if len(self._value_errors) > 4096:
                self._value_errors.clear()
            found = sorted(self.validator(schema).iter_errors(value), key=lambda e: list(e.path))
            self._value_errors[key] = found
        return found

    def schema(self, name: str) -> dict[str, Any]:
        return copy.deepcopy(self.document["components"]["schemas"][name])

    def schema_validator(self, name: str) -> Validator:
        return self.validator({"$ref": f"#/components/schemas/{name}"})

    def extension(self, *keys: str) -> Any:
        node: Any = self.document
        for key in keys:
            node = node[key]
        return node


def _rebase_refs(node: Any) -> Any:
    """Point ``#/...`` references at the registered document."""
    if isinstance(node, dict):
        return {
            k: ("urn:nemo:openapi" + v if k == "$ref" and v.startswith("#/") else _rebase_refs(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rebase_refs(v) for v in node]
    return node


@cache
def load_spec(path: Path | None = None) -> Spec:
    """Load and index the contract (cached: the file is read once per process)."""
    target = path or spec_path()
    try:
        raw = target.read_bytes()
    except FileNotFoundError:
        raise ContractError(f"contract not found at {target}") from None
    return Spec(_parsed(raw), target)


def _parsed(raw: bytes) -> dict[str, Any]:
    """The YAML document ``raw``, from the JSON cache when this content was parsed before."""
    cached = _cache_dir() / f"openapi-{hashlib.sha256(raw).hexdigest()[:32]}.json"
    try:
        document: dict[str, Any] = json.loads(cached.read_bytes())
        return document
    except (OSError, ValueError):
        pass
    import yaml

    # libyaml's safe loader when PyYAML has it: 5x faster than the pure-Python one
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document = yaml.load(raw.decode("utf-8"), Loader=loader)
    try:
        text = json.dumps(document)
        if json.loads(text) != document:  # a key JSON would change (an int, a date): no cache
            return document
        cached.parent.mkdir(parents=True, exist_ok=True)
        # written whole, then renamed: a reader never sees half a file
        with tempfile.NamedTemporaryFile("w", dir=cached.parent, delete=False) as out:
            out.write(text)
        os.replace(out.name, cached)
    except (OSError, TypeError, ValueError):  # a read-only home, or a value JSON cannot hold
        pass
    return document


def _cache_dir() -> Path:
    """$NEMO_CACHE_DIR, else $XDG_CACHE_HOME/nemo-contract, else ~/.cache/nemo-contract."""
    if os.environ.get("NEMO_CACHE_DIR"):
        return Path(os.environ["NEMO_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nemo-contract"
