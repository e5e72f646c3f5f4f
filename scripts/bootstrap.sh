#!/usr/bin/env bash
# Installs everything Guarita's tests and demo need on a fresh machine, idempotently:
# Node 24, npm dependencies, PostgreSQL server and client (Debian), and the control-plane
# binaries (etcd, kube-apiserver, kubectl, helm) built from pinned Go modules.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$GUARITA_ROOT"

use_node24

stamp="$GUARITA_CACHE/npm-installed.sha"
lock_sum="$(sha256sum package-lock.json package.json | sha256sum | cut -c1-64)"
if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  log "installing npm dependencies under Node $(node --version)"
  # Not `npm ci`: registries that serve only this platform's optional binaries (@swc/core-*,
  # resolver bindings) leave them out of the lockfile, and `npm ci` then refuses the whole install.
  # `npm install --no-save` installs exactly the locked versions and leaves the lockfile alone.
  npm install --no-save --no-fund --no-audit --loglevel=error
  mkdir -p "$GUARITA_CACHE" && echo "$lock_sum" > "$stamp"
fi

bash scripts/install-postgres.sh
# OpenSSH (Debian): the SSH target's tests run the real sshd upstream (unprivileged, on a loopback
# port the harness picks) and the real ssh, scp and sftp clients as the agent.
if [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null || ! command -v sftp >/dev/null || ! command -v scp >/dev/null || ! command -v ssh-keygen >/dev/null; then
  command -v apt-get >/dev/null || die "sshd, ssh, scp, sftp or ssh-keygen not found and apt-get is unavailable; install openssh-server and openssh-client and re-run"
  log "installing OpenSSH from Debian packages (openssh-server, openssh-client)"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq openssh-server openssh-client >/dev/null
  # Debian's package may start the system sshd on port 22; the harness runs its own.
  $sudo_cmd service ssh stop >/dev/null 2>&1 || true
fi
# shellcheck (Debian): actionlint checks the workflows' run: scripts with it (scripts/workflows.test.ts).
if ! command -v shellcheck >/dev/null; then
  command -v apt-get >/dev/null || die "shellcheck not found and apt-get is unavailable; install shellcheck and re-run"
  log "installing shellcheck from Debian packages"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq shellcheck >/dev/null
fi
bash e2e/tools/build.sh
