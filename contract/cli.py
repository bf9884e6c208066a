"""``nemo-contract``: verify a client against the documents, or a provider against the contract."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .adapters import InProcessAdapter, Manifest, ManifestError, adapter_for
from .catalogue import CATALOGUE
from .errors import MergeError
from .obligations import OBLIGATIONS
from .report import MARK, RunInfo, summary, write_reports
from .runner import DEFAULT_SCALE, ScenarioResult, run_catalogue
from .sharding import WHOLE, Shard
from .targets import ADMIN_TOKEN_ENV, SharedMock, SharedMockUnreachable

__all__ = ["main"]

EPILOG = """\
examples:
  nemo-contract list
  nemo-contract client --manifest clients_under_test/reference/client.yaml
  nemo-contract client --manifest my-client.yaml --only error:429 --only sse --jobs 4
  nemo-contract client --manifest my-client.yaml --shard 2/3 --out reports/shard-2
  nemo-contract client --manifest my-client.yaml --mock-url http://mock:8000 --shard 1/4
  nemo-contract merge reports/shard-1 reports/shard-2 reports/shard-3 --out reports/all
  nemo-contract provider --base-url http://127.0.0.1:8000
  nemo-contract drift --recording rec/ --out reports/drift

exit codes: 0 every scenario passed (drift: none found); 1 a scenario failed or was not
exercised (drift: drift found); 2 usage error, or the --mock-url mock does not answer
(for merge: also reports that do not make up one whole run).
"""


# per operation and phase. Many operations run out of distinct cases long before (getCredits
# stops at 38), so cases grow slower than examples: 20 gave 1,719 cases, 400 gave 13,359 in
# 6.9 min (2026-12-02, against nemo-mock --seed 1); 1000 gave 32,630 (eight passes)
LONG_EXAMPLES = 1000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nemo-contract",
        description="The NemoVideo compatibility suite: judge a client by the documents' rules "
        "against the mock, or a provider (any server) against openapi.yaml.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    client = sub.add_parser(
        "client",
        help="run the scenario catalogue against a client",
        description="Run every scenario (or those --only names) against the client the manifest "
        "describes, each on a private mock (or a namespace of its own on a shared one: "
        "--mock-url), and write JUnit XML, Markdown and HTML "
        "compatibility matrices, and matrix.json (everything, for `merge` and scripts).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    client.add_argument("--manifest", type=Path, required=True, help="the client's client.yaml")
    client.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="a scenario id, a rule (error:429) or a family (sse); repeatable",
    )
    client.add_argument(
        "--shard",
        type=_shard,
        metavar="I/N",
        help="run only the I-th of N slices of the selected scenarios, I counting from 1 "
        "(1/3, 2/3, 3/3; Kubernetes: $((JOB_COMPLETION_INDEX + 1))/N). Each scenario is in "
        "exactly one slice, the same on every machine; `merge` joins the slices' reports",
    )
    client.add_argument("--jobs", type=int, default=4, help="scenarios at a time (default: 4)")
    client.add_argument(
        "--out",
        type=Path,
        default=Path("nemo-contract-report"),
        help="report folder (default: ./nemo-contract-report)",
    )
    client.add_argument(
        "--mode",
        choices=["auto", "inprocess", "subprocess"],
        default="auto",
        help="auto: in-process when the manifest names a Python entry point",
    )
    client.add_argument(
        "--scale",
        type=float,
        default=DEFAULT_SCALE,
        help="virtual seconds per wall second to start at (default: %(default)g). A timing "
        "verdict the measured noise could decide (the client's own overhead and the machine's "
        "lag, times the scale) is run again at a lower scale, down to --min-scale",
    )
    client.add_argument(
        "--min-scale",
        type=float,
        default=1.0,
        help="the lowest scale a noisy verdict is re-run at (default: 1, real time); below "
        "it, a verdict still inside the noise fails as undecided, never passes",
    )
    client.add_argument("--seed", type=int, default=0)
    client.add_argument(
        "--mock-url",
        default=os.environ.get("NEMO_MOCK_URL"),
        metavar="URL",
        help="run each scenario in a namespace of its own on a shared `nemo-mock serve` at URL "
        "(one server, or --workers N on Redis, for many CI jobs at once) instead of a private "
        "mock; the client runs as a subprocess; the mock's admin token, if it has one, comes "
        "from $NEMO_MOCK_ADMIN_TOKEN (default: $NEMO_MOCK_URL, else private mocks)",
    )
    merge = sub.add_parser(
        "merge",
        help="merge the reports of shard runs into one run's",
        description="Read the reports (matrix.json) of `client --shard I/N` runs, check they are "
        "of one client, catalogue and selection and cover every scenario exactly once, and write "
        "the reports the unsharded run would have: junit.xml, matrix.md, matrix.html, "
        "matrix.json.",
        epilog="exit codes: 0 every scenario passed; 1 a scenario failed or was not exercised; "
        "2 the reports do not make up one whole run (the message says which scenarios or shards "
        "are missing or duplicated), or a usage error.",
    )
    merge.add_argument("reports", nargs="+", type=Path, metavar="DIR", help="a shard's --out")
    merge.add_argument("--out", type=Path, required=True, help="where to write the merged reports")
    sub.add_parser("list", help="list the scenarios and obligations")
    provider = sub.add_parser(
        "provider",
        help="check a server against openapi.yaml",
        description="Run schemathesis (every phase, every check; a session, a song and renders "
        "are prepared first so that every operation can answer 2xx, and the cases that did are "
        "counted per operation) plus stream, render-lifecycle, documented-refusal and credit "
        "checks against a server, and write JUnit XML.",
    )
    provider.add_argument(
        "--base-url", required=True, help="the server, e.g. http://127.0.0.1:8000"
    )
    provider.add_argument("--token", help="a token to use (default: an anonymous token is fetched)")
    provider.add_argument("--out", type=Path, default=Path("nemo-contract-report"))
    provider.add_argument(
        "--max-examples",
        type=int,
        default=20,
        help="schemathesis examples per operation and phase (default: %(default)s, about 2,000 "
        "cases in one to two minutes against the mock)",
    )
    provider.add_argument(
        "--long",
        action="store_true",
        help=f"a deep run: {LONG_EXAMPLES} examples per operation and phase (32,630 cases "
        "against the mock in 28 minutes on a busy 2-core machine)",
    )
    provider.add_argument(
        "--seed", type=int, default=1, help="schemathesis's seed (default: %(default)s)"
    )
    provider.add_argument(
        "--error-status",
        choices=["http200", "rest"],
        default="http200",
        help="the server's profile for business codes (default: http200)",
    )
    drift = sub.add_parser(
        "drift",
        help="judge a recording (nemo-mock record) against openapi.yaml and the mock",
        description="Validate every recorded request, response and SSE event against "
        "openapi.yaml (unknown and missing fields, changed types, undocumented statuses, "
        "business codes and event kinds), and compare heartbeat cadence, silent closes, render "
        "duration and polls with what the mock assumes, with counts and a confidence note. "
        "Ids and timestamps are judged by the schemas only, never as drift. Writes drift.md "
        "and drift-junit.xml; exit 1 on drift, 2 when the recording cannot be read.",
    )
    drift.add_argument(
        "--recording", required=True, type=Path, metavar="DIR", help="a `nemo-mock record` folder"
    )
    drift.add_argument(
        "--out", type=Path, default=Path("nemo-drift-report"), help="where the reports go"
    )
    return parser


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class Progress:
    def __init__(self, total: int) -> None:
        self.total = total
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()

    def __call__(self, result: ScenarioResult, done: int, total: int) -> None:
        mark = MARK[result.outcome]
        if self.tty:
            width = 30
            filled = int(width * done / total)
            bar = "█" * filled + "·" * (width - filled)
            print(
                f"\r[{bar}] {done}/{total} {mark} {result.scenario.id:<28}",
                end="",
                file=sys.stderr,
                flush=True,
            )
            if done == total:
                print(file=sys.stderr)
        else:
            print(
                f"{done:>3}/{total} {mark} {result.scenario.id}: {result.reason[:100]}",
                file=sys.stderr,
                flush=True,
            )


def _client(args: argparse.Namespace) -> int:
    try:
        manifest = Manifest.load(args.manifest)
        if args.mock_url and args.mode == "inprocess":
            raise ManifestError(
                "--mock-url serves the client over HTTP: leave out --mode inprocess (the "
                "client runs as a subprocess, from the manifest's 'command')"
            )
        adapter = adapter_for(manifest, "subprocess" if args.mock_url else args.mode)
    except ManifestError as exc:
        print(f"nemo-contract: {exc}", file=sys.stderr)
        return 2
    try:
        from .runner import select

        selection = select(args.only or None)
    except KeyError as exc:
        print(f"nemo-contract: {exc.args[0]}", file=sys.stderr)
        return 2
    shard: Shard = args.shard or WHOLE
    total = len(shard.pick(selection))
    if shard.count > 1:
        print(f"shard {shard}: {total} of the {len(selection)} selected scenarios", file=sys.stderr)
    shared = None
    if args.mock_url:
        shared = SharedMock(args.mock_url, os.environ.get(ADMIN_TOKEN_ENV) or None)
        print(f"on the shared mock at {args.mock_url}, a namespace per scenario", file=sys.stderr)
    started = time.monotonic()
    try:
        results = run_catalogue(
            adapter,
            only=args.only or None,
            jobs=args.jobs,
            seed=args.seed,
            scale=args.scale,
            min_scale=args.min_scale,
            progress=Progress(total),
            shard=shard,
            shared=shared,
        )
    except SharedMockUnreachable as exc:
        print(f"nemo-contract: {exc}", file=sys.stderr)
        return 2
    wall = time.monotonic() - started
    info = RunInfo(
        client=manifest.name,
        selection=tuple(s.id for s in selection),
        shard=shard,
        seed=args.seed,
        scale=args.scale,
        min_scale=args.min_scale,
        mode="inprocess" if isinstance(adapter, InProcessAdapter) else "subprocess",
    )
    paths = write_reports(results, args.out, info)
    label = manifest.name + (f" (shard {shard})" if shard.count > 1 else "")
    return _report(results, label, f"{wall:.1f} s wall", paths)


def _merge(args: argparse.Namespace) -> int:
    from .merge import ShardReport, merge

    try:
        reports = [ShardReport.load(folder) for folder in args.reports]
        info, results = merge(reports)
    except MergeError as exc:
        print(f"nemo-contract merge: {exc}", file=sys.stderr)
        return 2
    shards = ", ".join(f"{r.shard} ({len(r.scenarios)}, {r.folder})" for r in reports)
    print(f"merged shards {shards}")
    paths = write_reports(results, args.out, info)
    wall = sum(r.wall for r in results)
    return _report(results, info.client, f"{wall:.1f} s of scenario wall time", paths)


def _report(results: Sequence[ScenarioResult], label: str, wall: str, paths: list[Path]) -> int:
    """Print a run's summary; its exit code."""
    counts = summary(results)
    virtual = sum(r.virtual for r in results)
    print(
        f"{label}: {counts['pass']} passed, {counts['fail']} failed, "
        f"{counts['not_exercised']} not exercised ({len(results)} scenarios, {wall}, "
        f"{virtual / 60:.0f} min of backend time)"
    )
    for result in results:
        if result.outcome != "pass":
            print(f"  {MARK[result.outcome]} {result.scenario.id}: {result.reason}")
    rerun = [r for r in results if len(r.scales_tried) > 1]
    if rerun:
        print(f"re-run at lower scales (timing inside the noise): {len(rerun)} scenario(s)")
        for result in rerun:
            tried = " → ".join(f"{s:g}x" for s in result.scales_tried)
            print(f"  {result.scenario.id}: {tried}")
    print("reports: " + ", ".join(str(p) for p in paths))
    return 0 if counts["pass"] == len(results) else 1


def _list() -> int:
    print("scenarios:")
    for scenario in CATALOGUE.values():
        print(f"  {scenario.id:<28} {scenario.rule:<12} {scenario.title}")
    print("\nobligations:")
    for item in OBLIGATIONS.values():
        print(f"  {item.name:<28} {item.rule:<12} {item.source:<5} {item.summary}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "list":
        return _list()
    if args.command == "client":
        return _client(args)
    if args.command == "merge":
        return _merge(args)
    if args.command == "drift":
        from .drift import run_drift

        return run_drift(args.recording, args.out)
    from .provider import run_provider

    return run_provider(
        args.base_url,
        token=args.token or os.environ.get("NEMO_TOKEN"),
        out=args.out,
        max_examples=LONG_EXAMPLES if args.long else args.max_examples,
        error_status=args.error_status,
        seed=args.seed,
    )


if __name__ == "__main__":
    raise SystemExit(main())
