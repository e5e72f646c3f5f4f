// The real operator process against the harness apiserver: AccessPolicy conditions and Events,
// and every ApprovalRequest transition (threshold 2, one deny, expiry on time, consumption,
// garbage collection). No admission webhook runs here, so tests append reviews already stamped
// the way the webhook stamps them (reviewer, reviewerGroups, time), plus one unstamped forgery.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { accessPolicy } from '../../e2e/support/access-policy.ts';
import { adminApi, apply, createNamespaces, eventsFor, getObject } from '../../e2e/support/kube-apply.ts';
import { installCrds, k, suffix } from '../../e2e/support/kubectl.ts';
import { operatorFixture, startOperator, waitServing, type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { sidecarClient } from '../../e2e/support/sidecar-client.ts';
import { FIXTURE_ISSUER } from '../../webhook/test/fixtures.ts';

jest.setTimeout(120_000);

const id = suffix();
const opNs = `op-rec-${id}`;
const ns = `shop-rec-${id}`;
let op: OperatorProcess;

interface Cond { type: string; status: string; reason: string; message: string; observedGeneration: number }
interface PolicyObj { metadata: { generation: number }; status?: { observedGeneration?: number; ruleCount?: number; conditions?: Cond[]; sessions?: { total: number }; chain?: { head: string; records: number } } }
interface ArObj { metadata: { resourceVersion: string; name: string }; status?: { phase?: string; approvals?: number; required?: number; decidedAt?: string; reviews?: { reviewer: string }[]; message?: string; execution?: Record<string, unknown>; consumedAt?: string } }

function stamp(reviewer: string, groups: string[], decision: 'Approved' | 'Denied'): Record<string, unknown> {
  return { decision, reason: `ticket by ${reviewer}`, reviewer, reviewerGroups: groups, time: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
}

function approvalRequest(name: string, expiresInMs = 15 * 60_000, rule = 'exports-need-dpo', policy = 'orders-db'): Record<string, unknown> {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest', metadata: { name, namespace: ns },
    spec: {
      policyRef: { name: policy }, rule, requester: { username: 'agent-1', groups: ['support'], kind: 'User', issuer: FIXTURE_ISSUER, claims: { sub: 'agent-1' } }, purpose: 'customer-support',
      target: { name: 'orders-db', protocol: 'postgres' },
      command: { text: 'COPY customers TO STDOUT', preview: 'COPY customers TO STDOUT', sha256: 'c'.repeat(64) },
      podRef: { name: 'agent-pod' }, sessionId: 'session-9', expiresAt: new Date(Date.now() + expiresInMs).toISOString().replace(/\.\d+Z$/, 'Z'), reviews: [],
    },
  };
}

async function addReview(name: string, review: Record<string, unknown>): Promise<void> {
  const cur = await getObject<{ spec: { reviews?: unknown[] } }>('approvalrequest', ns, name);
  await adminApi().mergePatch(`/apis/guarita.io/v1alpha1/namespaces/${ns}/approvalrequests/${name}`, { spec: { reviews: [...(cur.spec.reviews ?? []), review] } });
}

function phaseOf(name: string, phase: string): () => Promise<ArObj | undefined> {
  return async () => {
    const ar = await getObject<ArObj>('approvalrequest', ns, name);
    return ar.status?.phase === phase ? ar : undefined;
  };
}

function condition(p: PolicyObj, type: string): Cond | undefined {
  return p.status?.conditions?.find((c) => c.type === type);
}

beforeAll(async () => {
  await installCrds();
  const fx = await operatorFixture(opNs);
  await createNamespaces(ns);
  await apply([accessPolicy(ns, 'orders-db', { retention: { sessions: '180d', approvals: '3s' } })]);
  op = await startOperator({ ...fx, watchNamespaces: [ns], env: { GUARITA_RESYNC_PERIOD: '10m' } });
  await waitServing(op);
});

afterAll(async () => {
  await op?.stop();
});

describe('AccessPolicy', () => {
  it('goes Ready (Compiled) with observedGeneration and a Ready Event', async () => {
    const p = await eventually('orders-db Ready', async () => {
      const obj = await getObject<PolicyObj>('accesspolicy', ns, 'orders-db');
      return condition(obj, 'Ready')?.status === 'True' ? obj : undefined;
    });
    expect(condition(p, 'Ready')).toMatchObject({ reason: 'Compiled', observedGeneration: p.metadata.generation });
    expect(condition(p, 'Invalid')).toMatchObject({ status: 'False', reason: 'Valid' });
    expect(p.status).toMatchObject({ observedGeneration: p.metadata.generation, ruleCount: 2 });
    const events = await eventually('Ready event', async () => (await eventsFor(ns, 'orders-db')).find((e) => e.reason === 'Ready'));
    expect(events.message).toContain('2 rule(s) in force');
  });

  it('goes Invalid with CompileFailed naming the field, then Ready again once fixed', async () => {
    const bad = accessPolicy(ns, 'broken', { rules: [{ name: 'odd', match: { sql: { tables: ['a.b.c'] } }, action: 'deny' }] });
    await apply([bad]);
    const p = await eventually('broken Invalid', async () => {
      const obj = await getObject<PolicyObj>('accesspolicy', ns, 'broken');
      return condition(obj, 'Invalid')?.status === 'True' ? obj : undefined;
    });
    expect(condition(p, 'Invalid')).toMatchObject({ reason: 'CompileFailed', observedGeneration: p.metadata.generation, message: expect.stringContaining('spec.rules[0].match.sql.tables[0]') });
    expect(condition(p, 'Ready')).toMatchObject({ status: 'False', reason: 'CompileFailed' });
    expect(p.status?.ruleCount).toBe(0);
    await eventually('Invalid event', async () => (await eventsFor(ns, 'broken')).find((e) => e.reason === 'Invalid' && e.type === 'Warning'));

    await apply([accessPolicy(ns, 'broken', { rules: [{ name: 'odd', match: { sql: { tables: ['public.customers'] } }, action: 'deny' }] })]);
    const fixed = await eventually('broken fixed', async () => {
      const obj = await getObject<PolicyObj>('accesspolicy', ns, 'broken');
      return condition(obj, 'Ready')?.status === 'True' && obj.status?.observedGeneration === obj.metadata.generation ? obj : undefined;
    });
    expect(fixed.metadata.generation).toBeGreaterThan(p.metadata.generation);
    expect(condition(fixed, 'Invalid')).toMatchObject({ status: 'False', observedGeneration: fixed.metadata.generation });
  });

  it('goes Invalid when a declared view definition does not parse (the sidecar would refuse the policy)', async () => {
    const sensitiveColumns = { columns: ['public.customers.cpf'], action: 'deny', views: [{ name: 'public.customer_view', query: 'SELEC cpf FROM customers' }] };
    await apply([accessPolicy(ns, 'bad-view', { sensitiveColumns })]);
    const p = await eventually('bad-view Invalid', async () => {
      const obj = await getObject<PolicyObj>('accesspolicy', ns, 'bad-view');
      return condition(obj, 'Invalid')?.status === 'True' ? obj : undefined;
    });
    expect(condition(p, 'Invalid')).toMatchObject({ reason: 'CompileFailed', message: expect.stringContaining('spec.sensitiveColumns.views[0].query') });
  });

  it('goes Invalid with MaskingInvalid for a pattern RE2 cannot compile', async () => {
    await apply([accessPolicy(ns, 'bad-mask', { masking: { customPatterns: [{ name: 'ticket', pattern: '(unclosed' }] } })]);
    const p = await eventually('bad-mask Invalid', async () => {
      const obj = await getObject<PolicyObj>('accesspolicy', ns, 'bad-mask');
      return condition(obj, 'Invalid')?.status === 'True' ? obj : undefined;
    });
    expect(condition(p, 'Invalid')).toMatchObject({ reason: 'MaskingInvalid', message: expect.stringContaining('spec.masking.customPatterns[0]') });
  });

  it('validates a policy again only when its generation or its owned status moved (generation predicate), keeping anchors', async () => {
    const name = 'gen-pred';
    const key = `${ns}/${name}`;
    const path = `/apis/guarita.io/v1alpha1/namespaces/${ns}/accesspolicies/${name}`;
    // The operator's debug log (GUARITA_LOG_LEVEL=debug), one JSON line per event it skipped or validation it ran.
    const lines = (): { msg: string; key?: string; resourceVersion?: string }[] => readFileSync(op.proc.logFile, 'utf8').split('\n').flatMap((l) => {
      try { return [JSON.parse(l) as { msg: string; key?: string; resourceVersion?: string }]; } catch { return []; }
    }).filter((l) => l.key === key);
    const validations = (): number => lines().filter((l) => l.msg === 'policy validated').length;
    const skipped = (rv: string): boolean => lines().some((l) => l.resourceVersion === rv && l.msg.includes('skipped'));
    const ready = (gen: number) => async (): Promise<PolicyObj | undefined> => {
      const obj = await getObject<PolicyObj>('accesspolicy', ns, name);
      return condition(obj, 'Ready')?.status === 'True' && condition(obj, 'Ready')?.reason === 'Compiled' && obj.status?.observedGeneration === gen ? obj : undefined;
    };

    await apply([accessPolicy(ns, name)]);
    await eventually('gen-pred Ready', ready(1));
    const first = validations();
    expect(first).toBeGreaterThanOrEqual(1);

    // Five status writes of the anchor's fields (as the anchorer makes every interval), a label and an annotation: generation stays 1.
    const api = adminApi();
    for (let i = 1; i <= 5; i++) await api.mergePatch(`${path}/status`, { status: { sessions: { total: i, denied: 0, approvalsRequested: 0 } } });
    await api.mergePatch(path, { metadata: { labels: { team: 'data' } } });
    const last = await api.mergePatch<{ metadata: { resourceVersion: string; generation: number } }>(path, { metadata: { annotations: { note: 'metadata only' } } });
    expect(last.metadata.generation).toBe(1);
    // Events arrive in order: once the last write's event was skipped, all seven were seen.
    await eventually('the last write\'s event skipped', () => Promise.resolve(skipped(last.metadata.resourceVersion) ? true : undefined));
    expect(validations()).toBe(first);

    // Owned status overwritten by someone else (generation unchanged): repaired, and the anchor's fields stay.
    const forged = { type: 'Ready', status: 'False', reason: 'Forged', message: 'not by the operator', observedGeneration: 1, lastTransitionTime: '2026-01-01T00:00:00Z' };
    await api.mergePatch(`${path}/status`, { status: { conditions: [forged] } });
    const repaired = await eventually('forged Ready repaired', ready(1));
    expect(repaired.status?.sessions?.total).toBe(5);
    expect(validations()).toBe(first + 1);

    // A spec change bumps generation: validated again.
    await api.mergePatch(path, { spec: { rules: [{ name: 'allow-the-rest', action: 'allow' }] } });
    const updated = await eventually('generation 2 Ready', ready(2));
    expect(updated.status).toMatchObject({ ruleCount: 1, sessions: { total: 5 } });
    expect(validations()).toBe(first + 2);

    // Deleted and created again under its name: generation 1 again, a new object, validated.
    await k(['delete', 'accesspolicy', name, '-n', ns]);
    await apply([accessPolicy(ns, name)]);
    const again = await eventually('recreated Ready', ready(1));
    expect(again.status?.ruleCount).toBe(2);
  });
});

describe('ApprovalRequest', () => {
  it('needs two distinct approvers (threshold 2), ignoring an unstamped review', async () => {
    await apply([approvalRequest('two-approvers')]);
    const pending = await eventually('Pending', phaseOf('two-approvers', 'Pending'));
    expect(pending.status).toMatchObject({ approvals: 0, required: 2 });
    const asked = await eventually('ApprovalRequested event', async () => (await eventsFor(ns, 'two-approvers')).find((e) => e.reason === 'ApprovalRequested'));
    expect(asked.message).toContain('needs 2 approval(s) from dpo');

    await addReview('two-approvers', { decision: 'Approved', reason: 'forged, no stamp' });
    await addReview('two-approvers', stamp('dana', ['dpo'], 'Approved'));
    await eventually('1 approval', async () => ((await getObject<ArObj>('approvalrequest', ns, 'two-approvers')).status?.approvals === 1 ? true : undefined));
    expect((await getObject<ArObj>('approvalrequest', ns, 'two-approvers')).status?.phase).toBe('Pending');
    await eventually('ReviewIgnored event', async () => (await eventsFor(ns, 'two-approvers')).find((e) => e.reason === 'ReviewIgnored'));

    await addReview('two-approvers', stamp('dave', ['dpo'], 'Approved'));
    const approved = await eventually('Approved', phaseOf('two-approvers', 'Approved'));
    expect(approved.status).toMatchObject({ approvals: 2, required: 2 });
    expect(approved.status?.reviews?.map((r) => r.reviewer)).toEqual(['dana', 'dave']);
    expect(approved.status?.decidedAt).toBeDefined();
  });

  it('is Denied by one denial', async () => {
    await apply([approvalRequest('one-deny')]);
    await eventually('Pending', phaseOf('one-deny', 'Pending'));
    await addReview('one-deny', stamp('dana', ['dpo'], 'Approved'));
    await addReview('one-deny', stamp('dave', ['dpo'], 'Denied'));
    const denied = await eventually('Denied', phaseOf('one-deny', 'Denied'));
    expect(denied.status?.message).toContain('denied by dave');
    await eventually('Denied event', async () => (await eventsFor(ns, 'one-deny')).find((e) => e.reason === 'Denied' && e.type === 'Warning'));
  });

  it('expires on time (a timer at expiresAt, not the 10-minute resync)', async () => {
    const expiresIn = 4000;
    await apply([approvalRequest('expires-soon', expiresIn)]);
    const created = await eventually('Pending', phaseOf('expires-soon', 'Pending'));
    expect(created.status?.phase).toBe('Pending');
    const ar = await getObject<{ spec: { expiresAt: string } }>('approvalrequest', ns, 'expires-soon');
    const expired = await eventually('Expired', phaseOf('expires-soon', 'Expired'), 15_000, 100);
    const lateMs = Date.parse(expired.status?.decidedAt ?? '') - Date.parse(ar.spec.expiresAt);
    expect(lateMs).toBeGreaterThanOrEqual(0);
    expect(lateMs).toBeLessThanOrEqual(2000);
  });

  it('leaves Consumed to the sidecar, records the execution summary, and garbage-collects after the retention', async () => {
    await apply([approvalRequest('consumed')]);
    await eventually('Pending', phaseOf('consumed', 'Pending'));
    await addReview('consumed', stamp('dana', ['dpo'], 'Approved'));
    await addReview('consumed', stamp('dave', ['dpo'], 'Approved'));
    const approved = await eventually('Approved', phaseOf('consumed', 'Approved'));

    // The sidecar's compare-and-swap: Approved → Consumed, guarded by resourceVersion (without execution here).
    const consumedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await adminApi().mergePatch(`/apis/guarita.io/v1alpha1/namespaces/${ns}/approvalrequests/consumed/status`, { metadata: { resourceVersion: approved.metadata.resourceVersion }, status: { phase: 'Consumed', consumedAt } });
    await eventually('Consumed event', async () => (await eventsFor(ns, 'consumed')).find((e) => e.reason === 'Consumed'));

    // The sidecar's record of the execution reaches the operator through ingest: the summary lands in status.
    const sc = await sidecarClient(ns);
    expect((await sc.register(op.url)).status).toBe(201);
    const records = sc.next(1, { type: 'approval.consumed', approvalRequest: 'consumed', command: 'COPY customers TO STDOUT', durationMs: 40, result: { rows: 50, bytes: 4096 } });
    expect((await sc.send(op.url, records)).status).toBe(200);
    const withExecution = await eventually('execution recorded', async () => {
      const ar = await getObject<ArObj>('approvalrequest', ns, 'consumed');
      return ar.status?.execution === undefined ? undefined : ar;
    });
    expect(withExecution.status).toMatchObject({ phase: 'Consumed', consumedAt, execution: { outcome: 'Succeeded', rows: 50, bytes: 4096, recordSequence: 1 } });

    // retention.approvals is 3s: the finished request is deleted.
    await eventually('garbage collected', async () => {
      const list = JSON.parse(await k(['get', 'approvalrequests', '-n', ns, '-o', 'json'])) as { items: { metadata: { name: string } }[] };
      return list.items.some((i) => i.metadata.name === 'consumed') ? undefined : true;
    }, 20_000, 250);
  });

  it('never hot-loops: an idle operator makes no writes', async () => {
    const count = (text: string, result: string): number => Number(new RegExp(`guarita_reconcile_total\\{kind="AccessPolicy",result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    const before = await op.metrics();
    // Instead of watching the clock: a metadata-only write the operator must see and skip. A
    // reconcile that wrote status on every status event would be writing all along, so by the
    // time this event is through, the updated count would have moved.
    await adminApi().mergePatch(`/apis/guarita.io/v1alpha1/namespaces/${ns}/accesspolicies/orders-db`, { metadata: { annotations: { 'hot-loop-probe': String(Date.now()) } } });
    const after = await eventually('the probe event skipped', async () => {
      const text = await op.metrics();
      return count(text, 'skipped') > count(before, 'skipped') ? text : undefined;
    });
    expect(count(after, 'updated')).toBe(count(before, 'updated'));
  });
});
