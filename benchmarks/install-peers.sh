#!/usr/bin/env bash
# Installs the peers benchmarks/bench_credits.py measures the mock against, from npm, into
# benchmarks/.peers/ (git-ignored; delete the folder to uninstall):
#   Prism (@stoplight/prism-cli), which mocks openapi.yaml from the contract's examples;
#   WireMock standalone: the npm package `wiremock` carries wiremock-standalone-<version>.jar,
#   which bench_credits.py runs with `java -jar` (java 11 or later on PATH).
# Optional: bench_credits.py lists a peer that is not installed and goes on without it.
# The versions are pinned so that two runs compare the same peers (Prism 5.14 is the last that
# runs on Node 18-22; 5.15 asks for Node 24); override them with
# PRISM_VERSION=... WIREMOCK_VERSION=... benchmarks/install-peers.sh
set -euo pipefail

PRISM_VERSION="${PRISM_VERSION:-5.14.2}"
WIREMOCK_VERSION="${WIREMOCK_VERSION:-3.13.2}"
dest="$(cd "$(dirname "$0")" && pwd)/.peers"

if ! command -v npm >/dev/null; then
    echo "install-peers.sh: npm not found; install Node.js 18+ first" >&2
    exit 1
fi
mkdir -p "$dest"
# a package.json of its own: npm installs here, not into the project's node_modules
[ -f "$dest/package.json" ] || echo '{"private": true, "name": "bench-credits-peers"}' >"$dest/package.json"
echo "==> npm install @stoplight/prism-cli@$PRISM_VERSION wiremock@$WIREMOCK_VERSION into $dest"
# --ignore-scripts: neither needs one (a dependency's only script reports the install to Scarf)
npm install --prefix "$dest" --no-audit --no-fund --ignore-scripts --save-exact \
    "@stoplight/prism-cli@$PRISM_VERSION" "wiremock@$WIREMOCK_VERSION"

prism="$dest/node_modules/.bin/prism"
jar="$(ls "$dest"/node_modules/wiremock/build/wiremock-standalone-*.jar)"
echo "installed:"
echo "  Prism $("$prism" --version): $prism"
echo "  WireMock $WIREMOCK_VERSION: $jar"
if command -v java >/dev/null; then
    echo "  java for WireMock: $(java -version 2>&1 | head -n 1)"
else
    echo "  java: not found; bench_credits.py lists WireMock as not runnable until it is" >&2
fi
echo "run: .venv/bin/python benchmarks/bench_credits.py"
