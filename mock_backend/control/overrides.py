"""`Overrides`: what the rules fired for one request change in how it is answered.

Built by `effects.apply_effects` from each fired rule's per-request `Effect`s and its
``respond.stream``; the app reads ``rest_statuses``, and the handlers read the rest through
`Call.overrides` and hand them to the runs and renders as plain arguments. Effects on the
backend's state (drain the credits, expire the token...) are not here: they are done at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..agent.stream_config import StreamFaults

__all__ = ["NO_OVERRIDES", "Overrides"]


@dataclass(frozen=True)
class Overrides:
    silent_close: bool = False  # the run closes with no text: tool events only
    trailing_issue: bool = False  # the reply ends with "I encountered a temporary issue"
    legacy_shape: bool = False  # the run's events in the flat legacy shape
    slow_render: bool = False  # the render takes 250-290 s
    fail_render: bool = False  # the render fails
    lose_render: bool = False  # the render job vanishes after submission: polls answer 404
    break_output_url: bool = False  # the render's output.url leads nowhere
    rest_statuses: bool = False  # business codes travel with REST statuses
    stream: StreamFaults | None = None  # faults of the run this request starts


NO_OVERRIDES = Overrides()
