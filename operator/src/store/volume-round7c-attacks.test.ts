// Round 7c adversarial review of the round 7 volume fix (cd6d1eb): someone who can write the
// store's volume, but holds neither the store-key Secret nor `patch` on accesspolicies/status.
// The open-time checker (recovery.ts entryChecker) starts each policy's log at its tombstone's cut,
// and the tombstone is verified with a key read from keys/ on the volume: a writer that drops its
// own key there and writes its own retention cut resets "the current key sealed this log", so
// entries sealed by its key after the cut pass, are sealed over by the real key and anchored.
// Each test here FAILED on the code it was written against (see docs/security-model.md).
import { afterEach, describe, expect, it } from '@jest/globals';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, type SigningKey } from '../../../core/recording/index.ts';
import { ExportVerifier } from '../../../core/recording/export-verify.ts';
import { verifyPolicyEntries } from '../../../core/recording/store-verify.ts';
import { fakeSidecar } from '../../../e2e/support/store-testkit.ts';
import { FileStore } from './file-store.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const NS = 'ns-a';
const POLICY = 'orders-db';
const DAY = 86_400_000;

const dirs: string[] = [];
const stores: FileStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

type Anchors = (namespace: string, policy: string) => { head: string; records: number } | undefined;

/**
 * `anchors`: what AccessPolicy status.chain says (the controller passes it); the writer running the
 * honest code on its copy passes the heads it found, so that its copy opens and it can append.
 */
async function open(dir: string, key: SigningKey, now?: () => number, anchors?: Anchors): Promise<FileStore> {
  const s = await FileStore.open({ dir, key, segmentMaxBytes: 1 << 20, segmentMaxAgeMs: 3600_000, log: quiet, ...(now === undefined ? {} : { now }), ...(anchors === undefined ? {} : { anchors }) });
  stores.push(s);
  return s;
}

function isAnchored(verdict: ReturnType<ExportVerifier['finish']>): boolean {
  return verdict.ok && verdict.trust?.state === 'anchored';
}

/** AccessPolicy status.chain naming `anchor` for `policy` only. */
function onlyFor(policy: string, anchor: { head: string; records: number }): Anchors {
  return (_ns, p) => (p === policy ? anchor : undefined);
}

async function closeStore(s: FileStore): Promise<void> {
  await s.close();
  stores.splice(stores.indexOf(s), 1);
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

describe('a retention cut written on the volume by a key dropped in keys/ (readTombstone reads keys from the volume)', () => {
  it('does not let entries sealed by the writer\'s key after the cut be anchored, long after the current key sealed the log', async () => {
    const realKey = generateSigningKey();
    const dir = tempDir('guarita-r7c-vol-');

    // The real operator stores a genuine chain A over two commit groups (sealed by the current key),
    // and AccessPolicy status.chain anchors its head. Then it stops.
    const A = fakeSidecar(NS, 'agent-a');
    let store = await open(dir, realKey);
    await store.registerChain(A.registration());
    for (let i = 0; i < 2; i++) {
      const b = A.batch(3);
      expect((await store.append(A.chainId, b.records, b.checkpoint)).ok).toBe(true);
    }
    const oldHead = store.policyHeads().find((h) => h.namespace === NS && h.policy === POLICY)?.checkpoint;
    expect(oldHead).toBeDefined();
    const oldAnchor = { head: oldHead!.head, records: oldHead!.size };
    await closeStore(store);

    // The writer copies the store and runs the honest code on the copy with a key of its own, F: a
    // retention cut of everything (a tombstone signed by F, whose cut is exactly the anchored head,
    // with the real frontier), then a fabricated chain G appended after it (sealed by F).
    const scratch = tempDir('guarita-r7c-vol-forge-');
    cpSync(dir, scratch, { recursive: true });
    const F = generateSigningKey();
    const later = Date.now() + 2 * DAY;
    const forger = await open(scratch, F, () => later, onlyFor(POLICY, oldAnchor));
    const cuts = await forger.applyRetention(() => DAY, later);
    expect(cuts).toHaveLength(1);
    const G = fakeSidecar(NS, 'agent-ghost');
    await forger.registerChain(G.registration());
    const g = G.batch(3, { command: 'DELETE FROM customers -- fabricated, never ran', subject: 'alice' });
    expect((await forger.append(G.chainId, g.records, g.checkpoint)).ok).toBe(true);
    await closeStore(forger);

    // It puts the policy's directory (tombstone.json, segments), keys/F.jwk and G's registration
    // on the real volume.
    const pdir = join('policies', NS, POLICY);
    rmSync(join(dir, pdir), { recursive: true, force: true });
    cpSync(join(scratch, pdir), join(dir, pdir), { recursive: true });
    cpSync(join(scratch, 'keys', `${F.keyId}.jwk`), join(dir, 'keys', `${F.keyId}.jwk`));
    for (const f of readdirSync(join(scratch, 'chains', NS))) cpSync(join(scratch, 'chains', NS, f), join(dir, 'chains', NS, f));

    // The real operator restarts with its key (from the Secret) and keeps working: a new sidecar
    // chain's batch is sealed by the real key over a log that now holds G.
    let opened: FileStore | undefined;
    try {
      opened = await open(dir, realKey, undefined, onlyFor(POLICY, oldAnchor));
    } catch {
      return; // refused to open an altered store: held
    }
    store = opened;
    const B = fakeSidecar(NS, 'agent-b');
    await store.registerChain(B.registration());
    const b = B.batch(2);
    expect((await store.append(B.chainId, b.records, b.checkpoint)).ok).toBe(true);
    const head = store.policyHeads().find((h) => h.namespace === NS && h.policy === POLICY)?.checkpoint;
    expect(head).toBeDefined();
    const anchored = { head: head!.head, records: head!.size };

    const lines = await collect(store.exportLines(NS, {}, (p) => (p === POLICY ? anchored : undefined)));
    const forged = lines.filter((l) => (l as { chainId?: string; seq?: number }).chainId === G.chainId && typeof (l as { seq?: number }).seq === 'number');
    const verifier = new ExportVerifier({ anchor: anchored.head });
    lines.forEach((l, i) => verifier.add(i + 1, JSON.parse(JSON.stringify(l))));
    const verdict = verifier.finish();
    const entries = await collect(store.policyEntries(NS, POLICY));
    const policyNow = verifyPolicyEntries(NS, POLICY, entries, anchored);
    const policyOld = verifyPolicyEntries(NS, POLICY, entries, oldAnchor);
    // What an auditor runs must not pass with the fabricated records in it: the export with
    // --anchor, and --policy against the new and the old status.chain (the operator quarantined them at open).
    const passed = [isAnchored(verdict), policyNow.ok, policyOld.ok].some(Boolean);
    expect(forged.length > 0 && passed).toBe(false);
  });
});

describe('a policy log the current key never sealed (a policy with no records yet), written on the volume with a key dropped in keys/', () => {
  it('is not sealed over and anchored once the policy\'s first honest session arrives (no rotation involved)', async () => {
    const realKey = generateSigningKey();
    const dir = tempDir('guarita-r7c-vol-');
    const A = fakeSidecar(NS, 'agent-a');
    let store = await open(dir, realKey);
    await store.registerChain(A.registration());
    const a = A.batch(3);
    expect((await store.append(A.chainId, a.records, a.checkpoint)).ok).toBe(true);
    await closeStore(store);
    // The writer fills the log of policy `payments` (no records yet) with a fabricated chain,
    // sealed by its own key F (honest code on a copy), and drops keys/F.jwk.
    const scratch = tempDir('guarita-r7c-vol-forge-');
    cpSync(dir, scratch, { recursive: true });
    const F = generateSigningKey();
    const forger = await open(scratch, F);
    const G = fakeSidecar(NS, 'agent-ghost');
    await forger.registerChain(G.registration());
    const g = G.batch(3, { policy: 'payments', command: 'UPDATE accounts SET balance = 0 -- fabricated', subject: 'alice' });
    expect((await forger.append(G.chainId, g.records, g.checkpoint)).ok).toBe(true);
    await closeStore(forger);
    const pdir = join('policies', NS, 'payments');
    cpSync(join(scratch, pdir), join(dir, pdir), { recursive: true });
    cpSync(join(scratch, 'keys', `${F.keyId}.jwk`), join(dir, 'keys', `${F.keyId}.jwk`));
    for (const f of readdirSync(join(scratch, 'chains', NS))) cpSync(join(scratch, 'chains', NS, f), join(dir, 'chains', NS, f));
    let opened: FileStore | undefined;
    try {
      opened = await open(dir, realKey);
    } catch {
      return; // held
    }
    store = opened;
    // The policy's first honest session: sealed by the real key over G, then anchored.
    const B = fakeSidecar(NS, 'agent-b');
    await store.registerChain(B.registration());
    const b = B.batch(2, { policy: 'payments' });
    expect((await store.append(B.chainId, b.records, b.checkpoint)).ok).toBe(true);
    const head = store.policyHeads().find((h) => h.namespace === NS && h.policy === 'payments')?.checkpoint;
    expect(head).toBeDefined();
    const anchored = { head: head!.head, records: head!.size };
    const lines = await collect(store.exportLines(NS, { policy: 'payments' }, (p) => (p === 'payments' ? anchored : undefined)));
    const forged = lines.filter((l) => (l as { chainId?: string; seq?: number }).chainId === G.chainId && typeof (l as { seq?: number }).seq === 'number');
    const verifier = new ExportVerifier({ anchor: anchored.head });
    lines.forEach((l, i) => verifier.add(i + 1, JSON.parse(JSON.stringify(l))));
    const verdict = verifier.finish();
    const policy = verifyPolicyEntries(NS, 'payments', await collect(store.policyEntries(NS, 'payments')), anchored);
    // The fabricated records must not come out anchored (the operator quarantined them at open).
    expect(forged.length > 0 && ((verdict.ok && verdict.trust?.state === 'anchored') || policy.ok)).toBe(false);
  });
});

describe('the current key\'s own file in keys/ (loadKeys keeps a file named after the current key id, whatever key it holds)', () => {
  it('an operator opening its store verifies its own seals with its own key, not a file on the volume', async () => {
    const realKey = generateSigningKey();
    const dir = tempDir('guarita-r7c-vol-');
    const A = fakeSidecar(NS, 'agent-a');
    let store = await open(dir, realKey);
    await store.registerChain(A.registration());
    const b1 = A.batch(3);
    expect((await store.append(A.chainId, b1.records, b1.checkpoint)).ok).toBe(true);
    await closeStore(store);
    // The writer replaces keys/<currentKeyId>.jwk with a key of its own.
    const F = generateSigningKey();
    writeFileSync(join(dir, 'keys', `${realKey.keyId}.jwk`), `${JSON.stringify(F.publicJwk)}\n`);
    store = await open(dir, realKey);
    // The operator's own honest evidence is kept (its seal verifies with the Secret's key)...
    expect(store.getChain(A.chainId)?.seq).toBe(3);
    const quarantined = (() => { try { return readdirSync(join(dir, 'quarantine')).length; } catch { return 0; } })();
    expect(quarantined).toBe(0);
    // ...and its exports list its real key.
    const lines = await collect(store.exportLines(NS, {}));
    const keyLine = lines.find((l) => (l as { type?: string; keyId?: string }).type === 'storeKey' && (l as { keyId?: string }).keyId === realKey.keyId) as { publicJwk?: { x?: string } } | undefined;
    expect(keyLine?.publicJwk?.x).toBe(realKey.publicJwk.x);
  });
});
