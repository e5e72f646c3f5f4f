#!/usr/bin/env bash
# `npm run demo [-- --scripted]`: installs what is missing, then runs Guarita on the embedded default
# (local control plane, PostgreSQL with the example data, IdP, operator, webhook, injected sidecar).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$GUARITA_ROOT"
bash scripts/bootstrap.sh
exec bash scripts/run.sh node --disable-warning=ExperimentalWarning e2e/local/demo.ts "$@"
