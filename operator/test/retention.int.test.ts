// Retention on the real operator: whole expired segments are deleted, a signed tombstone records
// the cut, and verification (server-side, offline per policy against the anchored head, and of
// the full export across sidecar chains) still passes; status counters stay cumulative.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PolicyEntryLine } from '../src/store/types.ts';
import { verifyExport } from '../../e2e/support/store-testkit.ts';
import { verifyPolicyEntries } from '../../core/recording/store-verify.ts';
import { accessPolicy } from '../../e2e/support/access-policy.ts';
import { apply, createNamespaces, getObject, grantSessionReaders, userToken } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { call, parseJsonl } from '../../e2e/support/operator-api.ts';
import { operatorFixture, startOperator, waitServing, type OperatorFixture, type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { sidecarClient } from '../../e2e/support/sidecar-client.ts';

jest.setTimeout(120_000);

const id = suffix();
const ns = `shop-ret-${id}`;
let fx: OperatorFixture;
let op: OperatorProcess;

interface PolicyObj { status?: { sessions?: { total: number }; chain?: { head: string; records: number; anchoredAt: string } } }
interface ChainInfo { head: string; records: number; segments: number; tombstone?: { cut: { seq: number }; removedRecords: number; removedSegments: string[] } }

beforeAll(async () => {
  await installCrds();
  fx = await operatorFixture(`op-ret-${id}`);
  await createNamespaces(ns);
  // orders-db keeps sessions 6s; customers-api (same sidecar chains) keeps them for the default 180d.
  await apply([accessPolicy(ns, 'orders-db', { retention: { sessions: '6s' } }), accessPolicy(ns, 'customers-api')]);
  await grantSessionReaders(ns, { kind: 'User', name: 'audrey' });
  op = await startOperator({ ...fx, watchNamespaces: [ns], env: { GUARITA_SEGMENT_MAX_BYTES: '4Ki', GUARITA_RETENTION_INTERVAL: '300ms' } });
  await waitServing(op);
});

afterAll(async () => {
  await op?.stop();
});

describe('retention', () => {
  it('removes old segments and verification still passes', async () => {
    const auditor = userToken('audrey');
    const sc = await sidecarClient(ns, 'agent', 'ret-pod');
    expect((await sc.register(op.url)).status).toBe(201);
    const old = sc.next(30, (i) => ({ policy: i % 4 === 3 ? 'customers-api' : 'orders-db', sessionId: 'old-session' }));
    expect((await sc.send(op.url, old)).body).toMatchObject({ seq: 30 });
    const segDir = join(fx.dataDir, 'policies', ns, 'orders-db', 'segments');
    const before = readdirSync(segDir);
    expect(before.length).toBeGreaterThan(2);

    const cut = await eventually('a retention cut on orders-db', async () => {
      const info = await call<ChainInfo>(op.url, 'GET', `/v1/namespaces/${ns}/policies/orders-db/chain`, auditor);
      return info.body.tombstone === undefined ? undefined : info.body;
    }, 30_000, 200);
    expect(cut.tombstone?.removedRecords).toBeGreaterThan(0);
    expect(cut.tombstone?.removedSegments.length).toBeGreaterThan(0);
    expect(readdirSync(segDir).filter((n) => before.includes(n)).length).toBeLessThan(before.length);
    expect(await op.metrics()).toMatch(new RegExp(`guarita_retention_segments_deleted_total\\{namespace="${ns}",policy="orders-db"\\} [1-9]`));

    // New records keep arriving on the same chain after the cut.
    expect((await sc.send(op.url, sc.next(4, { policy: 'orders-db', sessionId: 'new-session' }))).body).toMatchObject({ seq: 34 });
    const info = (await call<ChainInfo>(op.url, 'GET', `/v1/namespaces/${ns}/policies/orders-db/chain`, auditor)).body;
    const anchored = await eventually('anchored head after the cut', async () => {
      const p = await getObject<PolicyObj>('accesspolicy', ns, 'orders-db');
      return p.status?.chain?.head === info.head ? p : undefined;
    });
    // Counters are cumulative across the cut: the old orders-db commands + 4 new ones.
    expect(anchored.status?.sessions?.total).toBe(old.filter((r) => r.policy === 'orders-db').length + 4);

    const server = await call<{ ok: boolean; problems: string[] }>(op.url, 'GET', `/v1/namespaces/${ns}/policies/orders-db/verify`, auditor);
    expect(server.body).toMatchObject({ ok: true, problems: [] });
    const entries = parseJsonl<PolicyEntryLine>((await call(op.url, 'GET', `/v1/namespaces/${ns}/policies/orders-db/chain/entries`, auditor)).text);
    expect(entries.some((e) => e.type === 'tombstone')).toBe(true);
    expect(verifyPolicyEntries(ns, 'orders-db', entries, anchored.status?.chain)).toMatchObject({ ok: true });
    // The sidecar chain interleaves both policies: the export verifies across the holes retention left
    // (proofs from a stored frontier, or the records the operator's manifest alone vouches for).
    const lines = parseJsonl((await call(op.url, 'GET', `/v1/namespaces/${ns}/export`, auditor)).text);
    expect(lines[0]).toMatchObject({ type: 'export', format: 'guarita-export/v2' });
    expect(verifyExport(lines, true).problems).toEqual([]);
    // A tampered export does not.
    const tampered = lines.filter((l) => (l as { seq?: number }).seq !== 32);
    expect(verifyExport(tampered, true).ok).toBe(false);
  });
});
