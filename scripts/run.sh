#!/usr/bin/env bash
# Runs a project tool (tsc, eslint, jest, node ...) under Node 24 with node_modules/.bin on PATH.
# Usage: scripts/run.sh <command> [args...]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$GUARITA_ROOT"
use_node24
[ -d node_modules ] || bash scripts/bootstrap.sh
export PATH="$GUARITA_ROOT/node_modules/.bin:$PATH"
cmd="$1"; shift
case "$cmd" in
  # Jest runs test files as native ES modules (our dependencies are ESM-only).
  jest) exec node --experimental-vm-modules --disable-warning=ExperimentalWarning node_modules/jest/bin/jest.js "$@" ;;
  *) exec "$cmd" "$@" ;;
esac
