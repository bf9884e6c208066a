#!/usr/bin/env bash
# The whole test suite, N times in a row (default 3), while busy loops keep every core busy.
#
# A verdict of the compatibility suite must depend only on the client, not on machine load: this
# is how that is checked. One `python -c 'while True: pass'` per core runs for the whole time and
# is killed by its PID at the end, whatever happens. Each run's tail and duration are printed;
# the script exits non-zero at the first failing run.
#
#   bash scripts/test-under-load.sh            # 3 runs
#   RUNS=1 bash scripts/test-under-load.sh -x  # 1 run; arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
BUSY=${BUSY:-$(nproc)}
bash scripts/setup.sh
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
for _ in $(seq "$BUSY"); do
  python3 -c 'while True: pass' &
  pids+=("$!")
done
echo "==> $BUSY busy loops running (PIDs ${pids[*]}); $RUNS run(s) of the test suite"
for run in $(seq "$RUNS"); do
  started=$(date +%s)
  log=$(mktemp -t nemo-load-run-XXXX.log)
  echo "==> run $run of $RUNS (log: $log)"
  if .venv/bin/python -m pytest -q -p no:cacheprovider "$@" >"$log" 2>&1; then
    echo "    $(tail -n 1 "$log") [$(($(date +%s) - started)) s]"
  else
    tail -n 40 "$log"
    echo "==> run $run FAILED under load after $(($(date +%s) - started)) s (log: $log)" >&2
    exit 1
  fi
done
echo "==> $RUNS of $RUNS runs passed with every core busy"
