// The tamper corpus of exports (issue 19, items 2 and 3): every form of tampering is detected and
// named, on a whole-chain export and on partial ones (one session, a window), and the format 1
// export kept in testdata still verifies.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { generateSigningKey, hashOf, type Linked } from './index.ts';
import { ExportVerifier, type ExportVerdict, type TrustOptions } from './export-verify.ts';
import { exportOf, feedExport, testStore, writeChain, type TestChain, type TestStore } from '../../e2e/support/export-testkit.ts';
import type { SessionRecord } from './store-types.ts';
import { exportRecordLine, recordLineHash, recordLineHashOk } from './export-format.ts';
import { planExport } from './export-build.ts';
import { leafHashOfHex, MerkleAppender } from './merkle.ts';

type Line = Record<string, unknown>;

const NS = 'ns-a';
const store = testStore(NS, 'orders-db');
// Chain A: 10 format 1 records (before the sidecar upgraded), then format 2, a checkpoint every 64.
const A = writeChain(NS, 200, { format1: 10, group: 64 });
const B = writeChain(NS, 50, { group: 16 });

/**
 * Verifies the lines the three ways and requires the same verdict from each: the fast path (a
 * record hashed from its line's bytes) refuses exactly what the slow one (canonicalizing the parsed
 * record) refuses, with the same first bad record and problems, across every tampering below.
 */
function verify(lines: readonly unknown[], trust: TrustOptions = {}): ExportVerdict {
  const verdict = feedExport(lines, trust, 'bytes');
  expect(feedExport(lines, trust, 'text')).toEqual(verdict);
  expect(feedExport(lines, trust, 'other-form')).toEqual(verdict);
  return verdict;
}

const clone = (lines: readonly unknown[]): Line[] => lines.map((l) => structuredClone(l) as Line);
const isRecord = (l: Line, c?: TestChain): boolean => typeof l.hash === 'string' && typeof l.seq === 'number' && (c === undefined || l.chainId === c.chainId);
const recordIndexes = (lines: readonly Line[], c: TestChain): number[] => lines.flatMap((l, i) => (isRecord(l, c) ? [i] : []));
const indexOfType = (lines: readonly Line[], type: string, pred: (l: Line) => boolean = () => true): number => lines.findIndex((l) => l.type === type && pred(l));

function rehash(r: Line): void {
  const { hash: _h, sig: _s, ...rest } = r;
  r.hash = hashOf(rest as Linked<object>);
}

const VIEWS: [string, (s: TestStore) => unknown[]][] = [
  ['the whole namespace', (s) => exportOf(s, [A, B])],
  ['one session', (s) => exportOf(s, [A, B], { select: (r) => r.sessionId === 'session-1', filter: { sessionId: 'session-1' } })],
  ['a window', (s) => exportOf(s, [A, B], { select: (r) => r.seq >= 40 && r.seq <= 150, filter: { since: '2026-11-01T00:00:40Z', until: '2026-11-01T00:02:31Z' } })],
];

function expectBad(v: ExportVerdict, pattern: RegExp, where?: { chainId?: string; seq?: number }): void {
  expect(v.ok).toBe(false);
  expect(v.firstBad?.problem).toMatch(pattern);
  if (where?.chainId !== undefined) expect(v.firstBad?.chainId).toBe(where.chainId);
  if (where?.seq !== undefined) expect(v.firstBad?.seq).toBe(where.seq);
}

describe.each(VIEWS)('an export of %s', (_name, make) => {
  const lines = clone(make(store));
  const aIdx = recordIndexes(lines, A);
  const first = aIdx[0] as number;
  const middle = aIdx[Math.floor(aIdx.length / 2)] as number;
  const last = aIdx[aIdx.length - 1] as number;
  const seqAt = (i: number): number => (lines[i] as Line).seq as number;

  it('verifies, and is anchored when the anchored head is given', () => {
    const v = verify(lines);
    expect(v.problems).toEqual([]);
    expect(v.ok).toBe(true);
    expect(v.format).toBe(2);
    expect(v.trust?.state).toBe('self-asserted');
    expect(v.records).toBe(lines.filter((l) => isRecord(l)).length);
    const anchored = verify(lines, { anchor: store.anchor.root! });
    expect(anchored.ok).toBe(true);
    expect(anchored.trust?.state).toBe('anchored');
    expect(verify(lines, { policyAnchor: { policy: 'orders-db', head: store.anchor.head, records: store.anchor.records, root: store.anchor.root! } }).trust?.state).toBe('anchored');
    // A head alone pins its link, not the tree the records are proven in (review 36).
    expect(verify(lines, { anchor: store.anchor.head }).trust).toMatchObject({ state: 'partly-anchored', unanchored: { headOnly: true } });
  });

  it.each([['first', () => first], ['middle', () => middle], ['last', () => last]])('deleting the %s record of a chain is named', (_w, at) => {
    const i = at();
    const bad = lines.filter((_, j) => j !== i);
    expectBad(verify(bad), /missing/, { chainId: A.chainId, seq: seqAt(i) });
  });

  it('altering a record (content or time) is named', () => {
    const bad = clone(lines);
    (bad[middle] as Line).command = 'SELECT 1';
    expectBad(verify(bad), /content does not match its hash/, { chainId: A.chainId, seq: seqAt(middle) });
    const t = clone(lines);
    (t[first] as Line).time = '2020-01-01T00:00:00.000Z';
    expectBad(verify(t), /altered/, { seq: seqAt(first) });
  });

  it('altering a record and re-hashing it is caught by the link or the checkpoint', () => {
    const bad = clone(lines);
    const r = bad[last] as Line;
    r.command = 'DROP TABLE customers';
    rehash(r);
    expectBad(verify(bad), /do not rebuild the root|does not link|signature/);
  });

  it('inserting a record (a copy, or a forged one) is named', () => {
    const dup = clone(lines);
    dup.splice(middle + 1, 0, structuredClone(dup[middle] as Line));
    expectBad(verify(dup), /again or out of order|outside its proof|inserted/);
    const forged = clone(lines);
    const f = { ...(forged[last] as Line), seq: seqAt(last) + 1, prev: (forged[last] as Line).hash, command: 'SELECT * FROM customers' };
    rehash(f);
    forged.splice(last + 1, 0, f);
    expectBad(verify(forged), /outside its proof|inserted|no proof line/);
  });

  it('reordering two records is named', () => {
    const bad = clone(lines);
    const j = aIdx[aIdx.indexOf(middle) + 1] as number;
    if (j === middle + 1) {
      [bad[middle], bad[j]] = [bad[j] as Line, bad[middle] as Line];
      expectBad(verify(bad), /missing|out of order|reordered/, { chainId: A.chainId });
    } else {
      // Not adjacent in the file (the view skips records): move one record before the other's proof.
      const moved = bad.splice(j, 1)[0] as Line;
      bad.splice(middle, 0, moved);
      expectBad(verify(bad), /missing|out of order|reordered|outside/);
    }
  });

  it('truncating the file, or a record line, is named', () => {
    expectBad(verify(lines.slice(0, last)), /missing/, { chainId: A.chainId });
    const cut = [...lines.slice(0, middle), undefined, ...lines.slice(middle + 1)];
    expectBad(verify(cut), /not a JSON object/);
  });

  it('altering or dropping a checkpoint is named', () => {
    const i = indexOfType(lines, 'checkpoint', (l) => l.chainId === A.chainId);
    const altered = clone(lines);
    const note = (altered[i] as Line).note as string;
    (altered[i] as Line).note = note.replace(/\n\d+\n/, (m) => `\n${Number(m.trim()) + 1}\n`);
    expectBad(verify(altered), /signature by .* does not verify/, { chainId: A.chainId });
    const dropped = lines.filter((_, j) => j !== i);
    expectBad(verify(dropped), /not in the export|consistency proof names/, { chainId: A.chainId });
  });

  it('a proof for another tree size, or an altered proof, is named', () => {
    const cps = lines.filter((l) => l.type === 'checkpoint' && l.chainId === A.chainId).map((l) => l.size as number);
    const i = indexOfType(lines, 'proof', (l) => l.chainId === A.chainId && l.checkpoint !== 0);
    const p = lines[i] as Line;
    const other = cps.find((s) => s !== p.checkpoint && s >= (p.to as number));
    if (other !== undefined) {
      const bad = clone(lines);
      (bad[i] as Line).checkpoint = other;
      expectBad(verify(bad), /another tree size|do not rebuild/, { chainId: A.chainId });
    }
    const altered = clone(lines);
    const q = altered[i] as Line;
    const side = (q.left as string[]).length > 0 ? 'left' : 'right';
    const hashes = q[side] as string[];
    if (hashes.length > 0) {
      hashes[0] = `${hashes[0]?.slice(0, 63) ?? ''}${hashes[0]?.endsWith('0') === true ? '1' : '0'}`;
      expectBad(verify(altered), /do not rebuild the root/, { chainId: A.chainId });
    }
  });

  it('splicing two chains or two exports is named', () => {
    const bIdx = recordIndexes(lines, B);
    const spliced = clone(lines);
    const moved = spliced.splice(bIdx[0] as number, 1)[0] as Line;
    spliced.splice(middle + 1, 0, moved);
    expectBad(verify(spliced), /spliced|inserted|missing|no proof/);
    expectBad(verify([...lines, ...lines]), /second export header|second/);
  });

  it('an export re-signed with a fresh store key fails against the anchored head', () => {
    const forger = testStore(NS, 'orders-db', generateSigningKey());
    const forged = forger.anchor;
    // The forger copies the anchored head into its own anchor line: the link it hashes from names the forger's key.
    const reSigned = clone(exportOf(forger, [A, B]));
    expect(verify(reSigned).trust?.state).toBe('self-asserted');
    expectBad(verify(reSigned, { anchor: store.anchor.head }), /re-signed with another key/);
    const copied = clone(reSigned).map((l) => (l.type === 'anchor' ? { ...l, head: store.anchor.head, link: store.anchor.link } : l));
    expectBad(verify(copied, { anchor: store.anchor.head }), /not list|re-signed|another key/);
    expect(forged.head).not.toBe(store.anchor.head);
  });

  it('chain checkpoints re-signed with a fresh chain key, or a registration swapped, are named', () => {
    const forger = generateSigningKey();
    const reSigned = clone(lines).map((l) => (l.type === 'checkpoint' && l.chainId === A.chainId ? { ...l, note: writeChainNote(l, forger) } : l));
    expectBad(verify(reSigned), /not signed by the chain's registered key/, { chainId: A.chainId });
    const swapped = clone(lines);
    const reg = swapped[indexOfType(swapped, 'registration', (l) => (l.statement as Line).chainId === A.chainId)] as Line;
    (reg.statement as Line).publicJwk = forger.publicJwk;
    expectBad(verify(swapped), /registration of chain .*does not match its hash/);
  });

  it('a format 1 record re-signed by another key, or a consistency proof altered, is named', () => {
    const i = indexOfType(lines, 'consistency', (l) => l.chainId === A.chainId);
    if (i >= 0) {
      const bad = clone(lines);
      const c = bad[i] as Line;
      (c.proof as string[])[0] = '00'.repeat(32);
      expectBad(verify(bad), /not consistent/, { chainId: A.chainId });
    }
  });

  it('another policy\'s anchor, or a moved one, fails --policy', () => {
    expectBad(verify(lines, { policyAnchor: { policy: 'orders-db', head: 'ff'.repeat(32), records: 9 } }), /anchors 9 links/);
    expectBad(verify(lines, { policyAnchor: { policy: 'other', head: store.anchor.head, records: 2 } }), /carries no anchor for it/);
  });
});

/** A checkpoint line's note re-signed by another key (same origin, size and root). */
function writeChainNote(l: Line, key: ReturnType<typeof generateSigningKey>): string {
  const note = l.note as string;
  const [origin, size, root] = note.split('\n') as [string, string, string];
  return `${origin}\n${size}\n${root}\n\n— ${key.keyId} ${signed(`${origin}\n${size}\n${root}\n`, key)}\n`;
}

function signed(text: string, key: ReturnType<typeof generateSigningKey>): string {
  // The checkpoint module's own signer, so only the key differs.
  const lines = signNote(text, key).split('\n');
  const sig = lines[lines.length - 2] ?? '';
  return sig.slice(sig.lastIndexOf(' ') + 1);
}

import { signNote } from './checkpoint.ts';

describe('format 2 records need their checkpoints; format 1 records their signatures', () => {
  it('a format 1 record re-signed with another key is named', () => {
    const lines = clone(exportOf(store, [A]));
    const i = recordIndexes(lines, A)[3] as number;
    const forger = generateSigningKey();
    (lines[i] as Line).keyId = forger.keyId;
    rehash(lines[i] as Line);
    expectBad(verify(lines), /altered|re-signed|does not link|rebuild/);
  });

  it('records with no checkpoint (format 2) are not proven', () => {
    const lines = clone(exportOf(store, [B])).filter((l) => l.type !== 'checkpoint' && l.type !== 'consistency');
    expectBad(verify(lines), /not in the export/);
  });
});

describe('format 1 exports (before issue 19) still verify', () => {
  const fixture = readFileSync(new URL('./testdata/export-v1.jsonl', import.meta.url), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);

  it('the kept export verifies as format 1', () => {
    const v = verify(fixture);
    expect(v.problems).toEqual([]);
    expect(v.format).toBe(1);
    expect(v.records).toBe(17);
  });

  it('and its tamperings are still named', () => {
    const bad = clone(fixture);
    (bad[5] as Line).command = 'SELECT 2';
    expect(verify(bad).ok).toBe(false);
    expect(verify(fixture.filter((_, i) => i !== 6)).firstBad?.problem).toMatch(/missing/);
  });

  it('cannot be checked against an anchor', () => {
    expect(verify(fixture, { anchor: store.anchor.head }).firstBad?.problem).toMatch(/format 1/);
  });
});

describe('large chains', () => {
  it('a 3,000-record chain with 47 checkpoints verifies, and one altered record in it is named', () => {
    const big = writeChain(NS, 3000, { group: 64 });
    const lines = clone(exportOf(store, [big]));
    const v = verify(lines);
    expect(v.ok).toBe(true);
    expect(v.checkpoints).toBe(47);
    const i = recordIndexes(lines, big)[2222] as number;
    (lines[i] as Line).command = 'x';
    expectBad(verify(lines), /altered/, { seq: 2223 });
  });

  it('records selected sparsely (every 97th) verify against their checkpoints', () => {
    const big = writeChain(NS, 1000, { group: 50 });
    const lines = exportOf(store, [big], { select: (r: SessionRecord) => r.seq % 97 === 0 });
    expect(verify(lines).ok).toBe(true);
  });
});

describe('record lines hashed from their bytes', () => {
  const r = B.records[5] as SessionRecord;

  it('a format 2 record line is its canonical JSON with the hash last, and hashes from its bytes', () => {
    const line = exportRecordLine(r);
    expect(JSON.parse(line)).toEqual(r);
    expect(line.endsWith(`,"hash":"${r.hash}"}`)).toBe(true);
    expect(recordLineHashOk(line)).toBe(true);
  });

  it('an altered byte, or a line in another form, is not accepted from its bytes', () => {
    const line = exportRecordLine(r);
    expect(recordLineHashOk(line.replace('customers', 'Customers'))).toBe(false);
    expect(recordLineHashOk(JSON.stringify(r))).toBe(false);
    // The verifier then canonicalizes the parsed record: another form of an intact record still verifies.
    const lines = clone(exportOf(store, [B]));
    const v = new ExportVerifier();
    lines.forEach((l, i) => v.add(i + 1, l, JSON.stringify(l)));
    expect(v.finish().ok).toBe(true);
    const bad = lines.map((l) => JSON.stringify(l).replace('FROM customers', 'FROM Customers'));
    const w = new ExportVerifier();
    bad.forEach((t, i) => w.add(i + 1, JSON.parse(t), t));
    expect(w.finish().firstBad?.problem).toMatch(/altered/);
  });

  it('from bytes: the same hash as from the text, and nothing for any line the text refuses', () => {
    const line = exportRecordLine(r);
    const bytes = Buffer.from(line);
    expect(recordLineHash(bytes)).toBe(r.hash);
    expect(recordLineHash(line)).toBe(r.hash);
    // Inside a larger buffer (a chunk read from a file), as the CLI hands it over.
    const chunk = Buffer.from(`xx\n${line}\nyy`);
    expect(recordLineHash(chunk.subarray(3, 3 + bytes.length))).toBe(r.hash);
    const hashAt = line.length - 66;
    const forms: [string, Buffer][] = [
      ['every single byte flipped', bytes],
      ['the hash in uppercase', Buffer.from(`${line.slice(0, hashAt)}${r.hash.toUpperCase()}"}`)],
      ['the hash member not last', Buffer.from(`${line.slice(0, -1)},"z":1}`)],
      ['a carriage return after it (a CRLF file)', Buffer.from(`${line}\r`)],
      ['a space before the hash member', Buffer.from(line.replace(',"hash":', ', "hash":'))],
      ['the hash one digit short', Buffer.from(`${line.slice(0, hashAt)}${r.hash.slice(1)}"}`)],
      ['invalid UTF-8 in place of a character', Buffer.concat([bytes.subarray(0, 10), Buffer.from([0xff]), bytes.subarray(11)])],
      ['the tail alone', Buffer.from(`{,"hash":"${r.hash}"}`)],
      ['nothing', Buffer.alloc(0)],
    ];
    for (const [name, form] of forms) {
      if (name === 'every single byte flipped') {
        for (let i = 0; i < form.length; i++) {
          const flipped = Buffer.from(form);
          flipped[i] = (flipped[i] as number) ^ 0x01;
          expect([i, recordLineHash(flipped)]).toEqual([i, undefined]);
          expect(recordLineHash(flipped.toString('latin1'))).toBeUndefined();
        }
        continue;
      }
      expect([name, recordLineHash(form)]).toEqual([name, undefined]);
      expect([name, recordLineHash(form.toString('utf8'))]).toEqual([name, undefined]);
    }
  });

  it('a long line (beyond the reused buffer) hashes from its bytes too', () => {
    const long = { ...r, command: `SELECT '${'x'.repeat(3 << 20)}'` } as Record<string, unknown>;
    delete long.hash;
    const record = { ...long, hash: hashOf(long as Linked<object>) } as unknown as SessionRecord;
    const line = exportRecordLine(record);
    expect(recordLineHash(Buffer.from(line))).toBe(record.hash);
    expect(recordLineHash(Buffer.from(line.replace("SELECT 'x", "SELECT 'y")))).toBeUndefined();
  });
});

describe('after retention removed leaves', () => {
  // Records 1..40 of C were removed (another policy's retention); the checkpoint at 64 kept the tree's frontier.
  const C = writeChain(NS, 130, { group: 64 });
  const frontierAt = (size: number): string[] => {
    const a = new MerkleAppender();
    for (const r of C.records.slice(0, size)) a.append(leafHashOfHex(r.hash));
    return a.compactRange().map((h) => h.toString('hex'));
  };

  function exportWithHoles(removed: (seq: number) => boolean, frontiers: { size: number; frontier: string[] }[]): Line[] {
    const plan = planExport({
      namespace: NS, filter: {}, createdAt: '2026-11-02T00:00:00.000Z', storeKey: store.key, storeKeys: [store.keyLine], anchors: [store.anchor],
      chains: [{
        registration: { type: 'chain.registration', chainId: C.chainId, namespace: NS, pod: C.pod, keyId: C.key.keyId, publicJwk: C.key.publicJwk },
        hashes: C.records.map((r) => (removed(r.seq) ? undefined : r.hash)), checkpoints: C.checkpoints, frontiers,
        selected: C.records.filter((r) => !removed(r.seq)).map((r) => r.seq),
      }],
    });
    const lines: Line[] = clone(plan.preamble);
    for (const run of plan.runs) lines.push(run.proof as unknown as Line, ...clone(C.records.slice(run.from - 1, run.to)));
    return lines;
  }

  it('records after a stored frontier are proven; those before it are vouched for by the operator, and say so', () => {
    const lines = exportWithHoles((s) => s <= 40, [{ size: 64, frontier: frontierAt(64) }]);
    const v = verify(lines);
    expect(v.problems).toEqual([]);
    expect(v.operatorOnly).toBe(24);
    // Tampering inside the vouched run is still named.
    const bad = clone(lines);
    const i = bad.findIndex((l) => l.seq === 50);
    (bad[i] as Line).command = 'x';
    rehash(bad[i] as Line);
    expectBad(verify(bad), /does not link|vouches for/);
    const last = clone(lines);
    const j = last.findIndex((l) => l.seq === 64);
    (last[j] as Line).command = 'x';
    rehash(last[j] as Line);
    expectBad(verify(last), /vouches for/);
  });

  it('without a frontier every remaining record rests on the operator alone', () => {
    const v = verify(exportWithHoles((s) => s <= 40, []));
    expect(v.ok).toBe(true);
    expect(v.operatorOnly).toBe(90);
  });
});
