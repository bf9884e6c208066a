"""What a client scenario is: a mock setup, a job for the client, and the obligations judged
after; and the few pieces the scenario tables share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ALWAYS",
    "CONVERT",
    "EDIT",
    "EXTRACT",
    "MP3_FILE",
    "RENDER",
    "VIDEO_FILE",
    "ClientScenario",
    "Step",
    "named",
    "scenario",
]

# Judged on every run: the rules that hold whatever the job.
ALWAYS = (
    "attribution_headers",
    "no_token_in_url",
    "no_token_in_output",
    "no_raw_api_output",
    "actionable_failure",
    "no_resend",
    "no_endless_loop",
)


@dataclass(frozen=True)
class Step:
    job: str  # convert | extract | chat | credits | status | export | upload
    text: str = ""  # chat
    input: str = ""  # song | clip | cover | notes (a generated file) for convert/extract/upload
    format: str = "mp4"  # export


@dataclass(frozen=True)
class ClientScenario:
    id: str
    rule: str  # the documented rule, as the matrix groups scenarios
    title: str
    steps: tuple[Step, ...]
    obligations: tuple[str, ...]
    setup: tuple[dict[str, Any], ...] = ()
    trigger: str | None = None  # a rule name that must fire ("token-expired"), or None
    expect: str = "success"  # success | failure | any
    about: str | None = None  # a failure's message must match this (what went wrong)
    registered: dict[str, Any] | None = None  # NEMO_TOKEN: options for POST /__mock/tokens
    settings: dict[str, Any] = field(default_factory=dict)  # mock Settings overrides
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-obligation parameters

    @property
    def all_obligations(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*ALWAYS, *self.obligations]))

    @property
    def quiet_stream(self) -> float:
        """The most virtual seconds a rule of the setup keeps a chat stream without a real event
        (`StreamFaults.quiet_seconds`), the setup read as the mock reads it (`ScenarioBook`)."""
        # imported here: reading the catalogue loads none of the mock's server
        from mock_backend.control.scenarios import ScenarioBook
        from mock_backend.openapi.spec import load_spec

        book = ScenarioBook(set(load_spec().operations))
        rules = [rule for request in self.setup for rule in book.build(request)]
        return max(
            (r.respond.stream.faults.quiet_seconds for r in rules if r.respond.stream is not None),
            default=0.0,
        )


CONVERT = Step("convert", input="song")
EXTRACT = Step("extract", input="clip")
EDIT = "add a title 'Summer Nights'"
VIDEO_FILE = {"output_file_valid": {"kinds": ["audio", "video"]}}
MP3_FILE = {"output_file_valid": {"kinds": ["audio"]}}
RENDER = ("polls_30s_apart", "at_most_10_polls")


def scenario(
    id: str,
    rule: str,
    title: str,
    steps: tuple[Step, ...] | Step,
    obligations: tuple[str, ...],
    **kw: Any,
) -> ClientScenario:
    return ClientScenario(
        id, rule, title, steps if isinstance(steps, tuple) else (steps,), obligations, **kw
    )


def named(name: str, **match: Any) -> tuple[dict[str, Any], ...]:
    request: dict[str, Any] = {"name": name}
    if match:
        request["match"] = match
    return (request,)
