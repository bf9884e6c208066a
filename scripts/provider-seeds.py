"""`nemo-contract provider` against `nemo-mock serve`, over many mock seeds and schemathesis seeds.

A provider run must hold on any seed of the mock (its draws: silent closes, render times,
failures) and of schemathesis (its generated cases). This starts one mock per mock seed, as a
user would (`nemo-mock serve --seed S`), runs the provider once per schemathesis seed, and
prints one line per run plus a summary. A run counts as failed if the provider failed, if an
operation never got a 2xx or if a link of the contract was never walked; the script exits 1 if
any run failed, with where its log is.

    .venv/bin/python scripts/provider-seeds.py                 # mock seeds 1-10 x st seeds 1-2
    .venv/bin/python scripts/provider-seeds.py --mock-seeds 3 --st-seeds 1 --max-examples 5
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_mock(seed: int, data: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        str(BIN / "nemo-mock"),
        "serve",
        "--port",
        str(port),
        "--seed",
        str(seed),
        "--clock",
        "scaled:100",
        "--tokens-per-ip",  # schemathesis asks for many tokens from one address
        "1000000",
        "--data-dir",
        str(data),
    ]
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/__mock/health", timeout=2).raise_for_status()
            return process, url
        except httpx.HTTPError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"nemo-mock --seed {seed} did not start; its output: {log}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mock-seeds", type=int, default=10, help="mock seeds 1..N (10)")
    parser.add_argument("--st-seeds", type=int, default=2, help="schemathesis seeds 1..N (2)")
    parser.add_argument("--max-examples", type=int, default=20, help="per operation (20)")
    parser.add_argument("--out", type=Path, help="where the reports go (a temporary folder)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="nemo-provider-seeds-"))
    runs = args.mock_seeds * args.st_seeds
    print(f"{runs} provider runs ({args.max_examples} examples per operation); reports in {out}")
    failed: list[str] = []
    cases = 0
    started = time.monotonic()
    for mock_seed in range(1, args.mock_seeds + 1):
        folder = out / f"mock-{mock_seed}"
        folder.mkdir(parents=True, exist_ok=True)
        mock, url = start_mock(mock_seed, folder / "data", folder / "mock.log")
        try:
            for st_seed in range(1, args.st_seeds + 1):
                report = folder / f"st-{st_seed}"
                t0 = time.monotonic()
                done = subprocess.run(
                    [
                        str(BIN / "nemo-contract"),
                        "provider",
                        "--base-url",
                        url,
                        "--out",
                        str(report),
                        "--seed",
                        str(st_seed),
                        "--max-examples",
                        str(args.max_examples),
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                (report / "provider.log").write_text(done.stdout + done.stderr)
                text = done.stdout + done.stderr
                count = re.search(r"(\d+) generated, (\d+) passed", text)
                cases += int(count.group(1)) if count else 0
                never = "never answered with a 2xx" in text
                links = re.search(r"links walked: (\d+ of the contract's \d+)", text)
                unwalked = "links never walked" in text or links is None
                verdict = "pass" if done.returncode == 0 and not (never or unwalked) else "FAIL"
                if verdict == "FAIL":
                    failed.append(f"mock seed {mock_seed}, st seed {st_seed}: {report}")
                print(
                    f"  mock seed {mock_seed:>2}  st seed {st_seed}  {verdict}  "
                    f"{count.group(0) if count else 'no count'}  "
                    f"links {links.group(1) if links else '?'}  "
                    f"{time.monotonic() - t0:.0f} s",
                    flush=True,
                )
        finally:
            mock.terminate()
            mock.wait(30)
    took = time.monotonic() - started
    print(f"{runs - len(failed)} of {runs} runs passed, {cases} cases, {took / 60:.1f} min")
    for line in failed:
        print(f"FAILED: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
