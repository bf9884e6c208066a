"""No token in any output, log line or URL; the claim token only inside the claim link."""

from __future__ import annotations

import io
import re
from pathlib import Path

import httpx
import pytest

from clients_under_test.reference.cli import main
from clients_under_test.reference.console import Console, redact

from .backend import API, WEB, Backend, FakeClock, adk_call, envelope
from .conftest import Output

REGISTERED = "reg-token-without-any-prefix-1234"


def run_cli(
    backend: Backend, clock: FakeClock, output: Output, tmp_path: Path, *argv: str, **env: str
) -> int:
    with httpx.Client(transport=backend.transport()) as http:
        return main(
            list(argv),
            env={"NEMO_API_URL": API, "NEMO_WEB_URL": WEB, "XDG_CONFIG_HOME": str(tmp_path), **env},
            http=http,
            clock=clock,
            console=output.console(verbose=True),
            home=tmp_path,
        )


@pytest.mark.parametrize("registered", [False, True], ids=["anonymous", "NEMO_TOKEN"])
def test_a_verbose_job_never_shows_a_token(
    backend: Backend, clock: FakeClock, output: Output, tmp_path: Path, registered: bool
) -> None:
    song = tmp_path / "song.wav"
    song.write_bytes(b"RIFF" + b"\0" * 100)
    env = {"NEMO_TOKEN": REGISTERED} if registered else {}
    backend.chat_stream = [adk_call(), {"type": "text", "content": "Done."}]

    assert run_cli(backend, clock, output, tmp_path, "convert", str(song), **env) == 0

    token = REGISTERED if registered else "nmv_usr_secret1"
    assert token not in output.all
    for call in backend.calls:
        assert token not in str(call.request.url)
        assert "token" not in call.request.url.query.decode().lower()
    # verbose logs name the method, the path and the outcome: no bodies, no tool payloads
    debug = [line for line in output.err.splitlines() if line.startswith("[debug]")]
    assert debug
    for line in debug:
        assert re.fullmatch(r"\[debug\] (GET|POST) \S+ → HTTP \d+ (code=\d+|stream)", line), line
    assert "TOOL-ARGS" not in output.all


def test_the_claim_token_appears_only_in_the_link(
    backend: Backend, clock: FakeClock, output: Output, tmp_path: Path
) -> None:
    song = tmp_path / "song.mp3"
    song.write_bytes(b"\0" * 100)
    assert run_cli(backend, clock, output, tmp_path, "convert", str(song)) == 0
    lines = [line for line in output.all.splitlines() if "clm_claim123" in line]
    assert lines == [f"Open your project in the browser: {WEB}/workspace/claim?ct=clm_claim123"]


def test_a_token_echoed_by_the_backend_is_redacted(
    backend: Backend, clock: FakeClock, output: Output, tmp_path: Path
) -> None:
    backend.queue("credits", envelope(code=9999, message=f"bad token {REGISTERED}"))
    code = run_cli(backend, clock, output, tmp_path, "credits", NEMO_TOKEN=REGISTERED)
    assert code == 1
    assert REGISTERED not in output.all
    assert "[redacted]" in output.err


def test_a_token_in_the_token_cache_is_redacted_on_the_next_run(
    backend: Backend, clock: FakeClock, output: Output, tmp_path: Path
) -> None:
    assert run_cli(backend, clock, output, tmp_path, "credits") == 0
    backend.queue("credits", envelope(code=9999, message="your token nmv_usr_secret1 is odd"))
    assert run_cli(backend, clock, output, tmp_path, "credits") == 1
    assert "nmv_usr_secret1" not in output.all


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token nmv_usr_abc-DEF_123 here", "token [redacted] here"),
        ("Authorization: Bearer abc.def", "Authorization: Bearer [redacted]"),
        ("secret s3cr3t!", "secret [redacted]"),
        ("link ?ct=clm_abc", "link ?ct=clm_abc"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text, {"s3cr3t!"}) == expected


def test_console_progress_overwrites_on_a_terminal() -> None:
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err, tty=True)
    console.progress("Rendering… 40%")
    console.progress("Rendering… 80%")
    console.say("done")
    assert err.getvalue() == "\r\033[KRendering… 40%\r\033[KRendering… 80%\n"
    assert out.getvalue() == "done\n"
