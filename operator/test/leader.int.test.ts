// Two operator processes on one Lease (and one shared store volume): exactly one leads and serves;
// the follower answers 503 with Retry-After; when the leader is killed, the follower takes over,
// opens the store with everything acknowledged so far, serves ingest and reconciles.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { accessPolicy } from '../../e2e/support/access-policy.ts';
import { apply, createNamespaces, getObject } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { operatorFixture, startOperator, type OperatorFixture, type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { sidecarClient } from '../../e2e/support/sidecar-client.ts';

jest.setTimeout(180_000);

const id = suffix();
const ns = `shop-lead-${id}`;
let fx: OperatorFixture;
const operators: OperatorProcess[] = [];

interface Lease { spec: { holderIdentity?: string; leaseTransitions?: number; renewTime?: string } }
interface PolicyObj { status?: { conditions?: { type: string; status: string }[] } }

beforeAll(async () => {
  await installCrds();
  fx = await operatorFixture(`op-lead-${id}`);
  await createNamespaces(ns);
});

afterAll(async () => {
  for (const op of operators) await op.stop();
});

describe('leader election', () => {
  it('elects one leader; the other takes over when it dies', async () => {
    const a = await startOperator({ ...fx, watchNamespaces: [ns], name: 'lead-a' });
    const b = await startOperator({ ...fx, watchNamespaces: [ns], name: 'lead-b' });
    operators.push(a, b);
    const leader = await eventually('one serving leader', async () => {
      const [sa, sb] = await Promise.all([a.status(), b.status()]);
      if (sa.leader && sa.serving) return { op: a, other: b, status: sa };
      if (sb.leader && sb.serving) return { op: b, other: a, status: sb };
      return undefined;
    }, 30_000);
    // Stable: still exactly one leader three renewals later (counted on the Lease, not the clock).
    const renewals = new Set<string>();
    await eventually('three more renewals of the lease', async () => {
      const l = await getObject<Lease>('lease', fx.namespace, 'guarita-operator-leader');
      if (l.spec.holderIdentity === leader.status.identity && l.spec.renewTime !== undefined) renewals.add(l.spec.renewTime);
      return renewals.size > 3 ? true : undefined;
    }, 30_000, 100);
    const [sa, sb] = await Promise.all([a.status(), b.status()]);
    expect([sa.leader, sb.leader].filter(Boolean)).toHaveLength(1);
    const lease = await getObject<Lease>('lease', fx.namespace, 'guarita-operator-leader');
    expect(lease.spec.holderIdentity).toBe(leader.status.identity);

    const sc = await sidecarClient(ns, 'agent', 'lead-pod');
    const refused = await sc.register(leader.other.url);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBeDefined();
    expect((await sc.register(leader.op.url)).status).toBe(201);
    const batch = sc.next(10);
    expect((await sc.send(leader.op.url, batch)).body).toMatchObject({ seq: 10 });

    await leader.op.kill9();
    const killedAt = Date.now();
    await eventually('the follower to take over', async () => {
      const s = await leader.other.status();
      return s.leader && s.serving ? true : undefined;
    }, 30_000, 100);
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(15_000);
    const after = await getObject<Lease>('lease', fx.namespace, 'guarita-operator-leader');
    expect(after.spec.holderIdentity).toBe((await leader.other.status()).identity);
    expect(after.spec.leaseTransitions).toBeGreaterThanOrEqual(1);

    // The new leader has the store: the acknowledged records, and it takes more.
    expect((await sc.position(leader.other.url)).body).toMatchObject({ seq: 10, head: batch[9]!.hash });
    expect((await sc.send(leader.other.url, sc.next(5))).body).toMatchObject({ seq: 15 });
    // And it reconciles.
    await apply([accessPolicy(ns, 'after-takeover')]);
    await eventually('policy Ready under the new leader', async () => {
      const p = await getObject<PolicyObj>('accesspolicy', ns, 'after-takeover');
      return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true ? true : undefined;
    });
  });

  it('hands over at once when the leader shuts down cleanly (releases the Lease)', async () => {
    const current = await eventually('current leader', async () => {
      for (const op of operators) {
        if (op.proc.exit !== undefined) continue;
        const s = await op.status();
        if (s.leader) return op;
      }
      return undefined;
    });
    const c = await startOperator({ ...fx, watchNamespaces: [ns], name: 'lead-c' });
    operators.push(c);
    await eventually('c following', async () => ((await c.status()).holder !== undefined ? true : undefined));
    const stoppedAt = Date.now();
    await current.stop();
    await eventually('c leading', async () => ((await c.status()).serving ? true : undefined), 20_000, 100);
    // Faster than the 4s lease duration a crashed leader would cost.
    expect(Date.now() - stoppedAt).toBeLessThan(3500);
  });
});
