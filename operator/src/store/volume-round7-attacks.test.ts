// Round 7 adversarial review: someone who can write the store's volume, but holds neither the
// store-key Secret nor `patch` on accesspolicies/status (docs/recording.md, "Trust model": such a
// writer "cannot produce an export or a store that verifies against the anchor"). The store's
// open (store-open.ts, recovery.ts) checks that links follow each other (seq, prev) and end on
// an `sc` member, but verifies neither link hashes, nor the store checkpoint's signature, nor the
// records: entries appended to a segment while the operator is down are indexed, the real store
// key then seals over them at the next commit group, anchoring names that head, and an export
// carrying the injected chain verifies ANCHORED (its registration is re-vouched at export time by
// the real store key). Each test FAILED on the code it was written against.
import { afterEach, describe, expect, it } from '@jest/globals';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, type SigningKey } from '../../../core/recording/index.ts';
import { ExportVerifier } from '../../../core/recording/export-verify.ts';
import { fakeSidecar } from '../../../e2e/support/store-testkit.ts';
import { FileStore } from './file-store.ts';
import { verifyPolicyEntries } from '../../../core/recording/store-verify.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const NS = 'ns-a';
const POLICY = 'orders-db';

const dirs: string[] = [];
const stores: FileStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

type Anchors = (namespace: string, policy: string) => { head: string; records: number } | undefined;

/**
 * `anchors`: what AccessPolicy status.chain says (the controller passes it at open); the writer
 * running the honest code on its copy passes the heads it found, so that its copy opens and it can
 * append after them.
 */
async function open(dir: string, key: SigningKey, anchors?: Anchors): Promise<FileStore> {
  const s = await FileStore.open({ dir, key, segmentMaxBytes: 1 << 20, segmentMaxAgeMs: 3600_000, log: quiet, ...(anchors === undefined ? {} : { anchors }) });
  stores.push(s);
  return s;
}

/** The policy's head as the anchorer would write it to AccessPolicy status.chain now. */
function anchorsOf(store: FileStore): Anchors {
  const head = store.policyHeads().find((h) => h.namespace === NS && h.policy === POLICY)?.checkpoint;
  const anchor = head === undefined ? undefined : { head: head.head, records: head.size };
  return (_ns, p) => (p === POLICY ? anchor : undefined);
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** The real operator's store with a genuine chain A of 5 records, closed; what status.chain says of it. */
async function genuineStore(realKey: SigningKey): Promise<{ dir: string; A: ReturnType<typeof fakeSidecar>; status: Anchors }> {
  const dir = mkdtempSync(join(tmpdir(), 'guarita-r7-vol-'));
  dirs.push(dir);
  const A = fakeSidecar(NS, 'agent-a');
  const store = await open(dir, realKey);
  await store.registerChain(A.registration());
  const b1 = A.batch(5);
  expect((await store.append(A.chainId, b1.records, b1.checkpoint)).ok).toBe(true);
  const status = anchorsOf(store);
  await store.close();
  stores.splice(stores.indexOf(store), 1);
  return { dir, A, status };
}

/**
 * The volume writer copies the store, opens the copy with a key of its own, and lets the honest
 * code write a fabricated chain G after the real entries (every line well formed, linked and
 * frontier-correct); then it copies the segment, G's registration and (with `copyKeys`) its key back.
 */
async function forgeGhostChain(dir: string, status: Anchors, copyKeys: boolean): Promise<ReturnType<typeof fakeSidecar>> {
  const scratch = mkdtempSync(join(tmpdir(), 'guarita-r7-vol-forge-'));
  dirs.push(scratch);
  cpSync(dir, scratch, { recursive: true });
  const forger = await open(scratch, generateSigningKey(), status);
  const G = fakeSidecar(NS, 'agent-ghost');
  await forger.registerChain(G.registration());
  const g = G.batch(3, { command: 'DELETE FROM customers -- fabricated, never ran', subject: 'alice' });
  expect((await forger.append(G.chainId, g.records, g.checkpoint)).ok).toBe(true);
  await forger.close();
  stores.splice(stores.indexOf(forger), 1);
  const segs = join('policies', NS, POLICY, 'segments');
  for (const f of readdirSync(join(scratch, segs))) cpSync(join(scratch, segs, f), join(dir, segs, f));
  for (const f of readdirSync(join(scratch, 'chains', NS))) cpSync(join(scratch, 'chains', NS, f), join(dir, 'chains', NS, f));
  if (copyKeys) for (const f of readdirSync(join(scratch, 'keys'))) cpSync(join(scratch, 'keys', f), join(dir, 'keys', f));
  return G;
}

describe('entries appended to the store volume while the operator is down', () => {
  it('are refused at open (or at least not exported as anchored evidence)', async () => {
    const realKey = generateSigningKey();
    const { dir, A, status } = await genuineStore(realKey);
    const G = await forgeGhostChain(dir, status, false);

    // The real operator restarts (its own key, from the Secret) and keeps working: the sidecar of A
    // sends its next batch, sealed by the real store key over a log that now holds G.
    let store: FileStore;
    try {
      store = await open(dir, realKey, status);
    } catch {
      return; // refused to open an altered store: held
    }
    const b2 = A.batch(2);
    const r2 = await store.append(A.chainId, b2.records, b2.checkpoint);
    expect(r2).toMatchObject({ ok: true });

    // Anchoring writes the newest durable store checkpoint to AccessPolicy status.chain.
    const head = store.policyHeads().find((h) => h.namespace === NS && h.policy === POLICY)?.checkpoint;
    expect(head).toBeDefined();
    const anchored = { head: head!.head, records: head!.size };
    const lines = await collect(store.exportLines(NS, {}, (p) => (p === POLICY ? anchored : undefined)));
    const forged = lines.filter((l) => (l as { chainId?: string; seq?: number }).chainId === G.chainId && typeof (l as { seq?: number }).seq === 'number');

    const verifier = new ExportVerifier({ anchor: anchored.head });
    lines.forEach((l, i) => verifier.add(i + 1, JSON.parse(JSON.stringify(l))));
    const verdict = verifier.finish();
    // What an auditor runs: `guarita verify --file F --anchor <status.chain.head>`. The fabricated
    // records must not come out of it VERIFIED and anchored.
    expect(forged.length > 0 && verdict.ok && verdict.trust?.state === 'anchored').toBe(false);
  });

  it('nor pass `guarita verify --policy` (verifyPolicyEntries against status.chain) once the forger also drops its public key in keys/', async () => {
    const realKey = generateSigningKey();
    const { dir, A, status } = await genuineStore(realKey);
    const G = await forgeGhostChain(dir, status, true);
    let store: FileStore;
    try {
      store = await open(dir, realKey, status);
    } catch {
      return; // held
    }
    const b2 = A.batch(2);
    expect((await store.append(A.chainId, b2.records, b2.checkpoint)).ok).toBe(true);
    const head = store.policyHeads().find((h) => h.namespace === NS && h.policy === POLICY)?.checkpoint;
    const anchored = { head: head!.head, records: head!.size };
    const entries = await collect(store.policyEntries(NS, POLICY));
    const report = verifyPolicyEntries(NS, POLICY, entries, anchored);
    const holdsForged = entries.some((e) => e.type === 'entry' && e.record?.chainId === G.chainId);
    expect(holdsForged && report.ok).toBe(false);
  });
});

describe('a stored record altered in place on the volume (its link still names the old hash)', () => {
  it('is found at open: its commit group and what follows go to quarantine, and the chain resumes before it', async () => {
    const { readFileSync, writeFileSync } = await import('node:fs');
    const realKey = generateSigningKey();
    const dir = mkdtempSync(join(tmpdir(), 'guarita-r7-vol-'));
    dirs.push(dir);
    const A = fakeSidecar(NS, 'agent-a');
    const store = await open(dir, realKey);
    await store.registerChain(A.registration());
    const b1 = A.batch(3);
    expect((await store.append(A.chainId, b1.records, b1.checkpoint)).ok).toBe(true);
    const b2 = A.batch(3, { command: 'SELECT 2' });
    expect((await store.append(A.chainId, b2.records, b2.checkpoint)).ok).toBe(true);
    await store.close();
    stores.splice(0);
    // The second batch's first record says another command, its hash (and the link's) left as they were.
    const segs = join(dir, 'policies', NS, POLICY, 'segments');
    const [seg] = readdirSync(segs);
    const text = readFileSync(join(segs, seg!), 'utf8');
    expect(text).toContain('SELECT 2');
    writeFileSync(join(segs, seg!), text.replace('SELECT 2', 'SELECT 9'));
    const reopened = await open(dir, realKey);
    expect(reopened.getChain(A.chainId)?.seq).toBe(3);
    expect(readdirSync(join(dir, 'quarantine')).length).toBeGreaterThan(0);
  });
});
