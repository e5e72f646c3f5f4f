#!/usr/bin/env bash
# Builds the local control plane's binaries from the pinned Go modules beside this script.
# Output: $GUARITA_CACHE/bin/<name>-<version>; rebuilt only when the pin (go.mod) changes.
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
TOOLS="$GUARITA_ROOT/e2e/tools"
BIN="$GUARITA_CACHE/bin"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
command -v go >/dev/null || die "Go is required to build the local control plane (kube-apiserver, etcd, helm)"

# A tool with sources of its own (the kubelet stand-in) is rebuilt when they change too.
pin() { sha256sum "$TOOLS/$1/go.mod" "$TOOLS/$1/go.sum" $(find "$TOOLS/$1" -maxdepth 1 -name '*.go' | sort) | sha256sum | cut -c1-12; }
mod_version() { awk -v m="$2" '$1=="require" && $2==m {print $3} $1==m && $0 !~ /=>/ {print $2}' "$TOOLS/$1/go.mod" | head -1; }

build() { # build <module dir> <binary name> <package> [ldflags]
  local dir="$1" name="$2" pkg="$3" ldflags="${4:-}" out="$BIN/$2-$(pin "$1")"
  if [ -x "$out" ]; then ln -sfn "$(basename "$out")" "$BIN/$name"; return; fi
  mkdir -p "$BIN"
  log "building $name from Go modules (first build takes several minutes; cached afterwards)"
  local start=$SECONDS
  ( cd "$TOOLS/$dir" && go build -trimpath -o "$out.tmp" -ldflags "-s -w $ldflags" "$pkg" ) \
    || die "go build of $name failed; see the output above"
  mv "$out.tmp" "$out" && ln -sfn "$(basename "$out")" "$BIN/$name"
  log "built $name in $((SECONDS - start))s"
}

KV="$(mod_version kube k8s.io/kubernetes)"; KMINOR="$(echo "$KV" | cut -d. -f2)"
VP=k8s.io/component-base/version
KLD="-X $VP.gitVersion=$KV -X $VP.gitMajor=1 -X $VP.gitMinor=$KMINOR -X $VP.gitTreeState=clean -X $VP.buildDate=1970-01-01T00:00:00Z"
HV="$(mod_version helm helm.sh/helm/v3)"
HLD="-X helm.sh/helm/v3/internal/version.version=$HV -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$KMINOR"

build etcd etcd go.etcd.io/etcd/server/v3
build helm helm helm.sh/helm/v3/cmd/helm "$HLD"
build kube kubectl k8s.io/kubernetes/cmd/kubectl "$KLD"
build kube kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$KLD"
# The streaming half of a kubelet (exec/attach/port-forward) for the node-less control plane.
build kubelet kubelet-stand-in .
# The linter of .github/workflows/* (scripts/workflows.test.ts).
ALV="$(mod_version actionlint github.com/rhysd/actionlint)"
build actionlint actionlint github.com/rhysd/actionlint/cmd/actionlint "-X github.com/rhysd/actionlint.version=$ALV"
