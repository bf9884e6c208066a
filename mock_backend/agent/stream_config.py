"""How a run's stream is shaped and which failures it is scripted to play: `StreamSettings` and
`StreamFaults`, checked as they are made, and the errors a bad one raises.

Apart from stream.py so that what only describes a stream (the control API, rules and overrides
build `StreamFaults` from JSON) loads without the agent's planning and streaming machinery,
which the mock imports when its first run starts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..errors import MockBackendError
from .events import Shape

__all__ = [
    "MAX_RUN_SECONDS",
    "InvalidStreamConfig",
    "StreamError",
    "StreamFaults",
    "StreamSettings",
]

MAX_RUN_SECONDS = 900.0  # "up to 15 min" (seed), `--max-time 900` (v1.9)


class StreamError(MockBackendError):
    """A `Run` used out of order (started twice, a second listener, awaited before start)."""


class InvalidStreamConfig(StreamError, TypeError, ValueError):
    """`StreamSettings` or `StreamFaults` with a field of the wrong type or out of range.

    Also a TypeError and a ValueError, so that code building them from JSON can catch either.
    """


def _number(owner: object, name: str, *, positive: bool = False, optional: bool = False) -> None:
    value = getattr(owner, name)
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidStreamConfig(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise InvalidStreamConfig(f"{name} must be {'above' if positive else 'at least'} 0")


def _index(owner: object, name: str) -> None:
    value = getattr(owner, name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise InvalidStreamConfig(f"{name} must be an event index (0 or more) or null")


@dataclass(frozen=True)
class StreamSettings:
    shape: Shape = "adk"
    heartbeat_every: float = 15.0  # virtual seconds of silence before a heartbeat
    empty_line_probability: float = 0.25  # heartbeats sent as an empty ``data:`` line
    max_duration: float = MAX_RUN_SECONDS

    def __post_init__(self) -> None:
        if self.shape not in ("adk", "legacy"):
            raise InvalidStreamConfig(f"shape must be adk or legacy, got {self.shape!r}")
        _number(self, "heartbeat_every", positive=True)
        _number(self, "max_duration", positive=True)
        _number(self, "empty_line_probability")
        if self.empty_line_probability > 1:
            raise InvalidStreamConfig("empty_line_probability must be between 0 and 1")


@dataclass(frozen=True)
class StreamFaults:
    """Scripted failures. Event indexes count the plan's events from 0 (heartbeats excluded) and
    are clamped to the last event, so a fault always fires."""

    heartbeats_only_for: float = 0.0  # the plan starts this many virtual seconds late
    stall_after: float | None = None  # virtual seconds after the start of the run…
    stall_for: float = 0.0  # …nothing at all is sent, and the plan waits, for this long
    cut_at_event: int | None = None  # half of this event's bytes, then the stream closes
    malformed_at_event: int | None = None  # a non-JSON ``data:`` line just before this event
    error_at_event: int | None = None  # an error event instead of this one; the run fails
    error_message: str = "The agent run failed: internal error"
    buffered: bool = False  # nothing reaches the listener until the run ends, then all at once

    @classmethod
    def from_dict(cls, raw: object, where: str = "body") -> StreamFaults:
        """From JSON (the control API, a rule's ``respond.stream``): an unknown field or a
        value of the wrong type is an `InvalidStreamConfig` naming it."""
        if not isinstance(raw, dict):
            raise InvalidStreamConfig(f"{where}: an object of stream faults, got {raw!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise InvalidStreamConfig(
                f"{where}: unknown fault fields {unknown}; known: {sorted(known)}"
            )
        try:
            return cls(**raw)
        except InvalidStreamConfig as exc:
            raise InvalidStreamConfig(f"{where}: {exc}") from None

    @property
    def quiet_seconds(self) -> float:
        """Virtual seconds of the run in which no real event is sent: heartbeats only before
        the plan starts, then a stall (when one is set to begin): what a listener waits through
        for nothing but heartbeats, or nothing at all."""
        return self.heartbeats_only_for + (self.stall_for if self.stall_after is not None else 0.0)

    def __post_init__(self) -> None:
        _number(self, "heartbeats_only_for")
        _number(self, "stall_after", optional=True)
        _number(self, "stall_for")
        for name in ("cut_at_event", "malformed_at_event", "error_at_event"):
            _index(self, name)
        if not isinstance(self.error_message, str) or not self.error_message:
            raise InvalidStreamConfig("error_message must be a non-empty string")
        if not isinstance(self.buffered, bool):
            raise InvalidStreamConfig(f"buffered must be true or false, got {self.buffered!r}")
