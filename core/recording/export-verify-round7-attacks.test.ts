// Round 7 adversarial review of the evidence path: forgeries of an export that `guarita verify
// --file` accepted. Each test here FAILED on the code it was written against (see
// docs/security-model.md); they name the class and the fix expected.
import { describe, expect, it } from '@jest/globals';
import { generateSigningKey, type SigningKey } from './index.ts';
import { type ExportVerdict, type TrustOptions } from './export-verify.ts';
import { exportOf, feedExport, testStore, writeChain } from '../../e2e/support/export-testkit.ts';

type Line = Record<string, unknown>;

const NS = 'ns-a';
const store = testStore(NS, 'orders-db');
const A = writeChain(NS, 40, { group: 16 });

function verify(lines: readonly unknown[], trust: TrustOptions = {}): ExportVerdict {
  const verdict = feedExport(lines, trust, 'bytes');
  expect(feedExport(lines, trust, 'text')).toEqual(verdict);
  return verdict;
}

const clone = (lines: readonly unknown[]): Line[] => lines.map((l) => structuredClone(l) as Line);

describe('a store key line listed twice under one keyId (the later one replaces the earlier)', () => {
  // The forger holds a real export (its storeKey line and anchor) and a key of its own, F. It lists
  // F under the REAL store key's keyId, signs registrations and the manifest with F under that
  // keyId while F is the map's entry, then lists the real key again under the same keyId before the
  // real anchor, which then verifies with the real key. The manifest's storeKeyId is the real
  // keyId, so `--anchor` (and `--policy`) tie the file to the cluster: every line of it verified,
  // each against whatever key the keyId named at that line.
  const real = clone(exportOf(store, [A]));
  const forgerKey = generateSigningKey();
  const posing: SigningKey = { ...forgerKey, keyId: store.key.keyId };
  const forgerStore = testStore(NS, 'orders-db', posing);
  const F = writeChain(NS, 40, { group: 16, chainId: A.chainId, pod: A.pod, event: () => ({ command: 'SELECT 1 -- forged, never ran' }) });
  const forged = clone(exportOf(forgerStore, [F]));
  const realKeyLine = real.find((l) => l.type === 'storeKey') as Line;
  const forgedKeyLine = forged.find((l) => l.type === 'storeKey') as Line;
  const spliced: Line[] = [
    forged[0] as Line, forgedKeyLine,
    ...forged.filter((l) => l.type === 'registration' || l.type === 'manifest'),
    realKeyLine,
    ...real.filter((l) => l.type === 'anchor'),
    ...forged.filter((l) => !['export', 'storeKey', 'registration', 'anchor', 'manifest'].includes(l.type as string)),
  ];

  it('the splice carries the forged records and the real anchor', () => {
    expect(forgedKeyLine.keyId).toBe(realKeyLine.keyId);
    expect(spliced.some((l) => typeof l.command === 'string' && l.command.includes('forged'))).toBe(true);
    expect(verify(real, { anchor: store.anchor.head }).ok).toBe(true);
  });

  it('is refused with --anchor: a keyId names one key in a file (a second, different key under it is a forgery)', () => {
    const v = verify(spliced, { anchor: store.anchor.head });
    expect(v.trust?.state).not.toBe('anchored');
    expect(v.ok).toBe(false);
  });

  it('is refused with --policy (status.chain read from the cluster)', () => {
    const v = verify(spliced, { policyAnchor: { policy: 'orders-db', head: store.anchor.head, records: store.anchor.records } });
    expect(v.ok).toBe(false);
  });

  it('(held, kept as a guard) a forged key under the real keyId with no real key line after it is refused', () => {
    const v = verify([forged[0], forgedKeyLine, ...forged.slice(2)]);
    expect(v.ok).toBe(false);
  });
});
