"""The command line: every command end to end against the scripted backend, and the exit code
of each failure family (always a message, never a traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from clients_under_test.reference.cli import main
from clients_under_test.reference.errors import ExitCode

from .backend import API, HEARTBEAT, WEB, Backend, FakeClock, adk_call, envelope
from .conftest import Output

Run = Callable[..., int]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"NEMO_API_URL": API, "NEMO_WEB_URL": WEB, "XDG_CONFIG_HOME": str(tmp_path / "cfg")}


@pytest.fixture
def cli(
    backend: Backend, clock: FakeClock, output: Output, env: dict[str, str], tmp_path: Path
) -> Iterator[Run]:
    http = httpx.Client(transport=backend.transport())

    def run(*argv: str, read: Callable[[str], str] = input, verbose: bool = False) -> int:
        return main(
            list(argv),
            env=env,
            http=http,
            clock=clock,
            console=output.console(verbose=verbose),
            read=read,
            home=tmp_path / "home",
        )

    yield run
    http.close()


@pytest.fixture
def song(tmp_path: Path) -> Path:
    path = tmp_path / "music" / "song.mp3"
    path.parent.mkdir()
    path.write_bytes(b"ID3" + b"\0" * 2048)
    return path


COMMANDS = ["convert", "extract", "chat", "upload", "status", "credits", "export", "interactive"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_on_every_command_explains_it(
    cli: Run, capsys: pytest.CaptureFixture[str], command: str | None
) -> None:
    assert cli(*([command] if command else []), "--help") == 0
    text = capsys.readouterr().out
    assert "exit codes:" in text
    assert "NEMO_TOKEN" in text
    if command:
        assert f"nemo-client {command}" in text


def test_convert_end_to_end(cli: Run, backend: Backend, song: Path, output: Output) -> None:
    assert cli("convert", str(song)) == 0

    target = song.with_suffix(".mp4")
    assert target.read_bytes() == backend.file_bytes
    (chat,) = backend.ops("chat")
    assert json.loads(chat.request.content)["new_message"]["parts"][0]["text"] == (
        "convert this audio track into a shareable video with a waveform visualizer and album "
        "art background"
    )
    assert backend.ops("render")[0].json["output"] == {"format": "mp4", "quality": "high"}
    assert "Connecting..." in output.out
    assert "Ready!" in output.out
    assert f"✅ Saved {target}" in output.out
    assert f"{WEB}/workspace/claim?ct=clm_claim123" in output.out


def test_convert_portrait_and_out(cli: Run, backend: Backend, song: Path, tmp_path: Path) -> None:
    out = tmp_path / "videos" / "clip.mp4"
    assert cli("convert", str(song), "--out", str(out), "--portrait") == 0
    assert out.exists()
    text = json.loads(backend.ops("chat")[0].request.content)["new_message"]["parts"][0]["text"]
    assert "portrait 9:16" in text


def test_extract_end_to_end(cli: Run, backend: Backend, tmp_path: Path) -> None:
    video = tmp_path / "talk.mp4"
    video.write_bytes(b"\0" * 4096)
    assert cli("extract", str(video)) == 0

    assert (tmp_path / "talk.mp3").read_bytes() == backend.file_bytes
    text = json.loads(backend.ops("chat")[0].request.content)["new_message"]["parts"][0]["text"]
    assert text == "extract the audio from this video as an MP3 file"
    assert backend.ops("render")[0].json["output"]["format"] == "mp3"
    assert {c.request.headers["X-Skill-Source"] for c in backend.calls} == {"video-to-mp3"}


def test_chat_then_export_work_on_the_same_saved_session(
    cli: Run, backend: Backend, tmp_path: Path, output: Output
) -> None:
    assert cli("chat", "make", "a", "city", "video") == 0
    assert cli("status") == 0
    assert cli("export", "--out", str(tmp_path / "city.mp4")) == 0

    assert backend.sessions_made == 1
    sids = {c.request.url.path.split("/")[5] for c in backend.ops("state")}
    assert sids == {"sess_1"}
    assert backend.ops("render")[0].json["sessionId"] == "sess_1"
    assert "Timeline (3 tracks): 1. Video: city timelapse (0-10s)" in output.out
    assert backend.tokens_issued == 1  # the cached token served all three runs


def test_status_without_a_project(cli: Run, backend: Backend, output: Output) -> None:
    assert cli("status") == 0
    assert "No project yet" in output.out
    assert backend.calls == []


def test_credits(cli: Run, output: Output) -> None:
    assert cli("credits") == 0
    assert "Credits: 100 available (0 reserved for work in progress, 100 total)" in output.out


def test_upload_several_files(cli: Run, backend: Backend, song: Path, tmp_path: Path) -> None:
    cover = tmp_path / "cover.png"
    cover.write_bytes(b"\x89PNG")
    assert cli("upload", str(song), str(cover)) == 0
    assert len(backend.ops("upload")) == 2


def test_interactive_routes_free_text(
    cli: Run,
    backend: Backend,
    song: Path,
    output: Output,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    lines = iter(["credits", "余额", f"upload {song}", "add a title", "状态", "导出", "quit"])
    assert cli("interactive", read=lambda prompt: next(lines)) == 0

    ops = [c.op for c in backend.calls if c.op not in ("token", "state")]
    assert ops == [
        "credits",
        "credits",
        "session",
        "upload",
        "chat",
        "render",
        "poll",
        "poll",
        "cdn",
        "claim",
    ]
    assert len(list(tmp_path.glob("nemovideo-render_*.mp4"))) == 1


def test_interactive_shows_errors_and_goes_on(cli: Run, output: Output) -> None:
    lines = iter(["export", "upload", "credits"])

    def read(prompt: str) -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    assert cli("interactive", read=read) == 0
    assert "Error: Nothing to export" in output.err
    assert "Which file?" in output.out
    assert "Credits: 100 available" in output.out


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


def boom(request: httpx.Request) -> httpx.Response:
    raise RuntimeError("a bug")


def interrupt(request: httpx.Request) -> httpx.Response:
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("op", "answers", "argv", "code"),
    [
        ("credits", [envelope(code=2001, status=403)], ["credits"], ExitCode.CREDITS_OR_PLAN),
        ("render", [envelope(code=402, status=402)], ["convert", "{song}"], ExitCode.CREDITS_OR_PLAN),  # noqa: E501
        ("credits", [envelope(code=1001)] * 2, ["credits"], ExitCode.AUTH),
        ("state", [envelope(code=1002)] * 2, ["chat", "hi"], ExitCode.AUTH),
        ("credits", [envelope(code=429, status=429)] * 2, ["credits"], ExitCode.RATE_LIMITED),
        ("upload", [envelope(code=4002, status=413)], ["upload", "{song}"], ExitCode.FILE_REJECTED),
        ("credits", [envelope(code=7777)], ["credits"], ExitCode.UNEXPECTED),
        ("credits", [httpx.Response(503, text="<html>")], ["credits"], ExitCode.UNEXPECTED),
        ("credits", [refuse], ["credits"], ExitCode.NETWORK),
        ("credits", [boom], ["credits"], ExitCode.UNEXPECTED),
        ("credits", [interrupt], ["credits"], ExitCode.INTERRUPTED),
        ("chat", [], ["chat", "hi"], ExitCode.RUN_FAILED),
        (None, [], ["export"], ExitCode.EXPORT_FAILED),
        (None, [], ["upload", "{song}.pdf"], ExitCode.USAGE),
        (None, [], ["upload", "{tmp}/notes.pdf"], ExitCode.FILE_REJECTED),
        (None, [], ["status", "--skill", "nope"], ExitCode.USAGE),
        (None, [], ["frobnicate"], ExitCode.USAGE),
    ],
    ids=[
        "2001", "402", "1001-twice", "1002-twice", "429-twice", "4002", "unknown-code", "503",
        "network", "internal-bug", "ctrl-c", "run-error", "nothing-to-export", "missing-file",
        "bad-type", "unknown-skill", "unknown-command",
    ],
)  # fmt: skip
def test_exit_codes(
    cli: Run,
    backend: Backend,
    output: Output,
    song: Path,
    tmp_path: Path,
    op: str | None,
    answers: list[httpx.Response | Callable[[httpx.Request], httpx.Response]],
    argv: list[str],
    code: ExitCode,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "notes.pdf").write_text("x")
    if op is not None:
        backend.queue(op, *answers)
    if op == "chat":
        backend.chat_stream = [adk_call(), HEARTBEAT, {"error": "model overloaded"}]
    args = [a.format(song=song, tmp=tmp_path) for a in argv]

    assert cli(*args) == code

    everything = output.all + "".join(capsys.readouterr())
    assert "Traceback" not in everything
    if argv != ["frobnicate"]:  # argparse reports that one itself, on stderr
        assert any(line.startswith("Error: ") for line in output.err.splitlines())


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "clients_under_test.reference", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "usage: nemo-client" in result.stdout
