#!/usr/bin/env bash
# The whole test suite, exactly what CI runs: bootstrap (idempotent), generated-file freshness,
# typecheck, lint, unit tests, then integration tests on the real local control plane.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$GUARITA_ROOT"
bash scripts/bootstrap.sh
run() { log "$*"; bash scripts/run.sh "$@"; }
run tsc -p tsconfig.json
run eslint --max-warnings=0 .
# Jest's default is one worker per core but one, a single worker on CI's two cores; the unit
# tests are CPU-bound and independent, so both cores take one.
run jest --selectProjects unit --maxWorkers=2
# Two suites at a time: they share one control plane and are written for it (a namespace, webhook
# configurations and operators of their own), and most of a suite's time is spent waiting on the
# processes it starts. --forceExit: a suite that fails half-started can leave a server listening,
# and Jest would then wait for it forever instead of reporting the failure.
run jest --selectProjects integration --maxWorkers=2 --forceExit
log "all tests passed"
