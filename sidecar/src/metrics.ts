// Prometheus metrics of the sidecar, on its own registry (served at the admin /metrics). The
// PostgreSQL listener uses the same instruments with protocol="postgres".
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type RequestOutcome = 'allowed' | 'denied' | 'pending' | 'unauthenticated' | 'forbidden' | 'unavailable' | 'error';

/** The outcome counted for a request answered with a refusal of this status. */
export function refusedOutcome(status: number): RequestOutcome {
  return status === 401 ? 'unauthenticated' : status === 403 ? 'forbidden' : status === 503 ? 'unavailable' : 'error';
}

export class Metrics {
  readonly registry = new Registry();
  readonly #requestCells = new CountCells(['target', 'protocol', 'outcome']);
  readonly #decisionCells = new CountCells(['target', 'decision', 'rule']);
  readonly #maskedCells = new CountCells(['target', 'type']);
  /** Requests (HTTP) or statements (PostgreSQL) by how they ended. */
  readonly requests: Counter<'target' | 'protocol' | 'outcome'>;
  /** Policy decisions by verdict and rule (rule "" when no rule matched). */
  readonly decisions: Counter<'target' | 'decision' | 'rule'>;
  /** Masked values by detector type. */
  readonly masked: Counter<'target' | 'type'>;
  /** Time a command was held for approval, by how the hold ended. */
  readonly approvalWait: Histogram<'target' | 'outcome'>;
  /** Upstream latency: time to response headers (HTTP) or to the statement's completion (PostgreSQL). */
  readonly upstreamLatency: Histogram<'target' | 'protocol'>;
  readonly sessionsOpen: Gauge<'target'>;
  readonly sessionsClosed: Counter<'target' | 'reason'>;
  readonly spoolAppend: Histogram;
  readonly spoolPending: Gauge;
  readonly spoolFailures: Counter;
  /** Spool lines cut at start (a torn or non-verifying line, with everything after it). */
  readonly spoolRecoveryCuts: Counter;
  readonly shipped: Counter;
  readonly shipFailures: Counter<'reason'>;
  readonly policySynced: Gauge<'policy'>;
  readonly policyWatchBroken: Gauge;
  readonly authFailures: Counter<'target' | 'reason'>;
  /** OIDC key sets: age and stale-serving state per issuer (read at scrape time), refresh failures. */
  readonly oidcJwks: JwksGauges;
  readonly oidcJwksRefreshFailures: Counter<'issuer'>;
  /** TokenReviews sent to the apiserver, by answer (authenticated, rejected, error). */
  readonly tokenReviews: Counter<'result'>;
  /** Service-account tokens answered from the cache (positive, negative) without a TokenReview. */
  readonly tokenReviewCacheHits: Counter<'result'>;
  /** Service-account tokens refused without a TokenReview: local pre-check, rate limits, concurrency cap. */
  readonly tokenReviewRefused: Counter<'reason'>;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const latency = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
    const requestCells = this.#requestCells;
    const decisionCells = this.#decisionCells;
    const maskedCells = this.#maskedCells;
    this.requests = new Counter({
      name: 'guarita_sidecar_requests_total', help: 'Requests (HTTP) and statements (PostgreSQL) by outcome.', labelNames: ['target', 'protocol', 'outcome'], registers,
      collect() { requestCells.foldInto(this); },
    });
    this.decisions = new Counter({
      name: 'guarita_sidecar_decisions_total', help: 'Policy decisions by verdict and rule.', labelNames: ['target', 'decision', 'rule'], registers,
      collect() { decisionCells.foldInto(this); },
    });
    this.masked = new Counter({
      name: 'guarita_sidecar_masked_values_total', help: 'Personal-data values masked, by detector type.', labelNames: ['target', 'type'], registers,
      collect() { maskedCells.foldInto(this); },
    });
    this.approvalWait = new Histogram({ name: 'guarita_sidecar_approval_wait_seconds', help: 'How long commands were held for approval, by outcome.', labelNames: ['target', 'outcome'], buckets: [0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300], registers });
    this.upstreamLatency = new Histogram({ name: 'guarita_sidecar_upstream_latency_seconds', help: 'Upstream latency (HTTP: to response headers).', labelNames: ['target', 'protocol'], buckets: latency, registers });
    this.sessionsOpen = new Gauge({ name: 'guarita_sidecar_sessions_open', help: 'Open sessions.', labelNames: ['target'], registers });
    this.sessionsClosed = new Counter({ name: 'guarita_sidecar_sessions_closed_total', help: 'Closed sessions by reason (client, revoked, policy, identity, expired, shutdown).', labelNames: ['target', 'reason'], registers });
    this.spoolAppend = new Histogram({ name: 'guarita_sidecar_spool_append_seconds', help: 'Durable append latency of session records (write + fdatasync).', buckets: latency, registers });
    this.spoolPending = new Gauge({ name: 'guarita_sidecar_spool_pending_records', help: 'Records in the spool not yet acknowledged by the operator.', registers });
    this.spoolFailures = new Counter({ name: 'guarita_sidecar_spool_failures_total', help: 'Failed spool writes (the commands concerned failed).', registers });
    this.spoolRecoveryCuts = new Counter({ name: 'guarita_sidecar_spool_recovery_cuts_total', help: 'Times the spool was cut at start at a torn or non-verifying line (logged with the segment, offset and problem).', registers });
    this.shipped = new Counter({ name: 'guarita_sidecar_records_shipped_total', help: 'Records acknowledged by the operator.', registers });
    this.shipFailures = new Counter({ name: 'guarita_sidecar_ship_failures_total', help: 'Failed deliveries to the operator, by reason.', labelNames: ['reason'], registers });
    this.policySynced = new Gauge({ name: 'guarita_sidecar_policy_in_force', help: '1 when the AccessPolicy is synced and valid, 0 otherwise.', labelNames: ['policy'], registers });
    this.policyWatchBroken = new Gauge({ name: 'guarita_sidecar_policy_watch_broken_seconds', help: 'Seconds the AccessPolicy watch has been broken (0 when healthy).', registers });
    this.authFailures = new Counter({ name: 'guarita_sidecar_authentication_failures_total', help: 'Rejected credentials by reason.', labelNames: ['target', 'reason'], registers });
    this.oidcJwks = new JwksGauges(registers);
    this.oidcJwksRefreshFailures = new Counter({ name: 'guarita_sidecar_oidc_jwks_refresh_failures_total', help: 'Failed fetches of an OIDC issuer\'s discovery or JWKS (cached keys keep verifying up to GUARITA_OIDC_JWKS_MAX_STALE).', labelNames: ['issuer'], registers });
    this.tokenReviews = new Counter({ name: 'guarita_sidecar_tokenreviews_total', help: 'TokenReviews sent to the apiserver, by answer.', labelNames: ['result'], registers });
    this.tokenReviewCacheHits = new Counter({ name: 'guarita_sidecar_tokenreview_cache_hits_total', help: 'Service-account tokens answered from the cache (positive or negative) without a TokenReview.', labelNames: ['result'], registers });
    this.tokenReviewRefused = new Counter({ name: 'guarita_sidecar_tokenreview_refused_total', help: 'Service-account tokens refused without a TokenReview, by reason (pre-check, rate limit, concurrency cap).', labelNames: ['reason'], registers });
    if (opts.defaultMetrics === true) collectDefaultMetrics({ register: this.registry, prefix: 'guarita_sidecar_' });
  }

  /** `requests` for one label set, counted on a per-statement path (see CountCells). */
  requestCell(target: string, protocol: string, outcome: RequestOutcome): CountCell {
    return this.#requestCells.cell(target, protocol, outcome);
  }

  /** `decisions` for one label set (rule "" when no rule matched), counted on a per-statement path. */
  decisionCell(target: string, decision: string, rule: string): CountCell {
    return this.#decisionCells.cell(target, decision, rule);
  }

  /** `masked` for each detector type of an answer or statement (counts of 0 are not counted), on count cells. */
  countMasked(target: string, counts: Readonly<Record<string, number>>): void {
    for (const type in counts) {
      const n = counts[type] ?? 0;
      if (n > 0) this.#maskedCells.cell(target, type).add(n);
    }
  }
}

/** One label set's count: a plain number until its counter is read. */
export class CountCell {
  pending = 0;
  readonly labels: Readonly<Record<string, string>>;
  constructor(labels: Readonly<Record<string, string>>) { this.labels = labels; }
  inc(): void { this.pending++; }
  add(n: number): void { this.pending += n; }
}

/**
 * Counts of a counter incremented on every statement, kept per label set as plain numbers and
 * added to the prom-client counter when it is read (its collect hook: every scrape and every
 * get()). Counter.inc builds and validates a hash of its label object on each call (~0.3 µs
 * measured here, twice per statement; `masked` once per detector type of every masked answer); a
 * cell, found once per label set, costs a few ns. The cells are as many as the counter's label
 * sets (targets × outcomes × rules), as in prom-client. Two or three label names.
 */
class CountCells {
  readonly #names: readonly [string, string, string?];
  readonly #byLabels = new Map<string, Map<string, Map<string, CountCell>>>();
  readonly #all: CountCell[] = [];

  constructor(names: readonly [string, string, string?]) { this.#names = names; }

  /** The cell of the label set whose values (in the order of the names given) are a, b and c (no c for two names). */
  cell(a: string, b: string, c = ''): CountCell {
    let byB = this.#byLabels.get(a);
    if (byB === undefined) this.#byLabels.set(a, (byB = new Map<string, Map<string, CountCell>>()));
    let byC = byB.get(b);
    if (byC === undefined) byB.set(b, (byC = new Map<string, CountCell>()));
    let cell = byC.get(c);
    if (cell === undefined) {
      const [na, nb, nc] = this.#names;
      cell = new CountCell(nc === undefined ? { [na]: a, [nb]: b } : { [na]: a, [nb]: b, [nc]: c });
      byC.set(c, cell);
      this.#all.push(cell);
    }
    return cell;
  }

  foldInto(counter: Counter<string>): void {
    for (const cell of this.#all) {
      if (cell.pending === 0) continue;
      counter.inc(cell.labels, cell.pending);
      cell.pending = 0;
    }
  }
}

/** What an OIDC verifier reports about one issuer's key set. */
export interface JwksGaugeValue { issuer: string; ageSeconds: number; stale: boolean }

/** Key-set gauges computed at scrape time from the verifier that provides them. */
export class JwksGauges {
  #provider: (() => JwksGaugeValue[]) | undefined;

  constructor(registers: Registry[]) {
    const values = (): JwksGaugeValue[] => this.#provider?.() ?? [];
    new Gauge({
      name: 'guarita_sidecar_oidc_jwks_age_seconds', help: 'Seconds since the OIDC issuer\'s signing keys were last fetched successfully.', labelNames: ['issuer'], registers,
      collect() {
        this.reset();
        for (const v of values()) this.set({ issuer: v.issuer }, v.ageSeconds);
      },
    });
    new Gauge({
      name: 'guarita_sidecar_oidc_jwks_stale', help: '1 while the last refresh of the issuer\'s signing keys failed and cached keys are served.', labelNames: ['issuer'], registers,
      collect() {
        this.reset();
        for (const v of values()) this.set({ issuer: v.issuer }, v.stale ? 1 : 0);
      },
    });
  }

  provide(provider: () => JwksGaugeValue[]): void { this.#provider = provider; }
}
