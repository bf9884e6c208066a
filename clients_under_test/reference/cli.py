"""``nemo-client``: the command line of the reference client.

`main` takes its collaborators as keyword arguments (environment, HTTP client, clock, console,
input) so tests drive the whole command line without a network or a real clock.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx

from . import __version__
from .attribution import MUSIC_SKILL, load_skill, resolve_skill_path
from .client import NemoClient
from .clock import Clock, MockSleepClock, ScaledClock, SystemClock
from .commands import JOBS, run_job, show_credits, show_status
from .config import DEFAULT_API_URL, DEFAULT_WEB_URL, Settings
from .console import Console
from .errors import ExitCode, NemoClientError
from .repl import run_repl

__all__ = ["build_parser", "main"]

_EPILOG = f"""\
environment:
  NEMO_TOKEN       a registered account's token (else a free anonymous token is used)
  NEMO_CLIENT_ID   the client id for anonymous tokens (else a UUID kept in the config folder)
  NEMO_API_URL     backend URL (default {DEFAULT_API_URL})
  NEMO_WEB_URL     web app URL for links (default {DEFAULT_WEB_URL})
  SKILL_SOURCE     overrides the X-Skill-Platform header
  NEMO_TIME_SCALE  run the client's clock N times faster, to match `nemo-mock --clock scaled:N`
  NEMO_MOCK_SLEEP_URL  take every wait on the mock's clock (its POST /__mock/clock/sleep),
                   so a test suite knows each one exactly (set by nemo-contract, time: mock;
                   with NEMO_MOCK_ADMIN_TOKEN when that mock asks for its admin token)
  XDG_CONFIG_HOME  config folder parent (default ~/.config); state lives in <it>/nemovideo/

exit codes:
{ExitCode.describe()}
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nemo-client",
        description="Turn audio into video and video into MP3 with the NemoVideo cloud backend.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each request")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log each request (method, path, status; never tokens or bodies)",
    )
    with_skill = argparse.ArgumentParser(add_help=False, parents=[common])
    with_skill.add_argument(
        "--skill",
        default=MUSIC_SKILL,
        help="skill for the attribution headers and upload limits: music (default), video, "
        "or the path of a SKILL.md file",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, summary: str, parents: list[argparse.ArgumentParser]
    ) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=summary,
            parents=parents,
            epilog=_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    convert = add(
        "convert",
        "Turn a song into a shareable MP4 with a waveform visualizer and album art background: "
        "a new project, upload, render, download.",
        [common],
    )
    convert.add_argument("source", type=Path, metavar="SONG", help="audio file (≤ 200 MB)")
    convert.add_argument("--out", type=Path, help="where to save the MP4 (default: next to SONG)")
    convert.add_argument("--portrait", action="store_true", help="portrait 9:16 (1080x1920)")
    extract = add(
        "extract",
        "Extract the audio of a video as an MP3: a new project, upload, render, download.",
        [common],
    )
    extract.add_argument("source", type=Path, metavar="VIDEO", help="video file (≤ 500 MB)")
    extract.add_argument("--out", type=Path, help="where to save the MP3 (default: next to VIDEO)")
    chat = add("chat", "Send a request to the editing agent of the current project.", [with_skill])
    chat.add_argument("text", nargs="+", metavar="TEXT", help="what you want, in your words")
    upload = add("upload", "Upload files to the current project.", [with_skill])
    upload.add_argument("files", nargs="+", type=Path, metavar="FILE")
    add("status", "Show the current project's timeline.", [with_skill])
    add("credits", "Show your credit balance.", [with_skill])
    export = add(
        "export",
        "Render the current project, download the file, and print a link to open it in "
        "the browser.",
        [with_skill],
    )
    export.add_argument(
        "--format", choices=("mp4", "mp3"), default="mp4", help="video (default) or audio only"
    )
    export.add_argument("--out", type=Path, help="where to save (default: ./nemovideo-<id>.<fmt>)")
    add(
        "interactive",
        "A prompt: export, credits, status, upload FILE (English or Chinese keywords), "
        "anything else goes to the editing agent.",
        [with_skill],
    )
    return parser


def _clock(settings: Settings) -> Clock:
    if settings.sleep_url:
        return MockSleepClock(settings.time_scale, settings.sleep_url, settings.mock_admin_token)
    return SystemClock() if settings.time_scale == 1.0 else ScaledClock(settings.time_scale)


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    http: httpx.Client | None = None,
    clock: Clock | None = None,
    console: Console | None = None,
    read: Callable[[str], str] = input,
    home: Path | None = None,
    client_class: type[NemoClient] = NemoClient,
) -> int:
    """The command line. ``client_class`` builds the client: a subclass of `NemoClient` that
    swaps one of its parts is how the compatibility suite's broken variants are made."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error already printed
        return exit_.code if isinstance(exit_.code, int) else ExitCode.USAGE
    console = console if console is not None else Console(verbose=args.verbose)
    console.verbose = console.verbose or args.verbose
    try:
        settings = Settings.from_env(os.environ if env is None else env, home=home)
        job = JOBS.get(args.command)
        skill = load_skill(resolve_skill_path(job.skill if job else args.skill))
        transport = contextlib.nullcontext(http) if http is not None else _real_http()
        with transport as client_http:
            client = client_class(
                client_http,
                clock or _clock(settings),
                settings=settings,
                console=console,
                skill=skill,
            )
            return _run(client, args, read)
    except NemoClientError as error:
        console.error(str(error))
        return error.exit_code
    except KeyboardInterrupt:
        console.error("Interrupted. Work already sent keeps running on NemoVideo's side.")
        return ExitCode.INTERRUPTED
    except Exception as error:  # the promise: a message and an exit code, never a traceback
        console.error(
            f"Internal error ({type(error).__name__}). Run again with --verbose, and please "
            "report it."
        )
        console.debug(f"{type(error).__name__}: {error}")
        return ExitCode.UNEXPECTED


def _run(client: NemoClient, args: argparse.Namespace, read: Callable[[str], str]) -> int:
    command = args.command
    if command in JOBS:
        run_job(
            client, JOBS[command], args.source, args.out, portrait=getattr(args, "portrait", False)
        )
    elif command == "chat":
        client.chat(" ".join(args.text))
    elif command == "upload":
        client.upload(args.files)
    elif command == "status":
        show_status(client)
    elif command == "credits":
        show_credits(client)
    elif command == "export":
        client.export(args.format, args.out)
    elif command == "interactive":
        return run_repl(client, read)
    return ExitCode.OK


def _real_http() -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(30.0, read=120.0),
        follow_redirects=True,  # httpx drops Authorization on a redirect to another host
        headers={"User-Agent": f"nemo-client/{__version__} (reference)"},
    )
