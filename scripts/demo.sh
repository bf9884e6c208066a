#!/usr/bin/env bash
# The main job: set up, start the mock, and have the reference client convert a real song into
# an MP4 and a real video into an MP3 through it (offline, about a minute on first run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
