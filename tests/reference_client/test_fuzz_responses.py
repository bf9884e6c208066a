"""Contract-derived response fuzzing: every answer openapi.yaml documents for an operation the
client calls, fed to the command line while every other answer is sensible.

For each documented (operation, status, media type), Hypothesis draws bodies from that
variant's schema (`contract_strategies`), picks a command that reaches the operation, and puts
the drawn answer at that operation's first call, or at every call, of the command. The scripted
`Backend` (``backend.py``) answers everything else. Then `assert_sound_run`: an exit code and
never a traceback, an actionable message with every failure, no token printed, no negative
balance. The chat stream is fuzzed the same way, one `SseMessage` of the contract per event.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from clients_under_test.reference.embed import run

from .backend import API, CDN_URL, WEB, Backend, FakeClock
from .contract_strategies import (
    EVENT_STREAM,
    JSON,
    Answer,
    ResponseVariant,
    answers,
    assert_sound_run,
    json_values,
    response_variants,
    sse_messages,
)

FUZZ = settings(
    max_examples=12,  # per documented variant; about 25 per operation on average
    deadline=None,
    derandomize=True,
    database=None,
    # No shrinking: each example runs a whole command, and shrinking a large drawn body took
    # minutes. The first failing example is reported as drawn (see `note`), the same every run.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# The scripted backend's name of each operation.
SHORT = {
    "createAnonymousToken": "token",
    "createSession": "session",
    "uploadFiles": "upload",
    "runSse": "chat",
    "getCredits": "credits",
    "getSessionState": "state",
    "submitRender": "render",
    "getRender": "poll",
    "downloadRender": "download",
    "createClaimToken": "claim",
}
# The commands that reach each operation (after their warm-up, see `_script`).
REACHED_BY = {
    "createAnonymousToken": ("credits", "upload", "chat", "convert"),
    "createSession": ("upload", "chat", "convert"),
    "uploadFiles": ("upload", "convert"),
    "runSse": ("chat", "convert"),
    "getCredits": ("credits",),
    "getSessionState": ("status", "chat", "export", "convert"),
    "submitRender": ("export", "convert"),
    "getRender": ("export", "convert"),
    "downloadRender": ("export", "convert"),
    "createClaimToken": ("export", "convert"),
}
VARIANTS = [
    variant
    for operation in REACHED_BY
    for variant in response_variants(operation)
    if variant.media_type != EVENT_STREAM  # the stream has a test of its own, below
]
# What fuzzing found in the client (each was a strict xfail until fixed): an empty download
# that did not say what to do, control characters reaching the terminal, a balance shown as
# 1.23457e+06, and a session id put in URL paths without percent-encoding.
KNOWN_BUGS: dict[str, pytest.MarkDecorator] = {}


def test_every_documented_variant_is_fuzzed() -> None:
    """A new status in openapi.yaml is fuzzed without editing this file; this guards the list."""
    covered = {(v.operation_id, v.status, v.media_type) for v in VARIANTS}
    assert ("getCredits", 401, JSON) in covered  # the REST profile of 1001
    assert ("uploadFiles", 415, JSON) in covered  # the REST profile of 4001
    assert ("runSse", 200, JSON) in covered  # a business error instead of a stream
    assert ("downloadRender", 200, "video/mp4") in covered
    assert len({v.operation_id for v in VARIANTS}) == len(REACHED_BY)


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "song.mp3"
    path.write_bytes(b"ID3" + b"\0" * 4096)  # the scripted backend does not decode it
    return path


@dataclass
class Cli:
    """The command line against the scripted backend, in a private config folder."""

    backend: Backend
    clock: FakeClock
    home: Path
    http: httpx.Client
    elsewhere: list[httpx.Request]  # requests the scripted backend cannot route

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        env = {"HOME": str(self.home), "NEMO_API_URL": API, "NEMO_WEB_URL": WEB}
        code = run(list(argv), env=env, http=self.http, clock=self.clock, stdout=out, stderr=err)
        return code, out.getvalue(), err.getvalue()

    def tokens(self, *answers: Answer) -> set[str]:
        issued = {f"nmv_usr_secret{n}" for n in range(1, self.backend.tokens_issued + 1)}
        for answer in answers:
            data = answer.json_data()
            if isinstance(data, dict) and isinstance(data.get("token"), str):
                issued.add(data["token"])
        return issued

    def assert_no_token_left_the_api(self) -> None:
        api_host = httpx.URL(API).host
        for request in [call.request for call in self.backend.calls] + self.elsewhere:
            assert "token" not in request.url.query.decode().lower(), request.url
            if request.url.host != api_host:
                assert "authorization" not in request.headers, request.url


@contextlib.contextmanager
def scripted_cli() -> Iterator[Cli]:
    """One example's world: a fresh scripted backend, clock and HOME."""
    clock = FakeClock()
    backend = Backend(clock)
    elsewhere: list[httpx.Request] = []
    served = {httpx.URL(API).host, httpx.URL(CDN_URL).host}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host not in served:
            # an output URL drawn from the contract (format: uri) names a host nobody serves
            elsewhere.append(request)
            raise httpx.ConnectError("name or service not known", request=request)
        try:
            return backend.handle(request)
        except AssertionError:  # no operation at this path (a drawn id with a "/" in it)
            elsewhere.append(request)
            message = f"no operation at {request.url.path}"
            return httpx.Response(404, json={"code": 404, "message": message, "data": None})

    with (
        tempfile.TemporaryDirectory(prefix="nemo-fuzz-") as home,
        httpx.Client(transport=httpx.MockTransport(handle)) as http,
    ):
        yield Cli(backend, clock, Path(home), http, elsewhere)


def _script(command: str, song: Path, home: Path) -> tuple[list[list[str]], list[str]]:
    """The warm-up commands (a session with a timeline) and the command under test."""
    out = str(home / "out" / "result.mp4")
    warm_up = [["chat", "add a title 'Urban Dreams'"]]
    return {
        "credits": ([], ["credits"]),
        "upload": ([], ["upload", str(song)]),
        "chat": ([], ["chat", "add a title 'Urban Dreams'"]),
        "convert": ([], ["convert", str(song), "--out", out]),
        "status": (warm_up, ["status"]),
        "export": (warm_up, ["export", "--out", out]),
    }[command]


def _fuzz_one_position(
    cli: Cli,
    song: Path,
    operation: str,
    answer: Answer,
    command: str,
    *,
    every_call: bool,
    verbose: bool,
) -> None:
    warm_up, argv = _script(command, song, cli.home)
    for step in warm_up:
        code, out, err = cli(*step)
        assert code == 0, (step, out, err)
    if operation == "downloadRender":  # reached only when the output URL fails
        cli.backend.queue("cdn", *[httpx.Response(404, text="no such object")] * 3)
    copies = 40 if every_call else 1
    cli.backend.queue(SHORT[operation], *[answer.response] * copies)
    argv = ["-v", *argv] if verbose else argv
    note(f"{operation} answered ({'every call' if every_call else 'first call'}): {answer!r}")
    code, out, err = cli(*argv)
    assert_sound_run(argv, code, out, err, cli.tokens(answer))
    cli.assert_no_token_left_the_api()


@pytest.mark.parametrize(
    "variant",
    [pytest.param(v, id=v.id, marks=KNOWN_BUGS.get(v.id, ())) for v in VARIANTS],
)
def test_a_documented_answer_never_breaks_the_cli(variant: ResponseVariant, song: Path) -> None:
    @FUZZ
    @given(
        answer=answers(variant),
        command=st.sampled_from(REACHED_BY[variant.operation_id]),
        every_call=st.booleans(),
        verbose=st.booleans(),
    )
    def fuzz(answer: Answer, command: str, every_call: bool, verbose: bool) -> None:
        with scripted_cli() as cli:
            _fuzz_one_position(
                cli,
                song,
                variant.operation_id,
                answer,
                command,
                every_call=every_call,
                verbose=verbose,
            )

    fuzz()


# -- the chat stream ------------------------------------------------------------------------

# Virtual seconds before each event: none, a heartbeat's gap, past the 2-minute "still working"
# notice, past the 10-minute heartbeat timeout.
PAUSES = st.sampled_from([0.0, 0.0, 0.0, 15.0, 130.0, 610.0])


def _tool_names(messages: list[dict[str, Any]]) -> tuple[set[str], str]:
    """The tool names in a stream, and all the stream's text a client may show (or quote)."""
    names: set[str] = set()
    texts: list[str] = []
    for message in messages:
        try:
            event = json.loads(message["data"]) if message["data"] else None
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        texts.extend(str(v) for k, v in event.items() if k in ("content", "message", "error"))
        if event.get("type") in ("tool_call", "tool_result") and isinstance(event.get("name"), str):
            names.add(event["name"])
        content = event.get("content")
        for part in content.get("parts", []) if isinstance(content, dict) else []:
            for key in ("functionCall", "functionResponse"):
                if isinstance(part.get(key), dict) and isinstance(part[key].get("name"), str):
                    names.add(part[key]["name"])
            texts.append(str(part.get("text", "")))
    return names, "\n".join(texts)


@FUZZ
@given(
    events=st.lists(st.tuples(sse_messages(), PAUSES), max_size=10),
    verbose=st.booleans(),
)
def test_a_stream_of_contract_events_never_breaks_chat(
    events: list[tuple[dict[str, Any], float]], verbose: bool
) -> None:
    messages = [message for message, _ in events]
    stream = Answer(200, EVENT_STREAM, messages)
    note(f"stream: {stream.content()!r}; pauses: {[pause for _, pause in events]}")
    with scripted_cli() as cli:
        pauses = iter(pause for _, pause in events)

        def body() -> Iterator[bytes]:
            for chunk in stream.content().split(b"\n\n")[:-1]:
                cli.clock.advance(next(pauses))
                yield chunk + b"\n\n"

        cli.backend.queue(
            "chat",
            lambda request: httpx.Response(
                200, headers={"content-type": EVENT_STREAM}, content=body()
            ),
        )
        argv = ["chat", *(["-v"] if verbose else []), "add a title 'Urban Dreams'"]
        code, out, err = cli(*argv)
        assert_sound_run(argv, code, out, err, cli.tokens())
        cli.assert_no_token_left_the_api()
        # done; or an error event: 2001 or 402 (4), 4001 or 4002 (5), anything else (8)
        assert code in (0, 4, 5, 8), (code, out, err)
        if code == 0:
            assert out.strip(), "a chat that ends well tells the user something"
        names, texts = _tool_names(messages)
        for name in names:
            if len(name.strip()) >= 6 and name not in texts:
                assert name not in out + err, f"tool {name!r} was shown"


# C0 and C1 control characters but newline and tab: ESC among them starts a terminal command.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@FUZZ
@given(messages=st.lists(sse_messages(), max_size=10))
def test_backend_text_reaches_the_terminal_without_control_characters(
    messages: list[dict[str, Any]],
) -> None:
    stream = Answer(200, EVENT_STREAM, messages)
    note(f"stream: {stream.content()!r}")
    with scripted_cli() as cli:
        cli.backend.queue("chat", stream.response)
        code, out, err = cli("chat", "add a title 'Urban Dreams'")
        assert_sound_run(["chat"], code, out, err, cli.tokens())
        found = CONTROL.search(out + err)
        assert found is None, f"{found.group()!r} printed: {out + err!r}"


@FUZZ
@given(served=json_values({"$ref": "#/components/schemas/CreditsEnvelope"}))
def test_the_balance_shown_is_the_balance_served(served: dict[str, Any]) -> None:
    note(f"served: {served!r}")
    with scripted_cli() as cli:
        cli.backend.queue("credits", Answer(200, JSON, served).response)
        code, out, err = cli("credits")
        assert_sound_run(["credits"], code, out, err, cli.tokens())
        assert code == 0, (out, err)
        numbers = re.findall(r"(-?[\d.]+) (?:available|reserved|total)", out)
        balance = served["data"]
        expected = [balance["available"], balance["frozen"], balance["total"]]
        assert [float(n) for n in numbers] == [float(n) for n in expected], out


# -- regressions of what fuzzing found ------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "data"),
    [
        ("createSession", {"session_id": "ses\x00_1", "task_id": "task_1"}),
        ("getRender", {"status": "completed", "output": {"url": "http://cdn\x00.test/out.mp4"}}),
        ("getRender", {"status": "completed", "output": None, "data": {"outputUrl": "::://"}}),
        ("getRender", {"status": "completed", "output": {"url": "http://[::1/out.mp4"}}),
    ],
    ids=["session id with a NUL", "link with a NUL", "link without a host", "broken IPv6 host"],
)
def test_an_id_or_link_that_makes_no_url_is_a_message_not_a_crash(
    operation: str, data: dict[str, Any], song: Path
) -> None:
    """Found by the fuzzing above: httpx.InvalidURL and urllib's ValueError escaped `Api` and
    ended the command as "Internal error" (exit 1)."""
    with scripted_cli() as cli:
        if operation == "createSession":
            cli.backend.queue("session", Answer(200, JSON, {"code": 0, "data": data}).response)
            argv = ["upload", str(song)]
        else:
            cli.backend.polls = [data]
            assert cli("chat", "add a title")[0] == 0
            argv = ["export", "--out", str(cli.home / "out.mp4")]
        code, out, err = cli(*argv)
        assert_sound_run(argv, code, out, err, cli.tokens())
        if operation == "getRender":  # the link is skipped for the download endpoint
            assert code == 0, err
            assert (cli.home / "out.mp4").read_bytes() == cli.backend.file_bytes


@pytest.mark.parametrize("session_id", ["ses/1", "ses?1", "ses#1", "ses%2F1"])
def test_a_session_id_travels_as_one_path_segment(session_id: str, song: Path) -> None:
    """Seen while tracing the crash above (the drawn ids rarely carry these characters)."""
    created = {"code": 0, "data": {"session_id": session_id, "task_id": "task_1"}}
    with scripted_cli() as cli:
        cli.backend.queue("session", Answer(200, JSON, created).response)
        code, out, err = cli("upload", str(song))
        assert_sound_run(["upload"], code, out, err, cli.tokens())
        prefix = b"/api/upload-video/nemo_agent/me/"
        sent = [
            request.url.raw_path
            for request in [call.request for call in cli.backend.calls] + cli.elsewhere
            if request.url.raw_path.startswith(prefix)
        ]
        for raw in sent:  # none at all is fine: the client refused the id with a message
            segment = raw.removeprefix(prefix)
            assert not set(segment) & set(b"/?#"), raw
            assert unquote(segment.decode()) == session_id, raw
