"""`--shard I/N`: every selected scenario in exactly one shard, the same on every machine."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from contract.catalogue import CATALOGUE
from contract.cli import main
from contract.runner import select
from contract.sharding import RENDER_JOBS, Shard, partition

REFERENCE = Path(__file__).resolve().parents[2] / "clients_under_test" / "reference" / "client.yaml"
SCENARIOS = list(CATALOGUE.values())


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, len(SCENARIOS), len(SCENARIOS) + 3])
def test_every_scenario_lands_in_exactly_one_shard_and_sizes_differ_by_at_most_one(
    count: int,
) -> None:
    shards = partition(SCENARIOS, count)
    assert len(shards) == count
    placed = Counter(s.id for shard in shards for s in shard)
    assert placed == Counter(list(CATALOGUE))
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 1
    renders = [sum(any(st.job in RENDER_JOBS for st in s.steps) for s in sh) for sh in shards]
    assert max(renders) - min(renders) <= 1, renders


@pytest.mark.parametrize("count", [2, 3, 5])
def test_the_partition_does_not_depend_on_the_order_scenarios_come_in(count: int) -> None:
    expected = [[s.id for s in shard] for shard in partition(SCENARIOS, count)]
    shuffled = SCENARIOS[:]
    random.Random(7).shuffle(shuffled)
    assert [[s.id for s in shard] for shard in partition(shuffled, count)] == expected


def test_a_shard_picks_its_slice_in_catalogue_order_and_the_slices_add_up() -> None:
    selection = select(["sse", "error:429"])
    picked = [Shard(i, 3).pick(selection) for i in (1, 2, 3)]
    for slice_ in picked:
        order = [selection.index(s) for s in slice_]
        assert order == sorted(order)
    assert sorted(s.id for sl in picked for s in sl) == sorted(s.id for s in selection)


def test_the_partition_is_pinned() -> None:
    # the same slices on every machine and every version that does not change this rule: a
    # change here means shards from older and newer runs would not merge
    selection = select(["error:429", "credits-display"])
    assert [[s.id for s in Shard(i, 3).pick(selection)] for i in (1, 2, 3)] == [
        ["credits-display"],
        ["err-429"],
        ["err-429-twice", "err-429-ip"],
    ]


@pytest.mark.parametrize(
    ("text", "shard"), [("1/3", Shard(1, 3)), ("3/3", Shard(3, 3)), (" 2 / 5 ", Shard(2, 5))]
)
def test_shard_parses_one_based_i_of_n(text: str, shard: Shard) -> None:
    assert Shard.parse(text) == shard
    assert str(shard) == text.replace(" ", "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0/3", "1 <= I <= N (I counts from 1)"),
        ("4/3", "1 <= I <= N"),
        ("1/0", "1 <= I <= N"),
        ("x", "is not I/N"),
        ("-1/3", "is not I/N"),
        ("1/2/3", "is not I/N"),
        ("", "is not I/N"),
    ],
)
def test_a_bad_shard_is_a_usage_error(
    text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["client", "--manifest", str(REFERENCE), f"--shard={text}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --shard" in err
    assert message in err


def test_the_help_says_shards_count_from_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["client", "--help"])
    assert "I counting from 1" in " ".join(capsys.readouterr().out.split())
