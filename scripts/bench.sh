#!/usr/bin/env bash
# `npm run bench [-- --quick|--json|--only a,b|--write-doc]`: bootstrap (idempotent), the bench-only
# tools (PgBouncer, the anchor the PostgreSQL figures are compared with, from Debian's packages),
# then bench/run.ts. Without apt, PgBouncer's row is skipped with a note; everything else runs.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$GUARITA_ROOT"
# Bootstrap's output goes to stderr: with --json, stdout carries the one JSON object only.
bash scripts/bootstrap.sh >&2
if [ ! -x /usr/sbin/pgbouncer ] && command -v apt-get >/dev/null; then
  log "installing pgbouncer from Debian packages (benchmark anchor)"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  if DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq pgbouncer >/dev/null 2>&1 \
     || { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq pgbouncer >/dev/null; }; then
    # Debian's package starts a system PgBouncer on 6432; the bench runs its own.
    $sudo_cmd service pgbouncer stop >/dev/null 2>&1 || true
  else
    log "pgbouncer could not be installed; its row is skipped"
  fi
fi
exec bash scripts/run.sh node bench/run.ts "$@"
