// For the enforcer's unit tests: the real SidecarEnforcer over the example policy, with fakes for
// identity, the policy watch, approvals and the spool (records are kept in memory).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { initPolicyEngine } from '../../core/policy/index.ts';
import { planField } from '../../core/approvals/plan.ts';
import type { ApprovalPlan } from '../../core/policy/types.ts';
import type { SessionEvent } from '../../core/recording/index.ts';
import type { AccessPolicy } from '../../crds/types.ts';
import { parseAccessPolicy } from '../../crds/validators.ts';
import type { Session } from '../src/enforcement.ts';
import { SidecarEnforcer, type EnforcerDeps } from '../src/enforcer.ts';
import { Metrics } from '../src/metrics.ts';
import type { PolicyState } from '../src/policy-watch.ts';
import { compileTarget, type CompiledTarget } from '../src/targets.ts';

export interface ExampleEnforcer {
  open(): Promise<Session>;
  records: SessionEvent[];
  metrics: Metrics;
  plans: { partial: CompiledTarget; redact: CompiledTarget };
  use(plan: CompiledTarget): void;
  /** Approvals: the next resolve() answers this. */
  approve: 'approved' | 'denied';
  /** Called while an approval is awaited (after the request is created, before the answer). */
  duringWait?: () => void;
  /** The example policy (style partial) changed by `edit`, compiled. */
  variant(edit: (spec: AccessPolicy['spec']) => void): CompiledTarget;
}

/** The real enforcer over the example policy (fakes for identity, policy watch, approvals and spool); `use` swaps the policy in force as the watch would. */
export async function exampleEnforcer(): Promise<ExampleEnforcer> {
  await initPolicyEngine();
  const load = (style: 'partial' | 'redact', edit: (spec: AccessPolicy['spec']) => void = () => undefined): CompiledTarget => {
    const policy = parseAccessPolicy(parseYaml(readFileSync(join(import.meta.dirname, '../../examples/lgpd-orders/accesspolicy.yaml'), 'utf8')));
    policy.spec.masking = { ...(policy.spec.masking ?? {}), style };
    edit(policy.spec);
    return compileTarget(policy, '/nonexistent');
  };
  const plans = { partial: load('partial'), redact: load('redact') };
  let state: PolicyState<CompiledTarget> = { state: 'ok', policy: plans.partial.policy, compiled: plans.partial, generation: 1 };
  const listeners: ((name: string, s: PolicyState<CompiledTarget>) => void)[] = [];
  const records: SessionEvent[] = [];
  const metrics = new Metrics();
  const logger = { info() {}, warn() {}, error() {}, debug() {}, child() { return logger; } };
  const h: ExampleEnforcer = {
    records, metrics, plans, approve: 'approved',
    variant: (edit) => load('partial', edit),
    open: async () => {
      const opened = await enforcer.openSession({ target: 'orders-db', credential: 't', purpose: 'customer-support', client: { remoteAddress: '127.0.0.1' } });
      if (!opened.ok) throw new Error(opened.message);
      return opened.session;
    },
    use(plan) {
      state = { state: 'ok', policy: plan.policy, compiled: plan, generation: (state.state === 'ok' ? (state.generation ?? 0) : 0) + 1 };
      for (const fn of listeners) fn('orders-db', state);
    },
  };
  let approvals = 0;
  const approvalsFake = {
    // An ApprovalRequest as the sidecar creates it (the plan recorded) and the operator approves it: one review by dana (group dpo).
    resolve: async (req: { commandText: string; rule: string; plan: ApprovalPlan }, opts: { onCreated?: (r: unknown) => Promise<void> }) => {
      const time = new Date().toISOString();
      const request = {
        metadata: { name: `ar-${++approvals}`, namespace: 'ns', creationTimestamp: time },
        spec: {
          rule: req.rule, commandText: req.commandText, expiresAt: new Date(Date.now() + req.plan.ttlSeconds * 1000).toISOString(), approval: planField(req.plan),
          reviews: [{ decision: 'Approved', reason: 'ok', reviewer: 'dana', reviewerGroups: ['dpo'], time }],
        },
        status: { phase: 'Consumed', approvals: 1, required: req.plan.minApprovals, reviews: [{ reviewer: 'dana', decision: 'Approved', reason: 'ok', time }] },
      };
      await opts.onCreated?.(request);
      h.duringWait?.();
      return { kind: h.approve, request, message: h.approve };
    },
  };
  const enforcer = new SidecarEnforcer({
    config: { namespace: 'ns', podName: 'pod', targets: [{ target: 'orders-db', protocol: 'postgres', policy: 'orders-db', listenPort: 0 }], approvalWaitMs: 1000 },
    policies: { availability: () => ({ ok: true }), get: () => state, onChange: (fn: (name: string, s: PolicyState<CompiledTarget>) => void) => { listeners.push(fn); return () => undefined; } },
    authenticator: { authenticate: () => Promise.resolve({ identity: { subject: 'support-agent', groups: ['support'], kind: 'User' } }) },
    approvals: approvalsFake, metrics, logger,
    spool: { health: () => ({ ok: true }), append: (event: SessionEvent) => { records.push(event); return Promise.resolve({}); } },
  } as unknown as EnforcerDeps);
  return h;
}
