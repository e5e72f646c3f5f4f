// Prometheus metrics of the webhook (own registry: tests build several servers in one process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface WebhookMetrics {
  registry: Registry;
  duration: Histogram<'webhook' | 'outcome'>;
  injections: Counter<'result' | 'reason'>;
  policyConfirmations: Counter<'outcome'>;
  policyCacheSynced: Gauge;
  policyCacheErrors: Counter;
  certificateExpiry: Gauge;
  certificateReloads: Counter;
}

export function createMetrics(defaults = true): WebhookMetrics {
  const registry = new Registry();
  if (defaults) collectDefaultMetrics({ register: registry, prefix: 'guarita_webhook_' });
  return {
    registry,
    duration: new Histogram({
      name: 'guarita_webhook_admission_duration_seconds', help: 'Time to answer an AdmissionReview, by webhook and outcome (allowed, denied, error).',
      labelNames: ['webhook', 'outcome'], registers: [registry],
      buckets: [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    }),
    injections: new Counter({ name: 'guarita_webhook_injections_total', help: 'Pod injection decisions: injected, reinvoked, skipped or rejected, with the skip reason.', labelNames: ['result', 'reason'], registers: [registry] }),
    policyConfirmations: new Counter({ name: 'guarita_webhook_policy_confirmations_total', help: 'Live AccessPolicy reads confirming a cache miss (found: the cache was behind).', labelNames: ['outcome'], registers: [registry] }),
    policyCacheSynced: new Gauge({ name: 'guarita_webhook_policy_cache_synced', help: '1 once the AccessPolicy cache has listed the cluster.', registers: [registry] }),
    policyCacheErrors: new Counter({ name: 'guarita_webhook_policy_cache_errors_total', help: 'AccessPolicy list/watch errors (the watch restarts with backoff).', registers: [registry] }),
    certificateExpiry: new Gauge({ name: 'guarita_webhook_certificate_expiry_timestamp_seconds', help: 'notAfter of the serving certificate in use (Unix seconds).', registers: [registry] }),
    certificateReloads: new Counter({ name: 'guarita_webhook_certificate_reloads_total', help: 'Serving certificate hot reloads.', registers: [registry] }),
  };
}
