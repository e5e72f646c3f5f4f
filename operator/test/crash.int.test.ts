// kill -9 of the operator while sidecars are sending: after a restart on the same volume, every
// record the operator acknowledged is there, every chain verifies, and sidecars continue exactly
// where the durable position says (resending what was not acknowledged).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { PolicyEntryLine, SessionRecord } from '../src/store/types.ts';
import { verifyExport } from '../../e2e/support/store-testkit.ts';
import { verifyPolicyEntries } from '../../core/recording/store-verify.ts';
import { accessPolicy } from '../../e2e/support/access-policy.ts';
import { apply, createNamespaces, grantSessionReaders, userToken } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { call, parseJsonl } from '../../e2e/support/operator-api.ts';
import { operatorFixture, startOperator, waitServing, type OperatorFixture, type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { sidecarClient, type SidecarClient } from '../../e2e/support/sidecar-client.ts';

jest.setTimeout(180_000);

const id = suffix();
const ns = `shop-crash-${id}`;
let fx: OperatorFixture;
const operators: OperatorProcess[] = [];

interface Traffic { sc: SidecarClient; sent: SessionRecord[]; acked: number; pending: SessionRecord[]; errors: number }

async function pump(t: Traffic, base: string, stop: { now: boolean }): Promise<void> {
  while (!stop.now) {
    if (t.pending.length === 0) {
      t.pending = t.sc.next(40, (i) => ({ policy: i % 3 === 0 ? 'customers-api' : 'orders-db', sessionId: `s-${t.sc.pod}` }));
      t.sent.push(...t.pending);
    }
    try {
      const res = await t.sc.send(base, t.pending);
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      t.acked = Number(res.body.seq);
      t.pending = [];
    } catch {
      t.errors++;
      return;
    }
  }
}

beforeAll(async () => {
  await installCrds();
  fx = await operatorFixture(`op-crash-${id}`);
  await createNamespaces(ns);
  await apply([accessPolicy(ns, 'orders-db'), accessPolicy(ns, 'customers-api')]);
  await grantSessionReaders(ns, { kind: 'User', name: 'audrey' });
});

afterAll(async () => {
  for (const op of operators) await op.stop();
});

async function storedByChain(url: string): Promise<Map<string, SessionRecord[]>> {
  const byChain = new Map<string, SessionRecord[]>();
  for (const policy of ['orders-db', 'customers-api']) {
    const entries = parseJsonl<PolicyEntryLine>((await call(url, 'GET', `/v1/namespaces/${ns}/policies/${policy}/chain/entries`, userToken('audrey'))).text);
    expect(verifyPolicyEntries(ns, policy, entries)).toMatchObject({ ok: true, problems: [] });
    for (const e of entries) if (e.type === 'entry' && e.record !== undefined) byChain.set(e.record.chainId, [...(byChain.get(e.record.chainId) ?? []), e.record]);
  }
  return byChain;
}

describe('kill -9 during ingest', () => {
  it('loses no acknowledged record', async () => {
    const first = await startOperator({ ...fx, watchNamespaces: [ns], name: 'crash-a' });
    operators.push(first);
    await waitServing(first);
    const traffic: Traffic[] = [];
    for (let i = 0; i < 4; i++) {
      const sc = await sidecarClient(ns, 'agent', `crash-pod-${i}`);
      expect((await sc.register(first.url)).status).toBe(201);
      traffic.push({ sc, sent: [], acked: 0, pending: [], errors: 0 });
    }
    const stop = { now: false };
    const pumps = traffic.map((t) => pump(t, first.url, stop));
    await eventually('acknowledged traffic', () => Promise.resolve(traffic.every((t) => t.acked >= 200) ? true : undefined), 60_000, 50);
    await first.kill9();
    stop.now = true;
    await Promise.all(pumps);
    const ackedAtKill = traffic.map((t) => t.acked);
    expect(traffic.every((t) => t.errors === 1)).toBe(true);

    const second = await startOperator({ ...fx, watchNamespaces: [ns], name: 'crash-b' });
    operators.push(second);
    await waitServing(second, 60_000);
    for (const [i, t] of traffic.entries()) {
      const pos = await t.sc.position(second.url);
      expect(pos.status).toBe(200);
      const seq = Number(pos.body.seq);
      // Everything acknowledged survived; at most the in-flight batch was stored without its answer.
      expect(seq).toBeGreaterThanOrEqual(ackedAtKill[i]!);
      expect(seq).toBeLessThanOrEqual(t.sent.length);
      expect(pos.body.head).toBe(t.sent[seq - 1]!.hash);
    }

    // What the store holds, policy by policy: every acknowledged record, each policy's log and checkpoints verifying.
    const byChain = await storedByChain(second.url);
    for (const [i, t] of traffic.entries()) {
      const stored = (byChain.get(t.sc.chainId) ?? []).sort((a, b) => a.seq - b.seq);
      expect(stored.slice(0, ackedAtKill[i]).map((r) => r.hash)).toEqual(t.sent.slice(0, ackedAtKill[i]).map((r) => r.hash));
    }

    // Sidecars resume from the durable position: resend what was not acknowledged, then continue.
    for (const t of traffic) {
      const seq = Number((await t.sc.position(second.url)).body.seq);
      const rest = [...t.sent.slice(seq), ...t.sc.next(5)];
      expect(await t.sc.send(second.url, rest)).toMatchObject({ status: 200, body: { seq: t.sent.length + 5 } });
    }
    const lines = parseJsonl((await call(second.url, 'GET', `/v1/namespaces/${ns}/export`, userToken('audrey'))).text);
    expect(verifyExport(lines, true)).toMatchObject({ ok: true });
  });
});
