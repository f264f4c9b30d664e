#!/usr/bin/env bash
# The real-system tier alone (`make test-cluster`): build the upstream binaries (cached by version outside the
# repository), then run the tests marked `cluster` against them. A build or start-up failure fails the run with one
# line saying so; nothing is ever skipped (PACK_FAIL_ON_SKIP=1).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
export PACK_FAIL_ON_SKIP=1

bash scripts/setup-host.sh >/dev/null
bash scripts/cluster/require-binaries.sh
"$PY" -m pytest -m cluster "$@"
