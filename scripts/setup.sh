#!/usr/bin/env bash
# Creates .venv (if missing) and installs the project with its dev tools. Needs only Python 3.11+.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "nemo-contract needs Python 3.11 or newer")'
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
echo "==> installing nemo-contract and its tools into .venv (a minute on first run)"
.venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
# setuptools' editable-install banners (a flat layout is meant here) are filtered; pip's errors
# and anything else it says still show
.venv/bin/python -m pip install --quiet -e '.[dev]' 2>&1 \
  | grep -vE "is ignored|^\s*$|!!|wheel_obj|with strategy|BuildBackendWarning|\*{20}|be careful with folders|name as your package|precedence during imports" \
  || true
# openapi-typescript and typescript (package.json, locked), for tests/contract/test_generators.py;
# without npm that test skips its TypeScript part, and it never downloads anything itself
if command -v npm >/dev/null 2>&1; then
  echo "==> installing openapi-typescript (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null \
    || echo "npm ci failed: the TypeScript generator test will be skipped" >&2
fi
.venv/bin/python -c 'import mock_backend, fastapi, av, schemathesis' \
  || { echo "setup failed: the packages above did not install; see pip's messages" >&2; exit 1; }
# redis-server for the state tests (nemo-mock serve --state redis://): Debian's package, installed
# when missing and this runs as root; otherwise those tests skip and say so
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing redis-server (apt-get, as root) for the Redis state tests"
    apt-get update -qq >/dev/null && apt-get install -y -qq redis-server >/dev/null \
      || echo "setup: could not install redis-server; the Redis state tests will skip" >&2
  else
    echo "==> note: no redis-server here; the Redis state tests will skip (apt-get install redis-server)"
  fi
fi
# chromium for the console's browser tests (tests/console): Debian's package, driven by
# Playwright (its wheel carries the driver; no browser is downloaded); installed when missing and
# this runs as root; otherwise those tests skip and say so
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing chromium (apt-get, as root) for the console's browser tests"
    apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null \
      || echo "setup: could not install chromium; the console's browser tests will skip" >&2
  else
    echo "==> note: no chromium here; the console's browser tests will skip (apt-get install chromium)"
  fi
fi
