// Round 11b adversarial review of the status-anchoring fix (recovery.ts policyChecker): a writer of
// `accesspolicies/status` only, pointing status.chain at an EARLIER REAL position of the log.
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, type SigningKey } from '../../../core/recording/index.ts';
import { fakeSidecar } from '../../../e2e/support/store-testkit.ts';
import { anchoredAt } from '../reconcile/anchor.ts';
import { mismatched, storedLinkHash } from '../reconcile/anchor-drift.ts';
import { FileStore } from './file-store.ts';
import type { AnchoredHead } from './types.ts';

const NS = 'ns-a';
const POLICY = 'orders-db';
const dirs: string[] = [];
const stores: FileStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function open(dir: string, key: SigningKey, anchor?: AnchoredHead): Promise<{ store: FileStore; warnings: string[]; errors: string[]; quarantined: number }> {
  const warnings: string[] = [];
  const errors: string[] = [];
  let quarantined = 0;
  const store = await FileStore.open({
    dir, key, segmentMaxBytes: 1 << 20, segmentMaxAgeMs: 3600_000,
    log: { info: () => undefined, error: (_o: object, msg: string) => { errors.push(msg); }, warn: (_o: object, msg: string) => { warnings.push(msg); } },
    hooks: { quarantined: (_ns: string, _p: string, bytes: number) => { quarantined += bytes; } },
    anchors: (_ns: string, p: string) => (p === POLICY ? anchor : undefined),
  });
  stores.push(store);
  return { store, warnings, errors, quarantined };
}
async function close(s: FileStore): Promise<void> {
  await s.close();
  stores.splice(stores.indexOf(s), 1);
}
function head(store: FileStore): AnchoredHead {
  const h = store.policyHeads().find((x) => x.policy === POLICY);
  if (h === undefined) throw new Error('no head');
  return anchoredAt(h);
}

describe('status writer: an earlier REAL position as the anchor, after two key rotations', () => {
  it('keeps the whole log the current key sealed, as it does with a forged or no anchor', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'guarita-op11b-'));
    dirs.push(dir);
    const A = fakeSidecar(NS, 'agent-a');
    const k0 = generateSigningKey();
    const k1 = generateSigningKey();
    const k2 = generateSigningKey();
    // The real operator: key k0 seals #3 and #6, rotated to k1 which seals #9, rotated to k2 (current) which seals #12.
    let o = await open(dir, k0);
    await o.store.registerChain(A.registration());
    let b = A.batch(3);
    expect((await o.store.append(A.chainId, b.records, b.checkpoint)).ok).toBe(true);
    const early = head(o.store); // a real position of the log: #3, sealed by k0
    b = A.batch(3);
    expect((await o.store.append(A.chainId, b.records, b.checkpoint)).ok).toBe(true);
    let anchor = head(o.store);
    await close(o.store);
    for (const k of [k1, k2]) {
      o = await open(dir, k, anchor);
      b = A.batch(3);
      expect((await o.store.append(A.chainId, b.records, b.checkpoint)).ok).toBe(true);
      anchor = head(o.store);
      await close(o.store);
    }
    const full = anchor.records; // every link (registrations included) up to k2's seal

    // Control: a forged anchor (or none) keeps everything: the current key's seal at #12 vouches for it all.
    o = await open(dir, k2, { head: 'a'.repeat(64), records: full });
    expect({ records: head(o.store).records, quarantined: o.quarantined }).toEqual({ records: full, quarantined: 0 });
    await close(o.store);

    // The attack: the status writer sets status.chain to the real link #3 (the operator stopped).
    // The anchorer's first-sight check after the start accepts it without a Warning ...
    o = await open(dir, k2, early);
    const desired = head(o.store);
    // (the anchorer's first sight on what is left: accepted without a Warning, see the next describe)
    expect(mismatched({ ...early }, desired, await storedLinkHash(o.store, NS, POLICY, early.records))).toBeUndefined();
    // ... and recovery must not withdraw what k1 and k2 sealed (k2's seal at the end covers it all).
    // On the current code: records 8 of 16 and ~9.7 KB moved to quarantine/, the store's only line
    // "moved an unacknowledged or inconsistent tail to quarantine", no anchor verdict logged.
    expect({ records: desired.records, quarantined: o.quarantined }).toEqual({ records: full, quarantined: 0 });
  });
});

// The anchorer's first sight after a start (anchor-drift.ts mismatched): an earlier REAL position is
// accepted silently, even when managedFields says someone other than the operator wrote it. That is
// what lets the attack above (and a volume rollback to that position) pass without AnchorMismatch.
describe('Anchorer first sight: an earlier real position written by another field manager', () => {
  it('is reported (AnchorMismatch or AnchorOverwritten), not accepted as "a start within one interval"', async () => {
    const { Anchorer } = await import('../reconcile/anchor.ts');
    const { createMetrics } = await import('../metrics.ts');
    type AP = import('../../../crds/types.ts').AccessPolicy;
    const policy = {
      apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', spec: {},
      metadata: { name: POLICY, namespace: NS, uid: 'u1', resourceVersion: '7',
        managedFields: [{ manager: 'kubectl-patch', operation: 'Update', subresource: 'status', time: '2026-01-10T12:00:00Z', fieldsV1: { 'f:status': { 'f:chain': {} } } }] },
      status: { chain: { head: 'h10', records: 10, anchoredAt: '2026-01-10T12:00:00Z' } },
    } as unknown as AP;
    const store = {
      policyHeads: () => [{ namespace: NS, policy: POLICY, records: 30, head: 'h30', version: 5, counters: { total: 1, denied: 0, approvalsRequested: 0 } }],
      policyEntries: async function* () { for (let seq = 1; seq <= 30; seq++) yield { type: 'entry', link: { seq, hash: `h${seq}` } }; return Promise.resolve(); },
    } as unknown as import('./types.ts').SessionStore;
    const warnings: string[] = [];
    const events: string[] = [];
    const anchorer = new Anchorer({
      api: { mergePatch: async () => Promise.resolve(policy), get: async () => Promise.resolve(structuredClone(policy)) } as unknown as import('../kube/client.ts').KubeApi,
      store, metrics: createMetrics(false), intervalMs: 1_000_000,
      policies: { get: () => policy } as unknown as import('../../../core/kube/informer.ts').Informer<AP>,
      events: { emit: (_r, _t, reason) => { events.push(reason); } },
      log: { warn: (_o, msg) => { warnings.push(msg); }, debug: () => undefined },
    });
    await anchorer.flush();
    expect({ events, warned: warnings.length > 0 }).toEqual({ events: [expect.stringMatching(/^Anchor(Mismatch|Overwritten)$/)], warned: true });
  });
});
