#!/usr/bin/env bash
# Everything `make test` does after the venv exists. Docker-backed tests must run: a skip fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
BIN=$(dirname "$PY")

export TESTCONTAINERS_RYUK_DISABLED=true
export PACK_FAIL_ON_SKIP=1

bash scripts/setup-host.sh
echo "== static checks"
"$BIN/ruff" check .
"$BIN/ruff" format --check .
"$BIN/mypy"
echo "== test oracles (upstream occ and argo lint, built from the Go module proxy; cached)"
bash scripts/build-oracles.sh all
# Gate 1 of the real-system tier (issue 12): its tests run in the pytest run below (marker `cluster`).
bash scripts/cluster/require-binaries.sh
echo "== local images"
"$PY" -m hera_workflows images build --local-base
if [[ "${CI:-}" == "true" ]]; then
  # Show in every CI log that the benchmark command works within CI's budget (figures only; nothing asserted).
  echo "== benchmarks (quick)"
  "$PY" -m benchmarks --quick -o "${TMPDIR:-/tmp}/openchoreo-ci-pack-bench-quick.json"
fi
echo "== tests"
"$PY" -m pytest "$@"
