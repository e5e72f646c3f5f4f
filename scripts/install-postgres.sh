#!/usr/bin/env bash
# Ensures a PostgreSQL server (initdb/postgres/pg_ctl), psql and pgbench from Debian's packages.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

bindir="$(pg_bindir)"
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ] || [ ! -x "$bindir/pgbench" ] || ! command -v psql >/dev/null; then
  command -v apt-get >/dev/null || die "PostgreSQL server binaries not found and apt-get is unavailable; install postgresql (server, client, contrib) and re-run"
  log "installing PostgreSQL from Debian packages (postgresql, postgresql-contrib, postgresql-client)"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq postgresql postgresql-contrib postgresql-client >/dev/null
  # Debian's package starts a cluster on 5432; the harness runs its own throwaway servers.
  $sudo_cmd service postgresql stop >/dev/null 2>&1 || true
fi
