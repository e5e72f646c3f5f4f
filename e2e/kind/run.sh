#!/usr/bin/env bash
# The LGPD scenario on a kind cluster with real pods, for users' CI (.github/workflows/kind-e2e.yaml)
# and for a laptop with Docker: create the cluster, build and load the image, `helm install`, run
# e2e/kind/scenario.ts (which applies examples/lgpd-orders with `kubectl apply -k`: PostgreSQL, the
# customers API and the SSH host orders-host in orders-data, the agent's psql, kubectl and ssh Jobs
# in lgpd-orders), and collect logs into $GUARITA_E2E_ARTIFACTS when anything fails.
#
# Needs: docker, kind, kubectl, helm, and Node 24 with the project's npm dependencies (npm ci); the
# cluster's nodes need egress to the public images' registries and to deb.debian.org (orders-host
# installs openssh-server at start).
# Settings (environment):
#   GUARITA_KIND_CLUSTER     cluster name (default guarita-e2e); an existing cluster is reused
#   GUARITA_KIND_NODE_IMAGE  kind node image (default: the kind release's own)
#   GUARITA_IMAGE            image to build and load (default guarita:e2e)
#   GUARITA_E2E_ARTIFACTS    where logs go on failure (default e2e/kind/artifacts)
#   GUARITA_KIND_KEEP=1      keep the cluster afterwards (default: delete it if this script created it)
#   GUARITA_KIND_SCENARIO    lgpd (default): helm install with e2e/kind/values.yaml, then
#                            e2e/kind/scenario.ts; readme: the README's install block, every line
#                            (e2e/kind/readme.ts), on a cluster where nothing is installed yet
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
CLUSTER="${GUARITA_KIND_CLUSTER:-guarita-e2e}"
IMAGE="${GUARITA_IMAGE:-guarita:e2e}"
ARTIFACTS="${GUARITA_E2E_ARTIFACTS:-$ROOT/e2e/kind/artifacts}"
RELEASE_NS=guarita-system
NAMESPACES=("$RELEASE_NS" lgpd-orders orders-data)
created=""

log() { printf '\033[36m[kind-e2e]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[kind-e2e] error:\033[0m %s\n' "$*" >&2; exit 1; }

for tool in docker kind kubectl helm node; do
  command -v "$tool" >/dev/null || die "$tool is required (see e2e/kind/README.md)"
done
[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 24 ] || die "Node 24 or newer is required (it runs e2e/kind/scenario.ts directly)"
[ -d node_modules ] || die "run npm ci first (the scenario uses the project's dependencies)"

collect_logs() {
  log "collecting cluster state and logs into $ARTIFACTS"
  mkdir -p "$ARTIFACTS"
  kubectl get nodes -o wide >"$ARTIFACTS/nodes.txt" 2>&1 || true
  kubectl get all,accesspolicies,approvalrequests,leases,pvc,networkpolicies -A -o wide >"$ARTIFACTS/objects.txt" 2>&1 || true
  kubectl get accesspolicies,approvalrequests -A -o yaml >"$ARTIFACTS/guarita-objects.yaml" 2>&1 || true
  kubectl get mutatingwebhookconfigurations,validatingwebhookconfigurations -o yaml >"$ARTIFACTS/webhook-configurations.yaml" 2>&1 || true
  kubectl get events -A --sort-by=.lastTimestamp >"$ARTIFACTS/events.txt" 2>&1 || true
  helm status guarita -n "$RELEASE_NS" >"$ARTIFACTS/helm-status.txt" 2>&1 || true
  local ns pod
  for ns in "${NAMESPACES[@]}"; do
    kubectl describe pods -n "$ns" >"$ARTIFACTS/describe-$ns.txt" 2>&1 || true
    for pod in $(kubectl get pods -n "$ns" -o name 2>/dev/null); do
      kubectl logs -n "$ns" "$pod" --all-containers --prefix --timestamps >"$ARTIFACTS/logs-$ns-${pod#pod/}.txt" 2>&1 || true
      kubectl logs -n "$ns" "$pod" --all-containers --prefix --timestamps --previous >"$ARTIFACTS/logs-$ns-${pod#pod/}-previous.txt" 2>/dev/null || true
    done
  done
  kind export logs "$ARTIFACTS/kind" --name "$CLUSTER" >/dev/null 2>&1 || true
}

finish() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then collect_logs; log "FAILED (exit $rc); logs in $ARTIFACTS"; fi
  if [ -n "$created" ] && [ -z "${GUARITA_KIND_KEEP:-}" ]; then
    log "deleting cluster $CLUSTER"; kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap finish EXIT

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  log "reusing kind cluster $CLUSTER"
else
  log "creating kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --config e2e/kind/cluster.yaml --wait 180s \
    ${GUARITA_KIND_NODE_IMAGE:+--image "$GUARITA_KIND_NODE_IMAGE"}
  created=1
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null

log "building $IMAGE"
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"

if [ "${GUARITA_KIND_SCENARIO:-lgpd}" = readme ]; then
  log "running the README's install block"
  GUARITA_IMAGE="$IMAGE" node e2e/kind/readme.ts
  log "passed"
  exit 0
fi

log "installing the chart"
helm upgrade --install guarita charts/guarita -n "$RELEASE_NS" --create-namespace \
  -f e2e/kind/values.yaml \
  --set "image.repository=${IMAGE%:*}" --set "image.tag=${IMAGE##*:}" --set image.pullPolicy=Never \
  --wait --timeout 5m
# The caBundle is patched by the webhook itself (self-managed TLS): wait until the apiserver can call it.
kubectl -n "$RELEASE_NS" rollout status deploy/guarita-webhook deploy/guarita-operator --timeout=180s
for _ in $(seq 1 60); do
  bundle="$(kubectl get validatingwebhookconfiguration guarita-webhook -o jsonpath='{.webhooks[0].clientConfig.caBundle}')"
  [ -n "$bundle" ] && break
  sleep 2
done
[ -n "$bundle" ] || die "the webhook never published its caBundle"

log "running the LGPD scenario"
node e2e/kind/scenario.ts
log "passed"
