#!/usr/bin/env bash
# The whole test suite: lint, types, contract, mock, client and compatibility tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "==> running the test suite"
exec .venv/bin/python -m pytest "$@"
