"""`nemo-contract merge`: the shards of a run, merged, are the unsharded run."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from contract.cli import main
from contract.errors import MergeError, NemoContractError
from contract.merge import ShardReport, merge
from contract.report import RunInfo, write_reports
from contract.sharding import Shard

REFERENCE = Path(__file__).resolve().parents[2] / "clients_under_test" / "reference" / "client.yaml"
# quick scenarios (no render): five, so three shards get 1, 2 and 2
ONLY = ["--only", "error:429", "--only", "credits-display", "--only", "err-1001-rest"]
REPORTS = ("junit.xml", "matrix.md", "matrix.html", "matrix.json")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One unsharded run of the reference client and its three shards, each really run."""
    root = tmp_path_factory.mktemp("runs")
    folders = {"all": root / "all", **{f"{i}/3": root / f"shard-{i}" for i in (1, 2, 3)}}
    for name, out in folders.items():
        shard = [] if name == "all" else ["--shard", name]
        code = main(["client", "--manifest", str(REFERENCE), *ONLY, *shard, "--out", str(out)])
        assert code == 0, name
    return folders


def _json(folder: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((folder / "matrix.json").read_text(encoding="utf-8"))
    return document


def _verdicts(document: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (r["scenario"], v["obligation"]): v["status"]
        for r in document["results"]
        for v in r["verdicts"]
    }


def _junit(folder: Path) -> tuple[dict[str, str | None], list[tuple[str | None, ...]]]:
    suite = ET.parse(folder / "junit.xml").getroot()
    head = {k: suite.get(k) for k in ("name", "tests", "failures", "skipped")}
    cases = [
        (
            c.get("name"),
            c.get("classname"),
            "failure" if c.find("failure") is not None else None,
            "skipped" if c.find("skipped") is not None else None,
        )
        for c in suite.iter("testcase")
    ]
    return head, cases


def _table(folder: Path) -> list[str]:
    return [
        line for line in (folder / "matrix.md").read_text().splitlines() if line.startswith("|")
    ]


def test_each_shard_records_which_shard_and_scenarios_it_covered(runs: dict[str, Path]) -> None:
    whole = _json(runs["all"])
    assert whole["shard"] == {"index": 1, "count": 1}
    assert whole["scenarios"] == whole["selection"]
    covered = []
    for i in (1, 2, 3):
        document = _json(runs[f"{i}/3"])
        assert document["shard"] == {"index": i, "count": 3}
        assert document["selection"] == whole["selection"]
        assert document["scenarios"] == [r["scenario"] for r in document["results"]]
        covered += document["scenarios"]
        suite = ET.parse(runs[f"{i}/3"] / "junit.xml").getroot()
        assert suite.get("name") == f"nemo-contract client: reference (shard {i}/3)"
        assert [(p.get("name"), p.get("value")) for p in suite.iter("property")] == [
            ("shard", f"{i}/3")
        ]
        assert (
            f"Shard {i}/3 of the selected scenarios" in (runs[f"{i}/3"] / "matrix.md").read_text()
        )
    assert sorted(covered) == sorted(whole["selection"])
    assert [len(_json(runs[f"{i}/3"])["scenarios"]) for i in (1, 2, 3)] == [1, 2, 2]


def test_the_merged_shards_equal_the_unsharded_run(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shards = [str(runs[f"{i}/3"]) for i in (3, 1, 2)]  # any order
    assert main(["merge", *shards, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "merged shards 3/3 (2, " in out
    assert "reference: 5 passed, 0 failed, 0 not exercised (5 scenarios" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(REPORTS)

    # what must differ between two runs is timing (wall, virtual times, measured gaps): the
    # verdicts, outcomes, the matrix and the shape of every report must not
    merged, whole = _json(tmp_path), _json(runs["all"])
    for key in ("client", "catalogue", "run", "selection", "shard", "scenarios", "summary"):
        assert merged[key] == whole[key], key
    assert merged["matrix"] == whole["matrix"]
    assert _verdicts(merged) == _verdicts(whole)
    assert [(r["scenario"], r["outcome"]) for r in merged["results"]] == [
        (r["scenario"], r["outcome"]) for r in whole["results"]
    ]
    assert _junit(tmp_path) == _junit(runs["all"])
    assert _table(tmp_path) == _table(runs["all"])
    html = (tmp_path / "matrix.html").read_text()
    assert "Shard " not in html
    assert html.count("<section id=") == 5


def test_merging_writes_exactly_what_an_unsharded_run_writes(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    # the same results, split by the partition and merged back: every report byte for byte
    info, results = merge([ShardReport.load(runs["all"])])
    folders = []
    for i in (1, 2, 3):
        shard = Shard(i, 3)
        mine = {s.id for s in shard.pick([r.scenario for r in results])}
        folders.append(tmp_path / f"shard-{i}")
        write_reports(
            [r for r in results if r.scenario.id in mine],
            folders[-1],
            RunInfo(**{**info.__dict__, "shard": shard}),
        )
    assert main(["merge", *map(str, folders), "--out", str(tmp_path / "merged")]) == 0
    for name in REPORTS:
        assert (tmp_path / "merged" / name).read_bytes() == (runs["all"] / name).read_bytes(), name


def _merge_error(folders: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    out = tmp_path / "merged"
    assert main(["merge", *map(str, folders), "--out", str(out)]) == 2
    assert not out.exists(), "nothing is written when the shards do not add up"
    err = capsys.readouterr().err
    assert err.startswith("nemo-contract merge: ")
    return err


def test_a_missing_shard_names_the_shard_and_its_scenarios(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _merge_error([runs["1/3"], runs["2/3"]], tmp_path, capsys)
    assert "missing shard(s): 3/3" in err
    lost = ", ".join(_json(runs["3/3"])["scenarios"])
    assert f"2 selected scenario(s) in no report: {lost}" in err


def test_a_shard_given_twice_names_it_and_the_scenarios_it_repeats(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy-of-2"
    shutil.copytree(runs["2/3"], copy)
    err = _merge_error([runs["1/3"], runs["2/3"], runs["3/3"], copy], tmp_path, capsys)
    assert f"shard 2/3 given 2 times: {runs['2/3']}, {copy}" in err
    repeated = ", ".join(_json(runs["2/3"])["scenarios"])
    assert (
        f"2 scenario(s) in more than one report ({runs['2/3']} [2/3], {copy} [2/3]): {repeated}"
    ) in err


def test_shards_of_different_splits_overlap_and_are_refused(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _merge_error([runs["all"], runs["1/3"]], tmp_path, capsys)
    assert "the reports split the run differently" in err


def test_reports_of_different_clients_are_refused(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    shutil.copytree(runs["3/3"], other)
    document = _json(other)
    document["client"] = "someone-else"
    (other / "matrix.json").write_text(json.dumps(document), encoding="utf-8")
    err = _merge_error([runs["1/3"], runs["2/3"], other], tmp_path, capsys)
    assert "the reports are of different client:" in err
    assert f'{other}: "someone-else"' in err


def test_reports_of_different_selections_or_seeds_are_refused(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    shutil.copytree(runs["3/3"], other)
    document = _json(other)
    document["run"]["seed"] = 9
    document["selection"] = document["selection"][:-1]
    (other / "matrix.json").write_text(json.dumps(document), encoding="utf-8")
    err = _merge_error([runs["1/3"], runs["2/3"], other], tmp_path, capsys)
    assert "different run options (seed, scale, min-scale, mode)" in err
    assert "different selection (--only)" in err


def test_a_folder_without_a_report_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    err = _merge_error([tmp_path / "empty"], tmp_path, capsys)
    assert "no matrix.json" in err


def test_a_failing_scenario_in_a_shard_makes_the_merge_exit_1(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = tmp_path / "failing"
    shutil.copytree(runs["1/3"], failing)
    document = _json(failing)
    document["results"][0]["outcome"] = "fail"
    document["results"][0]["reason"] = "made to fail"
    (failing / "matrix.json").write_text(json.dumps(document), encoding="utf-8")
    out = tmp_path / "merged"
    assert main(["merge", str(failing), str(runs["2/3"]), str(runs["3/3"]), "--out", str(out)]) == 1
    assert "made to fail" in capsys.readouterr().out
    assert ET.parse(out / "junit.xml").getroot().get("failures") == "1"


def test_merge_errors_are_nemo_contract_errors() -> None:
    assert issubclass(MergeError, NemoContractError)
    with pytest.raises(MergeError, match="no reports to merge"):
        merge([])
