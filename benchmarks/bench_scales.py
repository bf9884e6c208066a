"""Is a client's matrix the same at every clock scale, on a quiet and on a loaded machine?

Runs the catalogue against one client at each scale given, optionally while busy loops keep
cores busy, and prints a row per run: outcomes, wall time, how many scenarios were re-run at a
lower scale (a timing verdict inside the measured noise), and whether the matrix (every
obligation's status in every scenario) is identical to the first run's. Exit 1 if any differs.

    python benchmarks/bench_scales.py              # the reference client at 100, 1000, 10000
    python benchmarks/bench_scales.py --busy 2     # the same, both cores kept busy
    python benchmarks/bench_scales.py --quick      # 6 scenarios, scales 100 and 1000
    python benchmarks/bench_scales.py --mode subprocess \
        --manifest clients_under_test/shell/client.yaml
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contract.adapters import Manifest, adapter_for  # noqa: E402
from contract.runner import ScenarioResult, run_catalogue  # noqa: E402

QUICK = [
    "happy-extract",
    "err-429",
    "render-orphaned",
    "sse-stall",
    "sse-disconnect",
    "sse-silent-close",
]
Matrix = dict[str, tuple[str, tuple[tuple[str, str], ...]]]


def matrix(results: list[ScenarioResult]) -> Matrix:
    return {
        r.scenario.id: (r.outcome, tuple(sorted((v.obligation, v.status) for v in r.verdicts)))
        for r in results
    }


def differences(a: Matrix, b: Matrix) -> list[str]:
    out = []
    for sid in sorted(set(a) | set(b)):
        if a.get(sid) != b.get(sid):
            left = dict(a[sid][1]) if sid in a else {}
            right = dict(b[sid][1]) if sid in b else {}
            changed = {
                k: (left.get(k), right.get(k))
                for k in left.keys() | right.keys()
                if left.get(k) != right.get(k)
            }
            out.append(f"{sid}: {a.get(sid, ('-',))[0]} → {b.get(sid, ('-',))[0]} {changed}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--manifest", type=Path, default=ROOT / "clients_under_test" / "reference" / "client.yaml"
    )
    parser.add_argument("--mode", default="auto", choices=["auto", "inprocess", "subprocess"])
    parser.add_argument("--scales", default="100,1000,10000")
    parser.add_argument("--busy", type=int, default=0, help="busy loops to run meanwhile")
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="6 scenarios, scales 100 and 1000")
    args = parser.parse_args()
    scales = [100.0, 1000.0] if args.quick else [float(s) for s in args.scales.split(",")]
    only = QUICK if args.quick else None
    adapter = adapter_for(Manifest.load(args.manifest), args.mode)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    first: Matrix | None = None
    same = True
    try:
        print(f"{adapter.manifest.name} ({type(adapter).__name__}), {args.busy} busy loop(s)")
        print("| scale | passed | failed | not exercised | wall s | re-run lower | matrix |")
        print("|---|---|---|---|---|---|---|")
        for scale in scales:
            started = time.monotonic()
            results = run_catalogue(adapter, only=only, scale=scale, jobs=args.jobs)
            wall = time.monotonic() - started
            counts = {
                o: sum(r.outcome == o for r in results) for o in ("pass", "fail", "not_exercised")
            }
            rerun = [r for r in results if len(r.scales_tried) > 1]
            started_at = sorted({r.scales_tried[0] for r in results if r.scales_tried})
            current = matrix(results)
            diff = [] if first is None else differences(first, current)
            first = first or current
            same = same and not diff
            print(
                f"| {scale:g}× (started at {', '.join(f'{s:g}' for s in started_at)}×) | "
                f"{counts['pass']} | {counts['fail']} | {counts['not_exercised']} | {wall:.1f} | "
                f"{len(rerun)} | {'identical' if not diff else f'{len(diff)} differ'} |",
                flush=True,
            )
            for line in diff:
                print(f"    differs: {line}")
            for r in rerun:
                print(
                    f"    re-run {r.scenario.id}: {' → '.join(f'{s:g}' for s in r.scales_tried)}"
                    f" ({r.rerun_reasons[0][:120] if r.rerun_reasons else ''})"
                )
    finally:
        for child in busy:
            child.kill()
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
