import { describe, expect, it } from '@jest/globals';
import { Anchorer, anchorPatch } from './anchor.ts';
import { sameChain } from './anchor-drift.ts';
import type { AccessPolicy } from '../../../crds/types.ts';
import type { Informer } from '../../../core/kube/informer.ts';
import type { KubeApi } from '../kube/client.ts';
import { createMetrics } from '../metrics.ts';
import type { PolicyEntryLine, PolicyHead, SessionStore } from '../store/types.ts';

const head: PolicyHead = { namespace: 'shop', policy: 'orders-db', records: 12, head: 'a'.repeat(64), counters: { total: 9, denied: 1, approvalsRequested: 0 }, version: 3 };
const now = Date.parse('2026-01-10T12:00:00Z');

describe('anchorPatch', () => {
  it('anchors the store log\'s newest checkpoint (durable), not a link a commit in flight may still lose', () => {
    const patch = anchorPatch({ ...head, checkpoint: { size: 10, root: 'r'.repeat(64), note: 'store/shop/orders-db\n10\n…', head: 'b'.repeat(64) } }, now);
    expect(patch.status.chain).toEqual({ head: 'b'.repeat(64), records: 10, root: 'r'.repeat(64), anchoredAt: '2026-01-10T12:00:00Z' });
    expect(patch.status.sessions).toEqual({ total: 9, denied: 1, approvalsRequested: 0 });
  });

  it('anchors the newest link of a format 1 store chain (no checkpoints), as before', () => {
    expect(anchorPatch(head, now).status.chain).toEqual({ head: 'a'.repeat(64), records: 12, anchoredAt: '2026-01-10T12:00:00Z' });
  });
});

// status.chain is owned by the anchorer (round 11, finding 1): whoever holds accesspolicies/status
// can overwrite it, and the operator puts the store head back at once, with a Warning, idle or not;
// after a start, an anchor that is no position of the stored log is anchored over with a Warning.
interface Chain { head: string; records: number; anchoredAt?: string }
interface ManagedField { manager: string; operation: string; subresource: string; time: string; fieldsV1: object }

/** A managedFields entry owning status.chain (`part`: one of its fields, or the whole). */
function owned(manager: string, time: string, part: object = {}): ManagedField {
  return { manager, operation: 'Update', subresource: 'status', time, fieldsV1: { 'f:status': { 'f:chain': part } } };
}

/** The apiserver's copy, and the informer's cache of it (synced explicitly, so a lagging cache can be shown). */
class FakeCluster {
  server: AccessPolicy;
  cached: AccessPolicy;
  patches = 0;
  gets = 0;
  fieldManagers: (string | undefined)[] = [];
  /** `owners`: managedFields when `chain` is set; by default the operator's previous run wrote it. */
  constructor(chain?: Chain, owners: ManagedField[] = [owned('guarita-operator', '2026-01-10T11:00:00Z')]) {
    const metadata = { name: 'orders-db', namespace: 'shop', uid: 'u1', resourceVersion: '1', ...(chain === undefined ? {} : { managedFields: owners }) };
    this.server = { apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata, spec: {} as AccessPolicy['spec'], ...(chain === undefined ? {} : { status: { chain: { anchoredAt: '2026-01-10T11:00:00Z', ...chain } } }) };
    this.cached = structuredClone(this.server);
  }
  sync(): void { this.cached = structuredClone(this.server); }
  write(chain: Chain | undefined, manager: string): void {
    const status = { ...this.server.status };
    if (chain === undefined) delete status.chain;
    else status.chain = { anchoredAt: '2026-01-10T12:00:00Z', ...chain };
    const field: ManagedField = { manager, operation: 'Update', subresource: 'status', time: `2026-01-10T12:00:0${this.patches % 10}Z`, fieldsV1: { 'f:status': { 'f:chain': {} } } };
    this.server = { ...this.server, status, metadata: { ...this.server.metadata, resourceVersion: String(Number(this.server.metadata.resourceVersion) + 1), managedFields: [field] } as AccessPolicy['metadata'] };
  }
  api(): KubeApi {
    return {
      mergePatch: async <T>(_path: string, body: unknown, opts?: { fieldManager?: string }): Promise<T> => {
        this.patches++;
        this.fieldManagers.push(opts?.fieldManager);
        this.write((body as { status: { chain: Chain } }).status.chain, 'guarita-operator');
        return Promise.resolve(this.server as T);
      },
      get: async <T>(): Promise<T> => { this.gets++; return Promise.resolve(structuredClone(this.server) as T); },
    } as unknown as KubeApi;
  }
}

/** A store whose policy log holds links 1..size with hash `h<seq>` (after a retention cut at `cut`, if any), sealed at its head with `root` if given. */
function fakeStore(state: { size: number; version: number; cut?: number; root?: string }): SessionStore {
  const checkpoint = (): PolicyHead['checkpoint'] => (state.root === undefined ? undefined : { size: state.size, root: state.root, note: '', head: `h${state.size}` });
  return {
    policyHeads: () => [{ ...head, records: state.size, head: `h${state.size}`, version: state.version, ...(state.root === undefined ? {} : { checkpoint: checkpoint() }) }],
    policyEntries: async function* (): AsyncIterable<PolicyEntryLine> {
      if (state.cut !== undefined) yield { type: 'tombstone', tombstone: { cut: { seq: state.cut, head: `h${state.cut}` } } } as PolicyEntryLine;
      for (let seq = (state.cut ?? 0) + 1; seq <= state.size; seq++) yield { type: 'entry', link: { seq, hash: `h${seq}` } } as PolicyEntryLine;
      return Promise.resolve();
    },
  } as unknown as SessionStore;
}

function rig(chain: Chain | undefined, store: { size: number; version: number; cut?: number; root?: string }, owners?: ManagedField[]) {
  const cluster = new FakeCluster(chain, owners);
  const events: { reason: string; type: string; message: string }[] = [];
  const warnings: string[] = [];
  const metrics = createMetrics(false);
  const anchorer = new Anchorer({
    api: cluster.api(), store: fakeStore(store), metrics, intervalMs: 1_000_000, now: () => now,
    policies: { get: () => cluster.cached } as unknown as Informer<AccessPolicy>,
    events: { emit: (_ref, type, reason, message) => { events.push({ type, reason, message }); } },
    log: { warn: (_o, msg) => { warnings.push(msg); }, debug: () => undefined },
  });
  const mismatches = async (reason: string): Promise<number> => (await metrics.anchorMismatches.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
  return { cluster, events, warnings, anchorer, mismatches, store };
}

const stored = (c: FakeCluster): Chain | undefined => {
  const chain = c.server.status?.chain;
  return chain === undefined ? undefined : { head: chain.head, records: chain.records };
};

describe('sameChain: the store-log root is part of the anchored position (review 36)', () => {
  const at = { head: 'b'.repeat(64), records: 10, root: 'c'.repeat(64) };
  it('a root overwritten or removed alone is drift from what the operator wrote (review 37)', () => {
    expect(sameChain(at, at)).toBe(true);
    expect(sameChain({ ...at, root: 'd'.repeat(64) }, at)).toBe(false);
    expect(sameChain({ head: at.head, records: at.records }, at)).toBe(false);
    expect(sameChain({ ...at, records: 11 }, at)).toBe(false);
  });
});

describe('Anchorer: status.chain overwritten while the operator runs (AnchorOverwritten)', () => {
  const forgeries: [string, Chain | undefined][] = [
    ['another head at the anchored size', { head: 'a'.repeat(64), records: 30 }],
    ['another head at size 1', { head: 'a'.repeat(64), records: 1 }],
    ['a size beyond the log', { head: 'a'.repeat(64), records: 500 }],
    ['records set to 0', { head: 'a'.repeat(64), records: 0 }],
    ['an earlier genuine head (a rollback)', { head: 'h10', records: 10 }],
    ['the head removed (chain: null)', undefined],
  ];
  it.each(forgeries)('%s on an idle policy: put back at the next flush, with a Warning naming what was there, the head and the writer', async (_name, forged) => {
    const r = rig(undefined, { size: 30, version: 5 });
    await r.anchorer.flush();
    r.cluster.sync();
    expect(stored(r.cluster)).toEqual({ head: 'h30', records: 30 });
    r.cluster.write(forged, 'kubectl-patch');
    r.cluster.sync();
    await r.anchorer.flush();
    expect(stored(r.cluster)).toEqual({ head: 'h30', records: 30 });
    expect(r.events).toHaveLength(1);
    expect(r.events[0]).toMatchObject({ type: 'Warning', reason: 'AnchorOverwritten' });
    expect(r.events[0]?.message).toContain('field manager "kubectl-patch"');
    expect(r.events[0]?.message).toContain('#30 (head h30');
    if (forged !== undefined) expect(r.events[0]?.message).toContain(`#${forged.records} (head ${forged.head.slice(0, 12)}`);
    expect(await r.mismatches('AnchorOverwritten')).toBe(1);
    expect(r.warnings).toHaveLength(1);
  });

  it.each([['removed', undefined], ['replaced', 'd'.repeat(64)]])('the store-log root %s alone on an idle policy: put back at the next flush, with a Warning (review 37)', async (_name, root) => {
    const r = rig(undefined, { size: 30, version: 5, root: 'c'.repeat(64) });
    await r.anchorer.flush();
    r.cluster.sync();
    expect(r.cluster.server.status?.chain).toMatchObject({ head: 'h30', records: 30, root: 'c'.repeat(64) });
    r.cluster.write({ head: 'h30', records: 30, ...(root === undefined ? {} : { root }) }, 'kubectl-patch');
    r.cluster.sync();
    await r.anchorer.flush();
    expect(r.cluster.server.status?.chain).toMatchObject({ head: 'h30', records: 30, root: 'c'.repeat(64) });
    expect(r.events).toHaveLength(1);
    expect(r.events[0]).toMatchObject({ type: 'Warning', reason: 'AnchorOverwritten' });
  });

  it('is put back even before the informer sees the forgery when the store moved (the write compares with the apiserver\'s copy)', async () => {
    const r = rig(undefined, { size: 30, version: 5 });
    await r.anchorer.flush();
    r.cluster.sync();
    r.cluster.write({ head: 'a'.repeat(64), records: 1 }, 'eve');
    r.store.size = 33;
    r.store.version = 6;
    r.cluster.sync();
    await r.anchorer.flush();
    expect(stored(r.cluster)).toEqual({ head: 'h33', records: 33 });
    expect(r.events.map((e) => e.reason)).toEqual(['AnchorOverwritten']);
  });

  it('a cache that has not seen the last write yet is no overwrite: no Warning, no write, one GET', async () => {
    const r = rig({ head: 'h20', records: 20 }, { size: 20, version: 4 });
    await r.anchorer.flush();
    r.cluster.sync();
    r.store.size = 30;
    r.store.version = 5;
    await r.anchorer.flush(); // writes #30; the cache still shows #20
    const patches = r.cluster.patches;
    await r.anchorer.flush();
    expect({ patches: r.cluster.patches - patches, events: r.events, gets: r.cluster.gets }).toEqual({ patches: 0, events: [], gets: 1 });
    r.cluster.sync();
    await r.anchorer.flush();
    expect({ patches: r.cluster.patches - patches, gets: r.cluster.gets }).toEqual({ patches: 0, gets: 1 });
  });

  it('an anchor that stays right is written only when the store moves (one write per interval, as before)', async () => {
    const r = rig(undefined, { size: 30, version: 5 });
    await r.anchorer.flush();
    r.cluster.sync();
    await r.anchorer.flush();
    await r.anchorer.flush();
    expect({ patches: r.cluster.patches, gets: r.cluster.gets, events: r.events.length }).toEqual({ patches: 1, gets: 0, events: 0 });
  });

  it('without an Event recorder the Warning is still logged and counted', async () => {
    const cluster = new FakeCluster();
    const warnings: string[] = [];
    const metrics = createMetrics(false);
    const anchorer = new Anchorer({
      api: cluster.api(), store: fakeStore({ size: 30, version: 1 }), metrics, intervalMs: 1_000_000, now: () => now,
      policies: { get: () => cluster.cached } as unknown as Informer<AccessPolicy>,
      log: { warn: (_o, msg) => { warnings.push(msg); }, debug: () => undefined },
    });
    await anchorer.flush();
    cluster.sync();
    cluster.write({ head: 'a'.repeat(64), records: 1 }, 'eve');
    cluster.sync();
    await anchorer.flush();
    expect(warnings.some((w) => w.includes('status.chain was set to store link #1'))).toBe(true);
    expect((await metrics.anchorMismatches.get()).values.map((v) => v.value)).toEqual([1]);
  });
});

describe('Anchorer: the first sight of a policy after a start (AnchorMismatch)', () => {
  const quiet: [string, Chain | undefined, { size: number; version: number; cut?: number }][] = [
    ['no status.chain (never anchored, or a recreated policy)', undefined, { size: 30, version: 1 }],
    ['the store head itself', { head: 'h30', records: 30 }, { size: 30, version: 1 }],
    ['an earlier position of the log (records stored within the last interval)', { head: 'h27', records: 27 }, { size: 30, version: 1 }],
    ['a position retention removed since (nothing to compare)', { head: 'h3', records: 3 }, { size: 30, version: 1, cut: 10 }],
    ['the retention cut itself', { head: 'h10', records: 10 }, { size: 30, version: 1, cut: 10 }],
  ];
  it.each(quiet)('%s: anchored without a Warning', async (_name, chain, store) => {
    const r = rig(chain, store);
    await r.anchorer.flush();
    expect({ stored: stored(r.cluster), events: r.events }).toEqual({ stored: { head: 'h30', records: 30 }, events: [] });
  });

  const loud: [string, Chain, { size: number; version: number; cut?: number }, string][] = [
    ['another head at the log\'s size', { head: 'a'.repeat(64), records: 30 }, { size: 30, version: 1 }, 'but the stored link #30 is h30'],
    ['another head at size 1 (the review\'s forgery)', { head: 'a'.repeat(64), records: 1 }, { size: 30, version: 1 }, 'but the stored link #1 is h1'],
    ['records set to 0', { head: 'a'.repeat(64), records: 0 }, { size: 30, version: 1 }, 'but the stored link #0 is missing'],
    ['a size beyond the log (a forged size, or a tail removed from the volume)', { head: 'h40', records: 40 }, { size: 30, version: 1 }, 'past the stored log, which ends at #30'],
    ['another head after a retention cut', { head: 'a'.repeat(64), records: 20 }, { size: 30, version: 1, cut: 10 }, 'but the stored link #20 is h20'],
    ['another head at the retention cut', { head: 'a'.repeat(64), records: 10 }, { size: 30, version: 1, cut: 10 }, 'but the stored link #10 is h10'],
  ];
  it.each(loud)('%s: anchored over only with an AnchorMismatch Warning', async (_name, chain, store, says) => {
    const r = rig(chain, store);
    await r.anchorer.flush();
    expect(stored(r.cluster)).toEqual({ head: 'h30', records: 30 });
    expect(r.events).toHaveLength(1);
    expect(r.events[0]).toMatchObject({ type: 'Warning', reason: 'AnchorMismatch' });
    expect(r.events[0]?.message).toContain(says);
    expect(r.events[0]?.message).toContain(`status.chain names store link #${chain.records}`);
    expect(await r.mismatches('AnchorMismatch')).toBe(1);
  });
});

// Round 11b, finding A2: at first sight, who last wrote status.chain counts as well as where it
// points. A real position someone else wrote is how a rollback (the volume) plus a re-anchor (the
// status) looks, and how a status writer picks an earlier checkpoint; the operator names its field
// manager on every anchoring write, so another manager, or none, is reported.
describe('Anchorer: the first sight of a status.chain another field manager wrote (AnchorMismatch)', () => {
  const T0 = '2026-01-10T11:00:00Z';
  const T1 = '2026-01-10T11:30:00Z';
  const size30 = { size: 30, version: 1 };
  const cut10 = { size: 30, version: 1, cut: 10 };
  const loud: [string, Chain, { size: number; version: number; cut?: number }, ManagedField[], string][] = [
    ['an earlier real position by kubectl-patch', { head: 'h10', records: 10 }, size30, [owned('kubectl-patch', T1)], 'field manager "kubectl-patch" at 2026-01-10T11:30:00Z wrote it, not the operator'],
    ['the store head itself by another manager (a log rolled back to it, re-anchored)', { head: 'h30', records: 30 }, size30, [owned('eve', T1)], 'field manager "eve"'],
    ['a position retention removed, by another manager', { head: 'h3', records: 3 }, cut10, [owned('eve', T1)], 'field manager "eve"'],
    ['the retention cut, by another manager', { head: 'h10', records: 10 }, cut10, [owned('eve', T1)], 'field manager "eve"'],
    ['managedFields stripped (no owner of status.chain)', { head: 'h10', records: 10 }, size30, [], 'no field manager'],
    ['only other status fields owned (chain has no owner)', { head: 'h10', records: 10 }, size30, [{ manager: 'guarita-operator', operation: 'Update', subresource: 'status', time: T1, fieldsV1: { 'f:status': { 'f:sessions': {} } } }], 'no field manager'],
    ['the operator wrote part earlier, another manager the head and size later', { head: 'h10', records: 10 }, size30, [owned('guarita-operator', T0, { 'f:anchoredAt': {} }), owned('eve', T1, { 'f:head': {}, 'f:records': {} })], 'field manager "eve"'],
    ['the operator and another manager in the same second (a tie)', { head: 'h10', records: 10 }, size30, [owned('eve', T1), owned('guarita-operator', T1)], 'field manager "eve"'],
    ['the operator\'s name in another case', { head: 'h10', records: 10 }, size30, [owned('Guarita-Operator', T1)], 'field manager "Guarita-Operator"'],
    ['the operator\'s name with a suffix', { head: 'h10', records: 10 }, size30, [owned('guarita-operator-x', T1)], 'field manager "guarita-operator-x"'],
    ['an Apply by another manager', { head: 'h10', records: 10 }, size30, [{ ...owned('eve', T1), operation: 'Apply' }], 'field manager "eve"'],
    ['no position of the log, by another manager: both said', { head: 'a'.repeat(64), records: 10 }, size30, [owned('eve', T1)], 'but the stored link #10 is h10'],
  ];
  it.each(loud)('%s: anchored over with an AnchorMismatch Warning, logged and counted', async (_name, chain, store, owners, says) => {
    const r = rig(chain, store, owners);
    await r.anchorer.flush();
    expect(stored(r.cluster)).toEqual({ head: 'h30', records: 30 });
    expect(r.events.map((e) => [e.type, e.reason])).toEqual([['Warning', 'AnchorMismatch']]);
    expect(r.events[0]?.message).toContain(says);
    expect(r.events[0]?.message).toContain(`status.chain names store link #${chain.records}`);
    expect(r.warnings).toHaveLength(1);
    expect(await r.mismatches('AnchorMismatch')).toBe(1);
  });

  it('both causes in one message when the position is wrong too', async () => {
    const r = rig({ head: 'a'.repeat(64), records: 10 }, size30, [owned('eve', T1)]);
    await r.anchorer.flush();
    expect(r.events[0]?.message).toContain('(last written by field manager "eve" at 2026-01-10T11:30:00Z)');
  });

  const quiet: [string, Chain, ManagedField[]][] = [
    ['an earlier position the operator wrote', { head: 'h27', records: 27 }, [owned('guarita-operator', T0)]],
    ['another manager owned it before the operator\'s last write (an upgrade from an operator without a field manager)', { head: 'h27', records: 27 }, [owned('unknown', T0, { 'f:head': {}, 'f:records': {} }), owned('guarita-operator', T1, { 'f:anchoredAt': {} })]],
    ['the head, the operator\'s', { head: 'h30', records: 30 }, [owned('guarita-operator', T1)]],
  ];
  it.each(quiet)('%s: anchored without a Warning', async (_name, chain, owners) => {
    const r = rig(chain, size30, owners);
    await r.anchorer.flush();
    expect({ stored: stored(r.cluster), events: r.events, warnings: r.warnings }).toEqual({ stored: { head: 'h30', records: 30 }, events: [], warnings: [] });
  });

  it('the operator names its field manager on every anchoring write (first sight, store moved, overwritten)', async () => {
    const r = rig(undefined, { size: 30, version: 5 });
    await r.anchorer.flush();
    r.cluster.sync();
    r.store.size = 33;
    r.store.version = 6;
    await r.anchorer.flush();
    r.cluster.sync();
    r.cluster.write({ head: 'h1', records: 1 }, 'eve');
    r.cluster.sync();
    await r.anchorer.flush();
    expect(r.cluster.fieldManagers).toEqual(['guarita-operator', 'guarita-operator', 'guarita-operator']);
  });
});
