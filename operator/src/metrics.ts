// Prometheus metrics of the operator (served on the metrics port at /metrics). Alert on
// guarita_chain_integrity_failures_total: every gap, fork, bad hash or bad signature refused at
// ingest increments it (with an Event on the policy or pod).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  ingestBatches: Counter<'outcome'>;
  ingestRecords: Counter<'result'>;
  integrityFailures: Counter<'problem' | 'namespace'>;
  commitFsyncSeconds: Histogram;
  commitRecords: Histogram;
  storeQuarantinedBytes: Counter<'namespace' | 'policy'>;
  retentionSegments: Counter<'namespace' | 'policy'>;
  anchors: Counter<'result'>;
  anchorMismatches: Counter<'namespace' | 'policy' | 'reason'>;
  reconciles: Counter<'kind' | 'result'>;
  queueDepth: Gauge<'kind'>;
  approvalTransitions: Counter<'phase'>;
  leader: Gauge;
  readRequests: Counter<'endpoint' | 'result'>;
  eventsShed: Counter<'namespace' | 'outcome'>;
  approvalsOverCap: Counter<'namespace'>;
  connectionsRefused: Counter<'reason'>;
}

export function createMetrics(withDefaults = true): Metrics {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: 'guarita_operator_' });
  const r = [registry];
  return {
    registry,
    ingestBatches: new Counter({ name: 'guarita_ingest_batches_total', help: 'Sidecar batches by outcome (ok, gap, fork, invalid, unauthenticated, forbidden, unavailable, error).', labelNames: ['outcome'], registers: r }),
    ingestRecords: new Counter({ name: 'guarita_ingest_records_total', help: 'Records received: stored, or duplicate (a re-sent batch).', labelNames: ['result'], registers: r }),
    integrityFailures: new Counter({ name: 'guarita_chain_integrity_failures_total', help: 'Batches refused for breaking chain integrity (gap, fork, hash-mismatch, bad-signature, ...). Alert on any increase.', labelNames: ['problem', 'namespace'], registers: r }),
    commitFsyncSeconds: new Histogram({ name: 'guarita_store_commit_fsync_seconds', help: 'Time to fsync one commit group.', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: r }),
    commitRecords: new Histogram({ name: 'guarita_store_commit_records', help: 'Records per commit group.', buckets: [1, 10, 50, 100, 500, 1000, 5000], registers: r }),
    storeQuarantinedBytes: new Counter({ name: 'guarita_store_quarantined_bytes_total', help: 'Bytes moved to quarantine when reopening the store (torn or inconsistent tails).', labelNames: ['namespace', 'policy'], registers: r }),
    retentionSegments: new Counter({ name: 'guarita_retention_segments_deleted_total', help: 'Segments deleted by retention.', labelNames: ['namespace', 'policy'], registers: r }),
    anchors: new Counter({ name: 'guarita_anchor_writes_total', help: 'AccessPolicy status writes of chain heads and counters.', labelNames: ['result'], registers: r }),
    anchorMismatches: new Counter({ name: 'guarita_anchor_mismatches_total', help: 'AccessPolicy status.chain found not to be the store head the operator anchored (AnchorOverwritten: changed while it ran; AnchorMismatch: at start, not a position of the stored log), re-anchored with a Warning. Alert on any increase.', labelNames: ['namespace', 'policy', 'reason'], registers: r }),
    reconciles: new Counter({ name: 'guarita_reconcile_total', help: 'Reconciliations by kind and result.', labelNames: ['kind', 'result'], registers: r }),
    queueDepth: new Gauge({ name: 'guarita_workqueue_depth', help: 'Keys waiting in the work queue.', labelNames: ['kind'], registers: r }),
    approvalTransitions: new Counter({ name: 'guarita_approval_transitions_total', help: 'ApprovalRequest phase changes made by the operator.', labelNames: ['phase'], registers: r }),
    leader: new Gauge({ name: 'guarita_operator_leader', help: '1 while this replica holds the leader Lease.', registers: r }),
    readRequests: new Counter({ name: 'guarita_read_requests_total', help: 'Read API requests by endpoint and result.', labelNames: ['endpoint', 'result'], registers: r }),
    eventsShed: new Counter({ name: 'guarita_events_shed_total', help: 'Events not written separately because their namespace had too many waiting: dropped (routine), collapsed (into an earlier Event of the same reason and requester), transition_dropped (an approval transition; nothing else of the namespace was left to shed).', labelNames: ['namespace', 'outcome'], registers: r }),
    approvalsOverCap: new Counter({ name: 'guarita_approval_requests_over_cap_total', help: 'ApprovalRequests expired at once because their requester (GUARITA_MAX_PENDING_APPROVALS_PER_REQUESTER) or the pod that created them (GUARITA_MAX_PENDING_APPROVALS_PER_POD) already had the maximum of Pending requests.', labelNames: ['namespace'], registers: r }),
    connectionsRefused: new Counter({ name: 'guarita_api_connections_refused_total', help: 'API connections closed by the listener\'s bounds (max-connections, per-client, handshake or first-request timeout).', labelNames: ['reason'], registers: r }),
  };
}
