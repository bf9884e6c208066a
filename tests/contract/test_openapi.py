"""The contract stays honest: valid OpenAPI 3.1, traceable, self-consistent examples."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from mock_backend.openapi.spec import Spec, load_spec, spec_path

ROOT = Path(__file__).resolve().parents[2]
API_NOTES = ROOT.parent / "shared" / "API-NOTES.md"

# The endpoint table of API-NOTES, row by row (method, path with the placeholders named).
DOCUMENTED_ENDPOINTS = {
    ("POST", "/api/auth/anonymous-token"),
    ("POST", "/api/auth/claim-token"),
    ("POST", "/api/tasks/me/with-session/nemo_agent"),
    ("POST", "/run_sse"),
    ("POST", "/api/upload-video/nemo_agent/me/{session_id}"),
    ("GET", "/api/credits/balance/simple"),
    ("GET", "/api/state/nemo_agent/me/{session_id}/latest"),
    ("POST", "/api/render/proxy/lambda"),
    ("GET", "/api/render/proxy/lambda/{render_id}"),
    ("GET", "/api/render/proxy/{render_id}/download"),
    ("POST", "/api/render/proxy/lambda/{render_id}/cancel"),
}
DOCUMENTED_CODES = {1001, 1002, 2001, 4001, 4002, 400, 402, 429}
SOURCES = {"seed", "v1.9", "early", "ref", "adk"}


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec()


def test_validates_as_openapi_3_1() -> None:
    document, _ = read_from_filename(str(spec_path()))
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_operation_ids_are_unique() -> None:
    ids = re.findall(r"^      operationId: (\w+)$", spec_path().read_text(), flags=re.M)
    duplicates = [name for name, n in Counter(ids).items() if n > 1]
    assert not duplicates, f"operationIds used more than once: {duplicates}"
    assert len(ids) == len(DOCUMENTED_ENDPOINTS)


def test_every_documented_endpoint_is_an_operation(spec: Spec) -> None:
    present = {(op.method, op.path) for op in spec.operations.values()}
    assert present == DOCUMENTED_ENDPOINTS, (
        f"missing: {DOCUMENTED_ENDPOINTS - present}; extra: {present - DOCUMENTED_ENDPOINTS}"
    )


def test_api_notes_endpoint_table_is_the_contracts() -> None:
    if not API_NOTES.exists():
        pytest.skip(f"{API_NOTES} is not beside this checkout")
    rows = re.findall(r"^\| [^|]+ \| (GET|POST) `([^`]+)`", API_NOTES.read_text(), flags=re.M)

    def shape(path: str) -> str:
        return re.sub(r"<\w+>|\{\w+\}", "{}", path)

    documented = {(method, shape(path)) for method, path in rows}
    assert documented == {(method, shape(path)) for method, path in DOCUMENTED_ENDPOINTS}


def _codes_answered(spec: Spec, raw: dict[str, Any]) -> set[int]:
    codes: set[int] = set()
    for status, response in raw["responses"].items():
        codes.add(int(status))
        for content in spec.resolve(response).get("content", {}).values():
            examples = [spec.resolve(e).get("value") for e in content.get("examples", {}).values()]
            examples.append(content.get("example"))
            codes |= {e["code"] for e in examples if isinstance(e, dict) and "code" in e}
    return codes


def test_every_documented_error_code_appears_on_an_operation(spec: Spec) -> None:
    answered: set[int] = set()
    for op in spec.operations.values():
        answered |= _codes_answered(spec, op.raw)
    assert answered >= DOCUMENTED_CODES, (
        f"codes no operation answers: {DOCUMENTED_CODES - answered}"
    )


@pytest.mark.parametrize(
    ("operation_id", "codes"),
    [
        ("createAnonymousToken", {400, 429}),
        ("uploadFiles", {1001, 1002, 4001, 4002}),
        ("runSse", {1001, 1002, 2001}),
        ("submitRender", {402, 1002}),
        ("getSessionState", {1001, 1002}),
        ("getCredits", {1001}),
    ],
)
def test_operations_answer_the_codes_the_documents_give_them(
    spec: Spec, operation_id: str, codes: set[int]
) -> None:
    answered = _codes_answered(spec, spec.operations[operation_id].raw)
    assert codes <= answered, f"{operation_id} does not document {codes - answered}"


def _examples(spec: Spec) -> list[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example value) for every example of every operation."""
    found: list[tuple[str, dict[str, Any], Any]] = []
    for op in spec.operations.values():
        body = op.raw.get("requestBody")
        contents: list[tuple[str, dict[str, Any]]] = []
        if body:
            contents += [(f"{op.operation_id} request {m}", c) for m, c in body["content"].items()]
        for status, response in op.raw["responses"].items():
            for media, content in spec.resolve(response).get("content", {}).items():
                contents.append((f"{op.operation_id} {status} {media}", content))
        for where, content in contents:
            schema = content.get("schema", {})
            if "example" in content:
                found.append((where, schema, content["example"]))
            for name, example in content.get("examples", {}).items():
                found.append((f"{where} example {name}", schema, spec.resolve(example)["value"]))
        for raw_param in op.raw.get("parameters", []):
            p = spec.resolve(raw_param)
            if "example" in p:
                found.append(
                    (f"{op.operation_id} parameter {p['name']}", p["schema"], p["example"])
                )
    return found


def test_there_are_examples_for_every_operation(spec: Spec) -> None:
    where = {w.split()[0] for w, _, _ in _examples(spec)}
    assert where == set(spec.operations), (
        f"operations without examples: {set(spec.operations) - where}"
    )


EXAMPLES = _examples(load_spec())


@pytest.mark.parametrize(("where", "schema", "value"), EXAMPLES, ids=[w for w, _, _ in EXAMPLES])
def test_every_example_validates_against_its_own_schema(
    spec: Spec, where: str, schema: dict[str, Any], value: Any
) -> None:
    errors = sorted(spec.validator(schema).iter_errors(value), key=str)
    assert not errors, f"{where}: {errors[0].message} at {list(errors[0].absolute_path)}"


def test_every_operation_is_traceable(spec: Spec) -> None:
    untraced = [
        op.operation_id
        for op in spec.operations.values()
        if "x-source" not in op.raw and "x-assumed" not in op.raw
    ]
    assert not untraced, f"operations without x-source or x-assumed: {untraced}"


def _walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    out = [(path, node)]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _walk(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _walk(v, f"{path}/{i}")
    return out


def test_sources_are_the_named_documents(spec: Spec) -> None:
    bad = []
    for where, node in _walk(spec.document):
        if isinstance(node, dict) and "x-source" in node:
            values = node["x-source"] if isinstance(node["x-source"], list) else [node["x-source"]]
            bad += [(where, v) for v in values if v not in SOURCES]
        if isinstance(node, dict) and "x-assumed" in node:
            reason = node["x-assumed"]
            if not (isinstance(reason, str) and len(reason) > 10):
                bad.append((where, f"x-assumed needs a reason, got {reason!r}"))
    assert not bad, bad


def test_links_name_real_operations_and_parameters(spec: Spec) -> None:
    problems = []
    for op in spec.operations.values():
        for status, response in op.raw["responses"].items():
            for name, link in spec.resolve(response).get("links", {}).items():
                target = spec.operations.get(link["operationId"])
                if target is None:
                    problems.append(
                        f"{op.operation_id} {status} link {name}: no {link['operationId']}"
                    )
                    continue
                params = {p.name for p in target.parameters}
                problems += [
                    f"{op.operation_id} link {name}: {target.operation_id} has no parameter {p}"
                    for p in link.get("parameters", {})
                    if p not in params
                ]
    assert not problems, problems


def test_links_walk_from_token_to_render_poll(spec: Spec) -> None:
    graph: dict[str, set[str]] = {}
    for op in spec.operations.values():
        for response in op.raw["responses"].values():
            for link in spec.resolve(response).get("links", {}).values():
                graph.setdefault(op.operation_id, set()).add(link["operationId"])
    reachable, frontier = set(), ["createAnonymousToken"]
    while frontier:
        node = frontier.pop()
        if node not in reachable:
            reachable.add(node)
            frontier += sorted(graph.get(node, ()))
    for needed in (
        "createSession",
        "uploadFiles",
        "getSessionState",
        "runSse",
        "submitRender",
        "getRender",
        "downloadRender",
        "cancelRender",
        "createClaimToken",
    ):
        assert needed in reachable, f"no chain of links reaches {needed} from the token"


def test_attribution_headers_required_exactly_on_export(spec: Spec) -> None:
    for op in spec.operations.values():
        required = {p.name for p in op.parameters if p.location == "header" and p.required}
        attribution = {"X-Skill-Source", "X-Skill-Version", "X-Skill-Platform"}
        if op.operation_id == "submitRender":
            assert attribution <= required
            assert all(p.error_code == 402 for p in op.parameters if p.name in attribution)
        else:
            assert not attribution & required, f"{op.operation_id} requires attribution"


def test_client_id_is_required_on_the_token_call_and_answers_400(spec: Spec) -> None:
    (client_id,) = [
        p for p in spec.operations["createAnonymousToken"].parameters if p.name == "X-Client-Id"
    ]
    assert client_id.required
    assert client_id.error_code == 400
    assert client_id.schema["maxLength"] == 64


def test_sse_response_describes_one_parsed_event(spec: Spec) -> None:
    content = spec.operations["runSse"].raw["responses"]["200"]["content"]["text/event-stream"]
    event_schema = spec.resolve(content["schema"])
    data = event_schema["properties"]["data"]["anyOf"][1]
    assert data["contentMediaType"] == "application/json"
    kinds = spec.resolve(data["contentSchema"])["oneOf"]
    assert {k["$ref"].rsplit("/", 1)[1] for k in kinds} >= {
        "AgentEvent",
        "HeartbeatEvent",
        "RunErrorEvent",
        "LegacyEvent",
    }


def test_spec_file_is_plain_yaml_without_duplicate_keys() -> None:
    class Strict(yaml.SafeLoader):
        pass

    def no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        keys = [loader.construct_object(k) for k, _ in node.value]
        dupes = [k for k, n in Counter(keys).items() if n > 1]
        assert not dupes, f"duplicate keys {dupes} at line {node.start_mark.line + 1}"
        return loader.construct_mapping(node)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, no_duplicates)
    yaml.load(spec_path().read_text(), Loader=Strict)
