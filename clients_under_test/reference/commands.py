"""What each command does, shared by the command line and the interactive prompt: the two jobs
of the skill documents (convert, extract) and the status and credits views."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .attribution import MUSIC_SKILL, VIDEO_SKILL
from .client import NemoClient
from .files import check_upload
from .timeline import summarize

__all__ = ["JOBS", "Job", "default_output", "run_job", "show_credits", "show_status"]


@dataclass(frozen=True)
class Job:
    skill: str
    prompt: str
    format: str


JOBS = {
    "convert": Job(
        MUSIC_SKILL,
        "convert this audio track into a shareable video with a waveform visualizer and album "
        "art background",
        "mp4",
    ),
    "extract": Job(VIDEO_SKILL, "extract the audio from this video as an MP3 file", "mp3"),
}
PORTRAIT = ", in portrait 9:16 format (1080x1920)"


def default_output(source: Path, fmt: str) -> Path:
    """Next to the input, with the output's extension (never the input itself)."""
    target = source.with_suffix(f".{fmt}")
    return target if target != source else source.with_name(f"{source.stem}-nemo.{fmt}")


def run_job(
    client: NemoClient, job: Job, source: Path, out: Path | None, *, portrait: bool = False
) -> Path:
    """Setup → upload → the job's request → export → download, in a new project."""
    check_upload(source, client.upload_rules)  # before spending a session on a bad file
    client.new_session()
    client.upload([source])
    client.chat(job.prompt + (PORTRAIT if portrait else ""))
    return client.export(job.format, out if out is not None else default_output(source, job.format))


def show_status(client: NemoClient) -> None:
    if not client.has_session:
        client.console.say(
            "No project yet: start with `nemo-client upload FILE` or `nemo-client chat TEXT`."
        )
        return
    state = client.state()
    if state.task_name:
        client.console.say(f"Project: {state.task_name}")
    client.console.say(summarize(state.draft))


def show_credits(client: NemoClient) -> None:
    balance = client.credits()
    client.console.say(
        f"Credits: {_amount(balance.available)} available "
        f"({_amount(balance.frozen)} reserved for work in progress, {_amount(balance.total)} total)"
    )


def _amount(value: float) -> str:
    """1234567 → '1234567' (never '1.23457e+06'); a fraction keeps two decimals."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
