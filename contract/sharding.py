"""Splitting the selected scenarios across CI runners: ``--shard I/N``, 1-based.

The partition depends only on the selection (the scenarios and their definitions), never on run
order, timing or the machine, so N runners that each compute their own slice cover every scenario
exactly once. The catalogue states no cost, so one is estimated from what a scenario asks of the
client: a render job (convert, extract, export) encodes media and polls a render for minutes of
backend time, and each further step is another command. Scenarios are sorted by that estimate
(dearest first, then by id) and dealt out like cards in a snake (1..N, N..1, ...): every shard gets
the same number of scenarios give or take one, and the renders are spread evenly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .catalogue import ClientScenario

__all__ = ["RENDER_JOBS", "WHOLE", "Shard", "cost", "partition"]

RENDER_JOBS = frozenset({"convert", "extract", "export"})
_FORM = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ValueError(
                f"shard {self.index}/{self.count}: I/N needs 1 <= I <= N (I counts from 1)"
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"2/3"`` → ``Shard(2, 3)``; anything else is a ValueError saying what is expected."""
        match = _FORM.fullmatch(text)
        if not match:
            raise ValueError(f"{text!r} is not I/N (e.g. 2/3: the second of three shards)")
        return cls(int(match[1]), int(match[2]))

    def pick(self, scenarios: Sequence[ClientScenario]) -> list[ClientScenario]:
        """This shard's scenarios, in the order they were given (the catalogue's)."""
        mine = {s.id for s in partition(scenarios, self.count)[self.index - 1]}
        return [s for s in scenarios if s.id in mine]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


WHOLE = Shard(1, 1)  # an unsharded run


def cost(scenario: ClientScenario) -> tuple[int, int]:
    """The estimated cost: (render jobs, steps), compared as a tuple."""
    return (sum(step.job in RENDER_JOBS for step in scenario.steps), len(scenario.steps))


def partition(scenarios: Sequence[ClientScenario], count: int) -> list[list[ClientScenario]]:
    """``count`` shards of ``scenarios`` (0-based list): each scenario in exactly one."""
    if count < 1:
        raise ValueError(f"cannot split into {count} shards")
    if len({s.id for s in scenarios}) != len(scenarios):
        raise ValueError("a scenario is selected twice")
    ranked = sorted(scenarios, key=lambda s: (tuple(-c for c in cost(s)), s.id))
    shards: list[list[ClientScenario]] = [[] for _ in range(count)]
    for n, scenario in enumerate(ranked):
        turn, seat = divmod(n, count)
        shards[seat if turn % 2 == 0 else count - 1 - seat].append(scenario)
    return shards
