"""Merging the reports of shard runs (``nemo-contract client --shard I/N``) into one run's.

Each shard's ``matrix.json`` (see `contract.report`) is read back into `ScenarioResult`s, after
checking that the shards belong together: the same client, catalogue, run options, selection and
shard count, every selected scenario covered exactly once. The merged results, in the
selection's order, are what an unsharded run would have returned, and are written by the same
report writers, so the merged reports are an unsharded run's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalogue import CATALOGUE
from .errors import MergeError
from .evidence import Timing, Verdict
from .report import FORMAT, VERSION, RunInfo, catalogue_fingerprint
from .runner import ScenarioResult
from .sharding import Shard

__all__ = ["REPORT", "ShardReport", "merge", "result_from_json"]

REPORT = "matrix.json"


@dataclass(frozen=True)
class ShardReport:
    """One run's ``matrix.json``, as read from ``folder``."""

    folder: Path
    document: dict[str, Any]

    @classmethod
    def load(cls, folder: Path) -> ShardReport:
        path = folder / REPORT if folder.is_dir() else folder
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MergeError(
                f"{folder}: no {REPORT} (a folder `nemo-contract client --out` wrote)"
            ) from None
        except (OSError, ValueError) as exc:
            raise MergeError(f"{path}: cannot read it ({exc})") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise MergeError(f"{path}: not a nemo-contract client report")
        if document.get("version") != VERSION:
            raise MergeError(
                f"{path}: report version {document.get('version')}, this nemo-contract reads "
                f"version {VERSION}"
            )
        return cls(folder, document)

    @property
    def shard(self) -> Shard:
        raw = self.document["shard"]
        return Shard(int(raw["index"]), int(raw["count"]))

    @property
    def scenarios(self) -> list[str]:
        return [str(s) for s in self.document["scenarios"]]

    def results(self) -> list[ScenarioResult]:
        return [result_from_json(item) for item in self.document["results"]]


def merge(reports: Sequence[ShardReport]) -> tuple[RunInfo, list[ScenarioResult]]:
    """The run the shards make up, and its results in the selection's order; a `MergeError`
    naming every problem (different runs, missing or duplicated shards and scenarios)."""
    if not reports:
        raise MergeError("no reports to merge")
    first = reports[0]
    problems: list[str] = []
    for key, what in [
        ("client", "client"),
        ("catalogue", "catalogue"),
        ("run", "run options (seed, scale, min-scale, mode)"),
        ("selection", "selection (--only)"),
    ]:
        values = {json.dumps(r.document.get(key), sort_keys=True) for r in reports}
        if len(values) > 1:
            listed = "; ".join(f"{r.folder}: {_short(r.document.get(key))}" for r in reports)
            problems.append(f"the reports are of different {what}: {listed}")
    if first.document.get("catalogue") != catalogue_fingerprint():
        problems.append(
            f"the reports were made with another catalogue than this nemo-contract's "
            f"({first.document.get('catalogue')} here {catalogue_fingerprint()}): merge with the "
            "version that ran them"
        )
    counts = {r.shard.count for r in reports}
    if len(counts) > 1:
        listed = ", ".join(f"{r.folder}: {r.shard}" for r in reports)
        problems.append(f"the reports split the run differently: {listed}")
    if problems:
        raise MergeError("\n".join(problems))

    selection = [str(s) for s in first.document["selection"]]
    unknown = [s for s in selection if s not in CATALOGUE]
    if unknown:
        raise MergeError(f"scenarios this catalogue does not have: {', '.join(unknown)}")
    count = counts.pop()
    by_index: dict[int, list[ShardReport]] = {}
    for report in reports:
        by_index.setdefault(report.shard.index, []).append(report)
        if report.scenarios != [r["scenario"] for r in report.document["results"]]:
            problems.append(f"{report.folder}: its scenario list and its results disagree")
    for index, same in sorted(by_index.items()):
        if len(same) > 1:
            folders = ", ".join(str(r.folder) for r in same)
            problems.append(f"shard {index}/{count} given {len(same)} times: {folders}")
    missing_shards = [i for i in range(1, count + 1) if i not in by_index]
    if missing_shards:
        problems.append("missing shard(s): " + ", ".join(f"{i}/{count}" for i in missing_shards))
    seen: dict[str, list[ShardReport]] = {}
    for report in reports:
        for sid in report.scenarios:
            seen.setdefault(sid, []).append(report)
    # grouped by the reports they are in: a shard given twice is one line, not one per scenario
    duplicated: dict[tuple[str, ...], list[str]] = {}
    for sid, where in seen.items():
        if len(where) > 1:
            duplicated.setdefault(tuple(f"{r.folder} [{r.shard}]" for r in where), []).append(sid)
    for places, sids in duplicated.items():
        problems.append(
            f"{len(sids)} scenario(s) in more than one report ({', '.join(places)}): "
            + ", ".join(sids)
        )
    missing = [sid for sid in selection if sid not in seen]
    if missing:
        problems.append(f"{len(missing)} selected scenario(s) in no report: {', '.join(missing)}")
    extra = [sid for sid in seen if sid not in selection]
    if extra:
        problems.append(f"scenario(s) reported but never selected: {', '.join(extra)}")
    if problems:
        raise MergeError("\n".join(problems))

    results = {r.scenario.id: r for report in reports for r in report.results()}
    run = first.document["run"]
    info = RunInfo(
        client=str(first.document["client"]),
        selection=tuple(selection),
        seed=int(run["seed"]),
        scale=float(run["scale"]),
        min_scale=float(run["min_scale"]),
        mode=str(run["mode"]),
    )
    return info, [results[sid] for sid in selection]


def result_from_json(item: dict[str, Any]) -> ScenarioResult:
    """A result as `contract.report.result_as_json` wrote it."""
    fields = dict(item)
    scenario = CATALOGUE[fields.pop("scenario")]
    fields["verdicts"] = [
        Verdict(
            obligation=v["obligation"],
            status=v["status"],
            detail=v["detail"],
            refs=tuple(v["refs"]),
            timing=Timing(**v["timing"]) if v.get("timing") else None,
        )
        for v in fields["verdicts"]
    ]
    return ScenarioResult(scenario=scenario, **fields)


def _short(value: object) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."
