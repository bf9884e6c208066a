"""Obligations: the documented rules a client must follow, each a small named check.

A check reads the `Evidence` of one run and returns a `Verdict`. It never passes vacuously:
when what it judges did not happen (no 429 was answered, no render was polled), it says
"not exercised" and why, and the scenario's trigger decides whether that is a failure.

`registry` holds the register and what the checks share; each other module is a section of the
documents' rules, and importing it registers its checks.
"""

from __future__ import annotations

# registered in the order the documents' rules are listed in (the reports list them so)
# isort: off
from . import every_run, tokens, renders, stream  # noqa: F401
# isort: on
from .registry import OBLIGATIONS, Obligation, judge

__all__ = ["OBLIGATIONS", "Obligation", "judge"]
