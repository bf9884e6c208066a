"""The benchmarks don't rot: each script's ``--quick`` mode runs and prints its figures.

Every script runs as a real subprocess, as a person would run it. Nothing here judges speed (the
machine running the suite may be busy): the scripts print their goals as "not judged" in quick
mode, and fail only on real errors (a wrong answer, a server that did not start, a broken
stream). A hang is a failure after ``TIMEOUT``. Run them alone with ``pytest -m benchmarks``.

They run one after another, not side by side: on two cores six benchmarks at once would slow
each other enough to trip the timeouts that bench_soak and bench_scales do judge.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300.0  # seconds; each quick mode takes 5-30 s on a quiet machine

NUMBER = r"-?\d+(?:\.\d+)?"
# lines (regular expressions, one line each) that each script's output must contain
FIGURES = {
    "bench_credits": (
        rf"^FastAPI hello /hello +(?P<rate>\d+) +1\.00x +\d+ +{NUMBER} +{NUMBER} +{NUMBER} "
        r"+1\.00x +\d+$",  # ... its start-up ratio, and the warm-up loads it took
        rf"^Starlette one route /hello +(?P<rate>\d+) +{NUMBER}x +\d+ +{NUMBER} +{NUMBER} "
        rf"+{NUMBER} +{NUMBER}x +\d+$",
        rf"^nemo-mock GET credits +(?P<rate>\d+) +{NUMBER}x +\d+ +{NUMBER} +{NUMBER} +{NUMBER} "
        rf"+{NUMBER}x +\d+$",
        # the peers are left out of --quick whether installed or not
        r"^Prism.* skipped in --quick ",
        r"^WireMock.* skipped in --quick ",
        rf"^goal: nemo-mock >= 1\.5x FastAPI hello: {NUMBER}x \(quick: not judged\)$",
        rf"^goal: nemo-mock start-up <= 1\.1x FastAPI hello's: {NUMBER}x \(quick: not judged\)$",
    ),
    "bench_render": (
        rf"^song -> 1080p waveform MP4 +{NUMBER}s +{NUMBER}s +{NUMBER}s +5\.\d\ds .*not judged",
        rf"^video -> MP3 192 kbps +{NUMBER}s +{NUMBER}s +{NUMBER}s +5\.\d\ds .*not judged",
    ),
    "bench_streams": (
        r"^streams opened +50 ",
        r"^streams held +\d+ ",
        r"^streams broken +0$",
        rf"^RSS per stream +{NUMBER} KB .*not judged",
        rf"^heartbeat lateness +p50 {NUMBER} ms, p99 {NUMBER} ms over [1-9]\d* intervals",
    ),
    "bench_matrix": (
        r"^inprocess +\d+/\d+ +\d+ +[\d,]+ +\d+ +[\d.]+ +\d+ +\d+x$",
        r"^subprocess +\d+/\d+ +\d+ +[\d,]+ +\d+ +[\d.]+ +\d+ +\d+x$",
        r"^    longest: [a-z0-9-]+, [\d.]+ s \(\d+ virtual s\)$",
        r"^in-process speed: \d+x \(quick: not judged: >= 1000x\)$",
        rf"^subprocess / in-process wall: {NUMBER}x \(quick: not judged: <= 2x\)$",
        r"^matrix: identical in both forms$",
    ),
    "bench_scales": (
        r"^\| 100× \(started at [\d, ×]+\) \| \d+ \| \d+ \| \d+ \| [\d.]+ \| \d+ \| identical \|$",
        r"^\| 1000× \(started at [\d, ×]+\) \| \d+ \| \d+ \| \d+ \| [\d.]+ \| \d+ \| identical \|$",
    ),
    "bench_workers": (
        rf"^1 worker, memory +(?P<rate>\d+) +1\.00x +{NUMBER} +{NUMBER}$",
        rf"^1 worker, Redis +\d+ +{NUMBER}x +{NUMBER} +{NUMBER}$",
        rf"^2 workers, Redis +\d+ +{NUMBER}x +{NUMBER} +{NUMBER}$",
        r"^balance readings +\d+, inconsistent 0$",
        r"^never oversold: PASS$",
    ),
    "bench_soak": (
        r"^req/s +(?P<rate>\d+)$",
        r"^5xx +0$",
        r"^timeouts +0$",
        rf"^RSS start / peak / end +{NUMBER} / {NUMBER} / {NUMBER} MB",
        r"^tokens issued / token leak +[\d,]+ / no$",
        r"^PASS$",
    ),
}


def run_quick(script: str) -> subprocess.CompletedProcess[str]:
    """Run ``benchmarks/<script>.py --quick``; on a hang kill it with the servers it started."""
    command = [sys.executable, str(ROOT / "benchmarks" / f"{script}.py"), "--quick"]
    # a session of its own, so that a timeout ends the servers the script started too
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"{script} --quick still ran after {TIMEOUT:g} s:\n{stdout}\n{stderr}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.mark.benchmarks
@pytest.mark.parametrize("script", sorted(FIGURES))
def test_quick_mode_runs_and_prints_its_figures(script: str) -> None:
    result = run_quick(script)
    output = f"{result.stdout}\n--- stderr ---\n{result.stderr}"
    assert result.returncode == 0, output
    for pattern in FIGURES[script]:
        found = re.search(pattern, result.stdout, re.MULTILINE)
        assert found, f"no line matches {pattern!r} in:\n{output}"
        if "rate" in found.groupdict():
            assert int(found["rate"]) > 0, found[0]


def test_every_script_is_run() -> None:
    scripts = {path.stem for path in (ROOT / "benchmarks").glob("bench_*.py")}
    assert scripts == set(FIGURES)
