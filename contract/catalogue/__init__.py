"""The client scenarios: a mock setup, a job for the client, and the obligations judged after.

Every scenario runs on a mock of its own (its own seed and clock), so scenarios run in parallel
without seeing each other. ``setup`` entries are what ``POST /__mock/scenarios`` takes (a named
scenario, optionally narrowed by ``match``, or an explicit ``rule``). ``trigger`` names the rule
that must have fired for the scenario to count: if it never fired (the client never reached that
step), the scenario is reported as not exercised instead of passed.
"""

from __future__ import annotations

from . import accounts, files, jobs, limits, renders, stream
from .scenario import ALWAYS, ClientScenario, Step

__all__ = ["ALWAYS", "CATALOGUE", "ClientScenario", "Step"]

# in the matrix's order: the jobs first, then each documented rule's edge cases
SCENARIOS: list[ClientScenario] = [
    *jobs.SCENARIOS,
    *accounts.SCENARIOS,
    *files.SCENARIOS,
    *limits.SCENARIOS,
    *renders.SCENARIOS,
    *stream.SCENARIOS,
]

CATALOGUE: dict[str, ClientScenario] = {s.id: s for s in SCENARIOS}
