#!/usr/bin/env bash
# The whole test suite, exactly what CI runs: bootstrap (idempotent), generated-file freshness,
# typecheck, lint, unit tests, then integration tests on the real local control plane.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$GUARITA_ROOT"
bash scripts/bootstrap.sh
run() { log "$*"; bash scripts/run.sh "$@"; }
run tsc -p tsconfig.json
run eslint --max-warnings=0 .
run jest --selectProjects unit
run jest --selectProjects integration --runInBand
log "all tests passed"
