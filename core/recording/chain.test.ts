import { describe, expect, it } from '@jest/globals';
import { canonicalJson } from './canonical.ts';
import { ChainWriter, GENESIS, SignedChainWriter, hashOf, verifyRecords, describeFailure, isLeafRecord, type SignedRecord } from './chain.ts';
import { generateSigningKey, importPublicKey, exportPrivateJwk, importSigningKey } from './keys.ts';

interface Payload { n: number; text: string }

function chainOf(count: number): { records: SignedRecord<Payload>[]; keys: (id: string) => ReturnType<typeof importPublicKey> | undefined } {
  const key = generateSigningKey();
  const writer = new SignedChainWriter<Payload>('pod-a/1', key);
  const records = Array.from({ length: count }, (_, i) => writer.append({ n: i, text: `select ${i}` }));
  const pub = importPublicKey(key.publicJwk);
  return { records, keys: (id) => (id === key.keyId ? pub : undefined) };
}

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: undefined, x: 'é' }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"x":"é","z":1}]},"b":1}');
  });
  it('refuses values JSON cannot carry faithfully', () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow('non-finite');
  });
});

describe('session chain', () => {
  it('verifies an intact chain and reports its head', () => {
    const { records, keys } = chainOf(5);
    const result = verifyRecords(records, keys);
    expect(result).toEqual({ ok: true, count: 5, position: { seq: 5, head: records[4]?.hash } });
    expect(records[0]?.prev).toBe(GENESIS);
  });

  it.each([
    ['altered content', (r: SignedRecord<Payload>[]) => { r[2] = { ...r[2]!, text: 'drop table x' }; }, 2, 'hash-mismatch'],
    ['deleted record', (r: SignedRecord<Payload>[]) => { r.splice(2, 1); }, 2, 'sequence-gap'],
    ['swapped records', (r: SignedRecord<Payload>[]) => { const t = r[1]!; r[1] = r[2]!; r[2] = t; }, 1, 'sequence-gap'],
    ['forged signature', (r: SignedRecord<Payload>[]) => { r[3] = { ...r[3]!, sig: r[2]!.sig }; }, 3, 'bad-signature'],
  ] as const)('names the first bad record after %s', (_what, tamper, index, problem) => {
    const { records, keys } = chainOf(5);
    tamper(records);
    const result = verifyRecords(records, keys);
    expect(result).toMatchObject({ ok: false, index, problem });
    if (!result.ok) expect(describeFailure(result)).toContain(problem);
  });

  it('detects a re-hashed record whose link no longer matches', () => {
    const { records, keys } = chainOf(3);
    const other = chainOf(3);
    records[1] = { ...other.records[1]!, chainId: records[1]!.chainId };
    expect(verifyRecords(records, (id) => keys(id) ?? other.keys(id))).toMatchObject({ ok: false, index: 1 });
  });

  it('rejects records signed by an unregistered key', () => {
    const { records } = chainOf(2);
    expect(verifyRecords(records, () => undefined)).toMatchObject({ ok: false, index: 0, problem: 'unknown-key' });
  });

  it('resumes a chain after a restart from the persisted key and position', () => {
    const key = generateSigningKey();
    const first = new ChainWriter<Payload>('c', key);
    const a = first.append({ n: 1, text: 'a' });
    const restored = importSigningKey(exportPrivateJwk(key));
    const second = new ChainWriter<Payload>('c', restored, first.position);
    const b = second.append({ n: 2, text: 'b' });
    const pub = importPublicKey(key.publicJwk);
    expect(verifyRecords([a, b], () => pub)).toMatchObject({ ok: true, count: 2 });
  });
});

describe('format 2 records (leaves, no per-record signature)', () => {
  const key = generateSigningKey();
  const keys = (id: string): ReturnType<typeof importPublicKey> | undefined => (id === key.keyId ? importPublicKey(key.publicJwk) : undefined);

  it('link and hash like format 1, carry v: 2 and no signature', () => {
    const writer = new ChainWriter<Payload>('pod-a/2', key);
    const records = Array.from({ length: 4 }, (_, i) => writer.append({ n: i, text: `select ${i}` }));
    expect(records.every((r) => isLeafRecord(r) && r.v === 2 && !('sig' in r))).toBe(true);
    expect(verifyRecords(records, keys)).toMatchObject({ ok: true, count: 4 });
    records[2] = { ...records[2]!, text: 'drop table x' };
    expect(verifyRecords(records, keys)).toMatchObject({ ok: false, index: 2, problem: 'hash-mismatch' });
  });

  it('a format 1 record passed off as format 2 (signature stripped, v added) no longer hashes', () => {
    const old = new SignedChainWriter<Payload>('pod-a/3', key);
    const records: object[] = [old.append({ n: 1, text: 'a' })];
    const { sig: _sig, ...stripped } = records[0] as SignedRecord<Payload>;
    expect(verifyRecords([{ ...stripped, v: 2 } as never], keys)).toMatchObject({ ok: false, problem: 'hash-mismatch' });
    expect(verifyRecords([{ ...stripped } as never], keys)).toMatchObject({ ok: false, problem: 'bad-signature' });
  });

  it('writes each record\'s line once: its canonical JSON with the hash last, parsing back to the record', () => {
    const writer = new ChainWriter<Record<string, unknown>>('pod-a/5', key);
    const payloads = [
      { type: 'command', time: '2026-01-01T00:00:00.000Z', namespace: 'ns', pod: 'p', command: 'SELECT "é" \u2028 😀', result: { rows: 1, sample: 'a\nb' }, purpose: undefined, masked: { cpf: 1 } },
      // A member record-text.ts does not know: the generic canonical form, same result.
      { type: 'command', extra: { z: 1, a: [1, 'x'] }, n: 1e21 },
    ];
    const written = [];
    for (const payload of payloads) {
      const { record, line } = writer.appendWithLine(payload);
      written.push(JSON.parse(line) as typeof record);
      expect(JSON.parse(line)).toEqual(JSON.parse(JSON.stringify(record)));
      const { hash, ...unhashed } = record;
      expect(line).toBe(`${canonicalJson(unhashed).slice(0, -1)},"hash":"${hash}"}`);
      expect(hash).toBe(hashOf(unhashed as never));
    }
    expect(verifyRecords(written, keys)).toMatchObject({ ok: true, count: 2 });
  });

  it('a mixed chain (format 1, then format 2) verifies', () => {
    const old = new SignedChainWriter<Payload>('pod-a/4', key);
    const first = [old.append({ n: 1, text: 'a' }), old.append({ n: 2, text: 'b' })];
    const next = new ChainWriter<Payload>('pod-a/4', key, old.position);
    expect(verifyRecords([...first, next.append({ n: 3, text: 'c' })], keys)).toMatchObject({ ok: true, count: 3 });
  });
});
