// Session ingest and the read API on the real operator process: TokenReview with the audience
// checked, namespace-bound chains, rejection of forged signatures, gaps, forks and replayed
// batches (with the metric and the Event), exactly-once storage of re-sent batches, anchoring in
// AccessPolicy status, and RBAC (SubjectAccessReview) deciding who reads recordings. Evidence only
// from injected proxies (issue 18, item 4): tokens bound to real Pod objects, refused unless the pod
// is an injected proxy in an opted-in namespace.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { verifyExport } from '../../e2e/support/store-testkit.ts';
import { verifyPolicyEntries } from '../../core/recording/store-verify.ts';
import { signChainCheckpoint } from '../../core/recording/chain-checkpoint.ts';
import { parseCheckpoint } from '../../core/recording/checkpoint.ts';
import { generateSigningKey } from '../../core/recording/index.ts';
import type { PolicyEntryLine, SessionRecord } from '../src/store/types.ts';
import { accessPolicy } from '../../e2e/support/access-policy.ts';
import { agentPod, injectedProxyToken, optInNamespace, podBoundToken } from '../../e2e/support/bound-pods.ts';
import {
  adminApi, apply, createNamespaces, createServiceAccount, eventsFor, getObject, grantSessionReaders, serviceAccountToken, userToken,
} from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { call, parseJsonl } from '../../e2e/support/operator-api.ts';
import { operatorFixture, startOperator, waitServing, type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { sidecarClient, type SidecarClient } from '../../e2e/support/sidecar-client.ts';

jest.setTimeout(120_000);

const id = suffix();
const opNs = `op-ing-${id}`;
const ns = `shop-ing-${id}`;
const other = `other-ing-${id}`;
let op: OperatorProcess;
let sc: SidecarClient;

interface PolicyObj { status?: { sessions?: { total: number; denied: number; approvalsRequested: number; lastSessionTime?: string }; chain?: { head: string; records: number; anchoredAt: string } } }

function integrityFailures(metrics: string, problem: string): number {
  return Number(new RegExp(`guarita_chain_integrity_failures_total\\{problem="${problem}",namespace="${ns}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
}

beforeAll(async () => {
  await installCrds();
  const fx = await operatorFixture(opNs);
  await createNamespaces(ns, other);
  await apply([accessPolicy(ns, 'orders-db')]);
  await grantSessionReaders(ns, { kind: 'Group', name: 'auditors' });
  op = await startOperator({ ...fx, watchNamespaces: [ns, other] });
  await waitServing(op);
  sc = await sidecarClient(ns, 'agent', 'agent-pod-1');
});

afterAll(async () => {
  await op?.stop();
});

describe('ingest authentication', () => {
  it('registers a chain with an audience-bound service-account token (201, then 200; 409 for another key)', async () => {
    const first = await sc.register(op.url);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ chainId: sc.chainId, keyId: sc.key.keyId, seq: 0 });
    expect((await sc.register(op.url)).status).toBe(200);
    const { generateSigningKey } = await import('../../core/recording/index.ts');
    const conflict = await call(op.url, 'POST', '/v1/chains', sc.token, { chainId: sc.chainId, namespace: ns, pod: sc.pod, publicJwk: generateSigningKey().publicJwk });
    expect(conflict.status).toBe(409);
  });

  it('rejects a token for another audience, a user token and no token', async () => {
    const wrongAudience = await serviceAccountToken(ns, 'agent', 'someone-else');
    const res = await call(op.url, 'POST', `/v1/chains/${encodeURIComponent(sc.chainId)}/records`, wrongAudience, { records: sc.next(1) });
    expect(res.status).toBe(401);
    expect(res.body.message).toContain('guarita-operator');
    const defaultAudience = await serviceAccountToken(ns, 'agent');
    expect((await call(op.url, 'GET', `/v1/chains/${encodeURIComponent(sc.chainId)}`, defaultAudience)).status).toBe(401);
    expect((await call(op.url, 'GET', `/v1/chains/${encodeURIComponent(sc.chainId)}`, userToken('alice'))).status).toBe(401);
    expect((await call(op.url, 'GET', `/v1/chains/${encodeURIComponent(sc.chainId)}`, undefined)).status).toBe(401);
    // The record signed above was never stored: the chain is still empty.
    expect((await sc.position(op.url)).body).toMatchObject({ seq: 0 });
  });

  it('refuses a service account of another namespace, for registration and for records', async () => {
    await createServiceAccount(other, 'agent');
    const foreign = await serviceAccountToken(other, 'agent', 'guarita-operator');
    const reg = await call(op.url, 'POST', '/v1/chains', foreign, { chainId: `${ns}/x/1`, namespace: ns, pod: 'x', publicJwk: sc.key.publicJwk });
    expect(reg.status).toBe(403);
    const send = await call(op.url, 'POST', `/v1/chains/${encodeURIComponent(sc.chainId)}/records`, foreign, { records: [] });
    expect([400, 403]).toContain(send.status);
    expect((await call(op.url, 'GET', `/v1/chains/${encodeURIComponent(sc.chainId)}`, foreign)).status).toBe(403);
  });
});

describe('evidence only from injected proxies in opted-in namespaces (issue 18, item 4)', () => {
  const register = (token: string, namespace: string, pod: string) => call(op.url, 'POST', '/v1/chains', token, {
    chainId: `${namespace}/${pod}/${suffix()}`, namespace, pod, publicJwk: sc.key.publicJwk,
  });
  /** A token bound to a Pod created with `shape`, audience guarita-operator (what a pod projects for itself where no webhook runs). */
  const boundTo = async (namespace: string, pod: string, shape: Parameters<typeof agentPod>[3] = {}): Promise<string> => {
    await createServiceAccount(namespace, 'agent');
    return podBoundToken(namespace, 'agent', pod, await agentPod(namespace, 'agent', pod, shape), 'guarita-operator');
  };

  it('accepts a genuine injected pod and refuses, with what failed and the fix, every other sender; nothing of a refused batch is stored', async () => {
    const genuine = await injectedProxyToken(ns, 'agent', 'genuine-pod');
    expect((await register(genuine.token, ns, 'genuine-pod')).status).toBe(201);

    const refusals: [string, string, RegExp][] = [
      ['a token not bound to a pod', await serviceAccountToken(ns, 'agent', 'guarita-operator'), /not bound to a pod .*projected service-account token/],
      ['a pod without the status annotation', await boundTo(ns, 'forged-proxy', { injected: false }), /not injected by the guarita webhook .*guarita.io\/status/],
      ['a pod without guarita-proxy', await boundTo(ns, 'no-proxy', { proxy: false }), /no guarita-proxy container/],
      ['an agent container mounting the spool', await boundTo(ns, 'spool-reader', { agentMounts: ['guarita-spool'] }), /container agent mounts a volume reserved for guarita-proxy/],
    ];
    const pods = ['unbound', 'forged-proxy', 'no-proxy', 'spool-reader'];
    for (const [i, [what, token, reason]] of refusals.entries()) {
      const res = await register(token, ns, pods[i]!);
      expect({ what, status: res.status, message: String(res.body.message) }).toEqual({ what, status: 403, message: expect.stringMatching(reason) });
      // The same token sending a batch to an existing chain: refused, nothing stored.
      const before = (await sc.position(op.url)).body;
      const batch = await call(op.url, 'POST', `/v1/chains/${encodeURIComponent(sc.chainId)}/records`, token, { records: sc.next(1) });
      expect({ what, status: batch.status }).toEqual({ what, status: 403 });
      expect((await sc.position(op.url)).body).toEqual(before);
    }
  });

  it('refuses a pod in a namespace that is not opted in, and a namespace un-labelled after registration', async () => {
    // `other` is served by this operator but carries no guarita.io/injection label: no webhook runs
    // there, so a pod can shape itself as "injected" and project an operator-audience token.
    const lookAlike = await boundTo(other, 'look-alike');
    const res = await register(lookAlike, other, 'look-alike');
    expect(res.status).toBe(403);
    expect(res.body.message).toMatch(new RegExp(`namespace ${other} is not opted in \\(label guarita.io/injection=enabled is missing\\)`));

    // Opted in, then the label is removed (docs/webhook.md's outage last resort): registration asks again.
    await optInNamespace(other);
    expect((await register(lookAlike, other, 'look-alike')).status).toBe(201);
    await adminApi().mergePatch(`/api/v1/namespaces/${other}`, { metadata: { labels: { 'guarita.io/injection': null } } });
    const again = await register(lookAlike, other, 'look-alike');
    expect(again.status).toBe(403);
    expect(again.body.message).toMatch(/is not opted in/);
  });

  it('keeps a pod to its own chain: another injected pod of the namespace neither reads nor extends it', async () => {
    const sibling = await injectedProxyToken(ns, 'agent', 'sibling-pod');
    const path = `/v1/chains/${encodeURIComponent(sc.chainId)}`;
    const read = await call(op.url, 'GET', path, sibling.token);
    expect(read.status).toBe(403);
    expect(read.body.message).toMatch(new RegExp(`belongs to pod ${sc.pod}, the token is bound to pod sibling-pod`));
    const before = (await sc.position(op.url)).body;
    expect((await call(op.url, 'POST', `${path}/records`, sibling.token, { records: sc.next(1) })).status).toBe(403);
    expect((await sc.position(op.url)).body).toEqual(before);
  });
});

describe('ingest integrity', () => {
  let stored: SessionRecord[] = [];

  it('rejects a checkpoint not signed by the chain key or not over the records (422 naming it), a gap (409 expectedSeq) and stores none of them', async () => {
    const fresh = await sidecarClient(ns, 'agent', 'agent-pod-2');
    expect((await fresh.register(op.url)).status).toBe(201);
    const records = fresh.next(6, (i) => ({ sessionId: 's-integrity', decision: i === 2 ? 'deny' : 'allow' }));
    const ok = await fresh.send(op.url, records.slice(0, 3));
    expect(ok).toMatchObject({ status: 200, body: { seq: 3, head: records[2]!.hash } });

    // The genuine checkpoint's statement, signed by another key.
    const root = parseCheckpoint(fresh.checkpointAt(5)).checkpoint.rootHash;
    const bad = await fresh.send(op.url, records.slice(3, 5), signChainCheckpoint(fresh.chainId, 5, root, generateSigningKey(), new Date()));
    expect(bad.status).toBe(422);
    expect(bad.body).toMatchObject({ problem: 'checkpoint-signature', index: 1, seq: 5 });
    expect((await fresh.send(op.url, records.slice(3, 5), fresh.checkpointAt(4))).body).toMatchObject({ problem: 'checkpoint-size' });
    expect((await fresh.send(op.url, records.slice(3, 5), null)).body).toMatchObject({ problem: 'checkpoint-missing' });
    const altered = [records[3]!, { ...records[4]!, decision: 'allow' as const, command: 'SELECT 1' }];
    expect((await fresh.send(op.url, altered)).body).toMatchObject({ problem: 'hash-mismatch', index: 1, seq: 5 });

    const gap = await fresh.send(op.url, records.slice(4));
    expect(gap.status).toBe(409);
    expect(gap.body).toMatchObject({ problem: 'gap', expectedSeq: 4 });
    expect((await fresh.position(op.url)).body).toMatchObject({ seq: 3 });

    const m = await op.metrics();
    expect(integrityFailures(m, 'checkpoint-signature')).toBeGreaterThanOrEqual(1);
    expect(integrityFailures(m, 'gap')).toBeGreaterThanOrEqual(1);
    const event = await eventually('ChainIntegrity event on the policy', async () => (await eventsFor(ns, 'orders-db')).find((e) => e.reason === 'ChainIntegrity' && e.message.includes('checkpoint-signature')));
    expect(event.type).toBe('Warning');

    expect((await fresh.send(op.url, records.slice(3))).body).toMatchObject({ seq: 6 });
    stored = records;
  });

  it('rejects a replayed batch: another chain\'s records, and an altered history (fork)', async () => {
    const victim = await sidecarClient(ns, 'agent', 'agent-pod-3');
    expect((await victim.register(op.url)).status).toBe(201);
    // Records of agent-pod-2's chain replayed onto agent-pod-3's chain.
    const replay = await victim.send(op.url, stored.slice(0, 2));
    expect(replay.status).toBe(422);
    expect(replay.body).toMatchObject({ problem: 'wrong-chain' });
    // A different record (validly signed by the same key) at a stored seq.
    const twinRecords = victim.next(2);
    expect((await victim.send(op.url, twinRecords)).status).toBe(200);
    const { ChainWriter } = await import('../../core/recording/index.ts');
    const { chainId: _c, seq: _s, prev: _p, keyId: _k, hash: _h, ...payload } = twinRecords[1]!;
    const rewriter = new ChainWriter(victim.chainId, victim.key, { seq: 1, head: twinRecords[0]!.hash });
    const altered = rewriter.append({ ...payload, command: 'SELECT * FROM customers' }) as SessionRecord;
    const fork = await victim.send(op.url, [altered]);
    expect(fork.status).toBe(409);
    expect(fork.body).toMatchObject({ problem: 'fork', seq: 2 });
    expect(integrityFailures(await op.metrics(), 'fork')).toBeGreaterThanOrEqual(1);
  });

  it('accepts a re-sent batch exactly once', async () => {
    const resender = await sidecarClient(ns, 'agent', 'agent-pod-4');
    expect((await resender.register(op.url)).status).toBe(201);
    const batch = resender.next(5, { sessionId: 's-resend' });
    expect((await resender.send(op.url, batch)).body).toMatchObject({ seq: 5 });
    // The acknowledgement was "lost": the sidecar sends the same batch again, then the next one overlapping.
    expect(await resender.send(op.url, batch)).toMatchObject({ status: 200, body: { seq: 5, head: batch[4]!.hash } });
    const next = resender.next(2, { sessionId: 's-resend' });
    expect(await resender.send(op.url, [...batch.slice(3), ...next])).toMatchObject({ status: 200, body: { seq: 7 } });
    const session = await call<{ records: SessionRecord[] }>(op.url, 'GET', `/v1/namespaces/${ns}/sessions/s-resend`, userToken('audrey'));
    expect(session.body.records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('anchoring and the read API', () => {
  it('anchors the store-chain head and counters in AccessPolicy status, matching the read API', async () => {
    const chain = await call<{ head: string; records: number; storeKey: { keyId: string } }>(op.url, 'GET', `/v1/namespaces/${ns}/policies/orders-db/chain`, userToken('audrey'));
    expect(chain.status).toBe(200);
    const anchored = await eventually('status.chain at the store head', async () => {
      const p = await getObject<PolicyObj>('accesspolicy', ns, 'orders-db');
      return p.status?.chain?.head === chain.body.head ? p : undefined;
    });
    expect(anchored.status?.chain?.records).toBe(chain.body.records);
    // The store log holds a link per record and one per stored sidecar checkpoint; total counts the commands.
    const entries = parseJsonl<PolicyEntryLine>((await call(op.url, 'GET', `/v1/namespaces/${ns}/policies/orders-db/chain/entries`, userToken('audrey'))).text);
    const commands = entries.filter((e) => e.type === 'entry' && e.link.type === 'store.record').length;
    expect(anchored.status?.sessions).toMatchObject({ total: commands, denied: 1, approvalsRequested: 0 });
    expect(anchored.status?.sessions?.lastSessionTime).toBeDefined();
  });

  it('lets auditors list, replay, export and verify; Kubernetes RBAC refuses everyone else', async () => {
    const auditor = userToken('audrey');
    const list = await call<{ items: { sessionId: string; commands: number; denied: number }[] }>(op.url, 'GET', `/v1/namespaces/${ns}/sessions?policy=orders-db&since=1h`, auditor);
    expect(list.status).toBe(200);
    expect(list.body.items.find((s) => s.sessionId === 's-integrity')).toMatchObject({ commands: 6, denied: 1 });
    for (const user of ['eve', 'alice'] as const) {
      const denied = await call(op.url, 'GET', `/v1/namespaces/${ns}/sessions`, userToken(user));
      expect(denied.status).toBe(403);
      expect(denied.body.message).toContain('sessions.guarita.io');
    }
    expect((await call(op.url, 'GET', `/v1/namespaces/${ns}/export`, userToken('eve'))).status).toBe(403);
    expect((await call(op.url, 'GET', `/v1/namespaces/${ns}/sessions`, 'not-a-token')).status).toBe(401);

    const exported = await call(op.url, 'GET', `/v1/namespaces/${ns}/export`, auditor);
    expect(exported.headers['content-type']).toContain('application/x-ndjson');
    const lines = parseJsonl(exported.text);
    // Format 2: a registration (the chain key as the operator vouched for it) per chain.
    expect(lines.filter((l) => (l as { type?: string }).type === 'registration').length).toBeGreaterThanOrEqual(3);
    expect(verifyExport(lines, true).problems).toEqual([]);

    const chains = await call<{ items: { chainId: string; seq: number }[] }>(op.url, 'GET', `/v1/namespaces/${ns}/chains`, auditor);
    expect(chains.body.items.length).toBeGreaterThanOrEqual(3);

    const entries = parseJsonl<PolicyEntryLine>((await call(op.url, 'GET', `/v1/namespaces/${ns}/policies/orders-db/chain/entries`, auditor)).text);
    const p = await getObject<PolicyObj>('accesspolicy', ns, 'orders-db');
    expect(verifyPolicyEntries(ns, 'orders-db', entries, p.status?.chain)).toMatchObject({ ok: true });
    const verify = await call<{ ok: boolean }>(op.url, 'GET', `/v1/namespaces/${ns}/policies/orders-db/verify`, auditor);
    expect(verify.body).toMatchObject({ ok: true });
  });
});
