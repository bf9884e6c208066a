"""The contract feeds the code generators teams use (issue 19).

Each generator runs on `openapi.yaml` into a temporary folder, once per session, as a team would
run it, and must print nothing about a dropped schema or an omitted response. Then what it made
is used: openapi-python-client's client drives the mock in-process (a token, a session, credits,
a 1001 read into its model, an upload, a render polled to `completed` on the mock's clock, the
download); every body example of the contract is read by datamodel-code-generator's models and
by the generated client's response parsers; and, where set-up installed it (it needs npm),
every example type-checks against openapi-typescript's types. Nothing is downloaded here.
Parameter examples are left out: they are plain strings, which no generator makes a model of.
"""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from pydantic import RootModel, TypeAdapter

from contract import NemoMock
from mock_backend.media.samples import make_song
from mock_backend.openapi.spec import load_spec
from mock_backend.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "openapi.yaml"
SPEC = load_spec()
SCHEMAS: dict[str, Any] = SPEC.document["components"]["schemas"]
CLIENT_PACKAGE = "nemo_generated_client"
MODELS_MODULE = "nemo_generated_models"
NODE_BIN = ROOT / "node_modules" / ".bin"
ATTRIBUTION = {
    "x_skill_source": "how-to-download-music",
    "x_skill_version": "1.0.0",
    "x_skill_platform": "unknown",
}
# what the generators say when they leave something out (openapi-python-client: "Unable to
# process schema", "resulted in the removal of", "response will be omitted", "Endpoint will not
# be generated", "Unsupported content_type", "Could not find reference", "Invalid property")
WARNING = re.compile(
    r"warn|drop|omit|could not|cannot|can't|invalid|unsupported|unable|remov|not be generated"
    r"|skipping",
    re.IGNORECASE,
)
# openapi-python-client 0.29 reads a body into a local variable `d` in every from_dict, and
# names a property `d` the same: Draft's and Segment's `d` (duration, the backend's own short
# key) overwrite it, so a generated client cannot read a draft. A generator bug, not the wire's.
D_SHADOWS = "openapi-python-client 0.29: a property named `d` shadows from_dict's local `d`"


@dataclass(frozen=True)
class Generated:
    output: str  # what the generator printed, stdout and stderr
    folder: Path


@dataclass(frozen=True)
class Example:
    where: str
    status: int | None  # None: a request body
    media: str
    schema: dict[str, Any]
    value: Any


# -- running the generators ----------------------------------------------------------------------


def _generate(command: list[str], folder: Path, *, cwd: Path | None = None) -> Generated:
    """Run a generator installed beside this Python (its post-hooks find ruff there too)."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    program = shutil.which(command[0], path=env["PATH"]) or command[0]
    result = subprocess.run(
        [program, *command[1:]],
        cwd=cwd or folder,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=300,  # a hang guard, not a threshold: the generators take about a second
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{command[0]} exited {result.returncode}:\n{output}"
    return Generated(output, folder)


def _warnings(generated: Generated) -> list[str]:
    return [line for line in generated.output.splitlines() if WARNING.search(line)]


@pytest.fixture(scope="session")
def python_client_generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    folder = tmp_path_factory.mktemp("openapi-python-client")
    return _generate(
        [
            "openapi-python-client",
            "generate",
            "--path",
            str(CONTRACT),
            "--meta",
            "none",
            "--output-path",
            str(folder / CLIENT_PACKAGE),
        ],
        folder,
    )


@pytest.fixture(scope="session")
def python_client(python_client_generated: Generated) -> Iterator[ModuleType]:
    """The generated package, imported; forgotten again after the session."""
    sys.path.insert(0, str(python_client_generated.folder))
    try:
        yield importlib.import_module(CLIENT_PACKAGE)
    finally:
        sys.path.remove(str(python_client_generated.folder))
        for name in [n for n in sys.modules if n.partition(".")[0] == CLIENT_PACKAGE]:
            del sys.modules[name]


@pytest.fixture(scope="session")
def models_generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    folder = tmp_path_factory.mktemp("datamodel-code-generator")
    return _generate(
        [
            "datamodel-codegen",
            "--input",
            str(CONTRACT),
            "--input-file-type",
            "openapi",
            "--output-model-type",
            "pydantic_v2.BaseModel",
            "--target-python-version",
            "3.11",
            "--formatters",
            "builtin",
            "--output",
            str(folder / "models.py"),
        ],
        folder,
    )


@pytest.fixture(scope="session")
def models(models_generated: Generated) -> Iterator[ModuleType]:
    path = models_generated.folder / "models.py"
    spec = importlib.util.spec_from_file_location(MODELS_MODULE, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODELS_MODULE] = module  # pydantic resolves forward references through it
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[MODELS_MODULE]


@pytest.fixture(scope="session")
def typescript_generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    if shutil.which("npx") is None:
        pytest.skip("no npx: openapi-typescript needs Node")
    if not (NODE_BIN / "openapi-typescript").exists():
        pytest.skip("openapi-typescript is not installed: bash scripts/setup.sh installs it (npm)")
    folder = tmp_path_factory.mktemp("openapi-typescript")
    # --no: run what set-up installed, never download
    command = [
        "npx",
        "--no",
        "--",
        "openapi-typescript",
        str(CONTRACT),
        "-o",
        str(folder / "nemo.ts"),
    ]
    return _generate(command, folder, cwd=ROOT)


# -- the contract's examples ---------------------------------------------------------------------


def _examples() -> list[Example]:
    found: list[Example] = []
    for op in SPEC.operations.values():
        contents: list[tuple[str, int | None, str, dict[str, Any]]] = []
        body = op.raw.get("requestBody")
        if body:
            contents += [
                (f"{op.operation_id} request", None, m, c) for m, c in body["content"].items()
            ]
        for status, response in op.raw["responses"].items():
            for media, content in SPEC.resolve(response).get("content", {}).items():
                contents.append((f"{op.operation_id} {status}", int(status), media, content))
        for where, status, media, content in contents:
            values = [content["example"]] if "example" in content else []
            values += [SPEC.resolve(e)["value"] for e in content.get("examples", {}).values()]
            found += [
                Example(f"{where} {media} #{i}", status, media, content["schema"], value)
                for i, value in enumerate(values)
            ]
    return found


EXAMPLES = _examples()


def _name(ref: dict[str, Any]) -> str:
    name: str = ref["$ref"].rsplit("/", 1)[1]
    return name


def _leaves(schema: dict[str, Any]) -> list[str]:
    """The named object schemas a body of ``schema`` is one of (unions of unions flattened)."""
    if "oneOf" in schema:
        return [leaf for member in schema["oneOf"] for leaf in _leaves(member)]
    name = _name(schema)
    return _leaves(SCHEMAS[name]) if "oneOf" in SCHEMAS[name] else [name]


def _business_codes() -> dict[int, str]:
    """Each business code's own schema: BusinessError's shape with a one-value enum on `code`."""
    found = {}
    for name, schema in SCHEMAS.items():
        parts = schema.get("allOf", [])
        if any(p.get("$ref", "").endswith("/BusinessError") for p in parts):
            codes = [
                c for p in parts for c in p.get("properties", {}).get("code", {}).get("enum", [])
            ]
            if len(codes) == 1:
                found[codes[0]] = name
    return found


BUSINESS = _business_codes()


def _expected_leaf(example: Example) -> list[str]:
    """The schema names the example may be read as: its own code's schema, for a business code."""
    code = example.value.get("code") if isinstance(example.value, dict) else None
    return [BUSINESS[code]] if code in BUSINESS else _leaves(example.schema)


def _has_key(value: Any, key: str) -> bool:
    if isinstance(value, dict):
        return key in value or any(_has_key(v, key) for v in value.values())
    return isinstance(value, list) and any(_has_key(v, key) for v in value)


def _same(a: Any, b: Any) -> bool:
    """Equal, reading date-times as instants (a generator writes `Z` as `+00:00`)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, str) and isinstance(b, str) and a != b:
        try:
            return datetime.datetime.fromisoformat(a) == datetime.datetime.fromisoformat(b)
        except ValueError:
            return False
    return bool(a == b)


def test_every_named_example_is_used_by_a_body() -> None:
    named = set(SPEC.document["components"]["examples"])
    text = CONTRACT.read_text(encoding="utf-8")
    unreferenced = {n for n in named if f"#/components/examples/{n}" not in text}
    assert not unreferenced, f"examples no body uses, so no test here reads: {unreferenced}"


def test_every_business_code_has_its_own_schema() -> None:
    codes = {int(c) for c in SPEC.extension("info", "x-error-codes") if int(c) >= 1000}
    assert set(BUSINESS) == codes


# -- openapi-python-client -----------------------------------------------------------------------


def test_openapi_python_client_generates_without_a_warning(
    python_client_generated: Generated,
) -> None:
    warnings = _warnings(python_client_generated)
    assert not warnings, "openapi-python-client left something out:\n" + "\n".join(warnings)


def test_openapi_python_client_keeps_every_schema(python_client: ModuleType) -> None:
    generated = importlib.import_module(f"{CLIENT_PACKAGE}.models")
    # a union (oneOf) is no class of its own: its members are
    leaves = {
        leaf for name in SCHEMAS for leaf in _leaves({"$ref": f"#/components/schemas/{name}"})
    }
    missing = sorted(leaf for leaf in leaves if not hasattr(generated, leaf))
    assert not missing, f"no model for {missing}"


def _operation(operation_id: str) -> Any:
    """The generated module of ``operation_id`` (api/<tag>/<snake_case id>.py)."""
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()
    api = Path(importlib.import_module(CLIENT_PACKAGE).__file__ or "").parent / "api"
    (found,) = api.glob(f"*/{snake}.py")
    return importlib.import_module(f"{CLIENT_PACKAGE}.api.{found.parent.name}.{snake}")


JSON_RESPONSES = [
    pytest.param(
        e,
        id=e.where,
        marks=[pytest.mark.xfail(raises=(ValueError, AttributeError), reason=D_SHADOWS)]
        if _has_key(e.value, "d")
        else [],
    )
    for e in EXAMPLES
    if e.status is not None and e.media == "application/json"
]


@pytest.mark.parametrize("example", JSON_RESPONSES)
def test_the_generated_client_reads_every_response_example(
    python_client: ModuleType, example: Example
) -> None:
    operation_id = example.where.split()[0]
    answer = httpx.Response(
        example.status or 200, json=example.value, request=httpx.Request("GET", "http://x/")
    )
    parsed = _operation(operation_id)._parse_response(
        client=python_client.Client(base_url="http://x"), response=answer
    )
    response = SPEC.resolve(SPEC.operations[operation_id].raw["responses"][str(example.status)])
    if next(iter(response["content"])) != "application/json":
        # one media type per status: the download's 200 is read as the file (listed first), so
        # a 1001 answered with HTTP 200 arrives as its bytes; the REST profile's 401 is a model
        assert isinstance(parsed, importlib.import_module(f"{CLIENT_PACKAGE}.types").File)
        (leaf,) = _expected_leaf(example)
        models = importlib.import_module(f"{CLIENT_PACKAGE}.models")
        parsed = getattr(models, leaf).from_dict(json.loads(parsed.payload.read()))
    assert type(parsed).__name__ in _expected_leaf(example), f"{example.where}: read as {parsed!r}"
    assert _same(parsed.to_dict(), example.value), f"{example.where}: {parsed.to_dict()}"


@pytest.mark.xfail(raises=AttributeError, reason=D_SHADOWS)
def test_the_generated_client_reads_a_draft(python_client: ModuleType) -> None:
    draft = importlib.import_module(f"{CLIENT_PACKAGE}.models").Draft
    assert draft.from_dict({"t": [], "d": 3000}).d == 3000


def _clients(python_client: ModuleType, mock: NemoMock, token: str | None = None) -> Any:
    """A generated client whose httpx client reaches the in-process mock."""
    options: dict[str, Any] = {
        "base_url": mock.base_url,
        "httpx_args": {"transport": mock.sync_transport()},
        "raise_on_unexpected_status": True,
    }
    if token is None:
        return python_client.Client(**options)
    return python_client.AuthenticatedClient(token=token, **options)


def test_the_generated_client_drives_the_mock(python_client: ModuleType, tmp_path: Path) -> None:
    m = importlib.import_module(f"{CLIENT_PACKAGE}.models")
    types = importlib.import_module(f"{CLIENT_PACKAGE}.types")
    song = make_song(tmp_path / "song.mp3", 3.0)
    settings = Settings(seed=7, clock="manual", data_dir=tmp_path / "data")
    with NemoMock.in_process(settings) as mock:
        with _clients(python_client, mock) as anonymous:
            issued = _operation("createAnonymousToken").sync(
                client=anonymous, x_client_id="generated-1"
            )
        assert isinstance(issued, m.AnonymousTokenEnvelope), issued
        with _clients(python_client, mock, issued.data.token) as client:
            session = _operation("createSession").sync(
                client=client, body=m.CreateSessionRequest(task_name="project", language="en")
            )
            assert isinstance(session, m.SessionEnvelope), session
            sid = session.data.session_id

            balance = _operation("getCredits").sync(client=client)
            assert isinstance(balance, m.CreditsEnvelope), balance
            assert balance.data.available == issued.data.credits_  # `credits` is a Python builtin
            assert balance.data.available + balance.data.frozen == balance.data.total

            upload = _operation("uploadFiles").sync(
                sid,
                client=client,
                body=m.UploadFilesFilesBody(
                    files=[types.File(io.BytesIO(song.read_bytes()), "song.mp3", "audio/mpeg")]
                ),
            )
            assert isinstance(upload, m.UploadEnvelope), upload
            (uploaded,) = upload.data.files
            assert uploaded.file_type == m.UploadedFileFileType.AUDIO

            ms = round(uploaded.duration * 1000)
            segment = m.Segment(
                d=ms, s=0, m=m.SegmentM(kind=m.SegmentMKind.AUDIO, src=uploaded.cdn_url)
            )
            draft = m.ReadyDraft(
                t=[m.Track(tt=m.TrackTt.VALUE_1, sg=[segment])],
                d=ms,
                m=m.DraftMeta(canvas=m.DraftMetaCanvas(w=320, h=240)),
            )
            request = m.RenderRequest(
                id="render_generated_1",
                session_id=sid,
                draft=draft,
                output=m.RenderRequestOutput(format_=m.RenderRequestOutputFormat.MP4),
            )
            job = _operation("submitRender").sync(client=client, body=request, **ATTRIBUTION)
            assert isinstance(job, m.RenderJob), job
            statuses = [job.status]
            for _ in range(10):  # the documents' bound: every 30 s, at most 10 polls
                if job.status in (m.RenderStatus.COMPLETED, m.RenderStatus.FAILED):
                    break
                mock.advance(30)
                job = _operation("getRender").sync("render_generated_1", client=client)
                assert isinstance(job, m.RenderJob), job
                statuses.append(job.status)
            assert job.status == m.RenderStatus.COMPLETED, statuses
            assert job.progress == 100
            assert job.output.url

            downloaded = _operation("downloadRender").sync("render_generated_1", client=client)
            assert isinstance(downloaded, types.File), downloaded
            assert downloaded.payload.read()[4:8] == b"ftyp"  # an MP4

        with _clients(python_client, mock, "nmv_usr_notatoken") as stranger:
            refused = _operation("getCredits").sync(client=stranger)
        assert isinstance(refused, m.TokenInvalidError), refused
        assert refused.code == 1001


@pytest.mark.parametrize(("profile", "status"), [("http200", 200), ("rest", 401)])
def test_the_generated_client_reads_business_errors_in_either_profile(
    python_client: ModuleType, tmp_path: Path, profile: str, status: int
) -> None:
    m = importlib.import_module(f"{CLIENT_PACKAGE}.models")
    settings = Settings(seed=7, clock="manual", data_dir=tmp_path, error_status=profile)
    with NemoMock.in_process(settings) as mock:
        token = mock.mint_token()["token"]
        with _clients(python_client, mock, "nmv_usr_notatoken") as stranger:
            for answer in (
                _operation("getCredits").sync_detailed(client=stranger),
                _operation("getSessionState").sync_detailed("ses_x", client=stranger),
                _operation("getRender").sync_detailed("render_x", client=stranger),
            ):
                assert answer.status_code == status
                assert isinstance(answer.parsed, m.TokenInvalidError), answer
        with _clients(python_client, mock, token) as client:
            lost = _operation("getSessionState").sync_detailed("ses_missing", client=client)
        assert lost.status_code == (200 if profile == "http200" else 404)
        assert isinstance(lost.parsed, m.SessionNotFoundError), lost
        assert lost.parsed.code == 1002


# -- datamodel-code-generator --------------------------------------------------------------------


def test_datamodel_code_generator_generates_without_a_warning(models_generated: Generated) -> None:
    warnings = _warnings(models_generated)
    assert not warnings, "datamodel-code-generator said:\n" + "\n".join(warnings)


def test_datamodel_code_generator_keeps_every_schema(models: ModuleType) -> None:
    missing = [name for name in SCHEMAS if not hasattr(models, name)]
    assert not missing, f"no model for {missing}"


def _python_type(models: ModuleType, schema: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return getattr(models, _name(schema))
    assert "oneOf" in schema, f"an inline schema no generator names: {schema}"
    return typing.Union[tuple(_python_type(models, s) for s in schema["oneOf"])]  # noqa: UP007


BODY_EXAMPLES = [pytest.param(e, id=e.where) for e in EXAMPLES]


@pytest.mark.parametrize("example", BODY_EXAMPLES)
def test_every_example_parses_into_the_generated_models(
    models: ModuleType, example: Example
) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(_python_type(models, example.schema))
    parsed = adapter.validate_python(example.value)
    leaf = parsed
    while isinstance(leaf, RootModel):
        leaf = leaf.root
    assert type(leaf).__name__ in _expected_leaf(example), f"read as {type(leaf).__name__}"
    # nothing the example says was dropped on the way in
    dumped = adapter.dump_python(parsed, mode="json", by_alias=True, exclude_unset=True)
    assert _same(dumped, example.value), dumped


# -- openapi-typescript (only where set-up installed it; it needs Node) ---------------------------


def test_openapi_typescript_generates_without_a_warning(typescript_generated: Generated) -> None:
    warnings = _warnings(typescript_generated)
    assert not warnings, "openapi-typescript said:\n" + "\n".join(warnings)


def _typescript_type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return f'components["schemas"]["{_name(schema)}"]'
    return " | ".join(_typescript_type(s) for s in schema["oneOf"])


def test_every_example_type_checks_against_the_generated_types(
    typescript_generated: Generated,
) -> None:
    lines = ['import type { components } from "./nemo";']
    lines += [
        f"// {e.where}\nexport const example{i}: {_typescript_type(e.schema)} = "
        f"{json.dumps(e.value)};"
        for i, e in enumerate(EXAMPLES)
    ]
    examples = typescript_generated.folder / "examples.ts"
    examples.write_text("\n".join(lines) + "\n", encoding="utf-8")
    command = ["npx", "--no", "--", "tsc", "--noEmit", "--strict", "--target", "es2022"]
    command += ["--module", "nodenext", "--moduleResolution", "nodenext", str(examples)]
    checked = _generate(command, typescript_generated.folder, cwd=ROOT)  # exits 0 when it types
    assert not checked.output.strip(), checked.output
