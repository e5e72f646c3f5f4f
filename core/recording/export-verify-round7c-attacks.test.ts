// Round 7c adversarial review of "one key id, one key" (0c7db12, keys.ts storeKeyLineProblem). One
// Ed25519 key has several JWK spellings Node imports as the same key (x with '=' padding, with
// '+'/'/', with a leading space, with other trailing bits in its last character), each with its own
// RFC 7638 thumbprint: so one key can be listed under several ids. Tried: a forger re-labelling the
// real manifest and registrations (storeKeyId is outside what the store key signs) to a second id
// of the real key. HELD (kept as guards): the anchor ties the manifest's id to the anchored link's
// keyId, which the link's hash covers.
import { describe, expect, it } from '@jest/globals';
import { importPublicKey, keyIdOf, storeKeyLineProblem } from './keys.ts';
import { type ExportVerdict, type TrustOptions } from './export-verify.ts';
import { exportOf, feedExport, testStore, writeChain } from '../../e2e/support/export-testkit.ts';

type Line = Record<string, unknown>;
const NS = 'ns-a';
const store = testStore(NS, 'orders-db');
const A = writeChain(NS, 20, { group: 8 });

function verify(lines: readonly unknown[], trust: TrustOptions = {}): ExportVerdict {
  const verdict = feedExport(lines, trust, 'bytes');
  expect(feedExport(lines, trust, 'text')).toEqual(verdict);
  return verdict;
}

const clone = (lines: readonly unknown[]): Line[] => lines.map((l) => structuredClone(l) as Line);

/** Other spellings of the real store key's x that import as the same key. */
function spellings(x: string): string[] {
  const last = x.charCodeAt(x.length - 1);
  return [`${x}=`, x.replace(/-/g, '+').replace(/_/g, '/'), ` ${x}`, x.slice(0, -1) + String.fromCharCode(last + 1)].filter((s) => s !== x);
}

describe('one store key under a second id (another spelling of its JWK)', () => {
  const real = clone(exportOf(store, [A]));
  const x = store.key.publicJwk.x as string;

  it('the spellings import as the real key and get ids of their own (recorded, informational)', () => {
    const realExport = importPublicKey(store.key.publicJwk).export({ format: 'jwk' }).x;
    for (const s of spellings(x)) {
      const jwk = { ...store.key.publicJwk, x: s };
      let same: boolean;
      try { same = importPublicKey(jwk).export({ format: 'jwk' }).x === realExport; } catch { same = false; }
      if (!same) continue;
      expect(keyIdOf(jwk)).not.toBe(store.key.keyId);
      expect(storeKeyLineProblem({ keyId: keyIdOf(jwk), publicJwk: jwk })).toBeUndefined();
    }
  });

  it('(held, kept as a guard) a manifest and registrations re-labelled to the second id are not anchored', () => {
    for (const s of spellings(x)) {
      const jwk = { ...store.key.publicJwk, x: s };
      let id: string;
      try { importPublicKey(jwk); id = keyIdOf(jwk); } catch { continue; }
      const lines = clone(real);
      const at = lines.findIndex((l) => l.type === 'storeKey');
      lines.splice(at + 1, 0, { type: 'storeKey', keyId: id, publicJwk: jwk });
      for (const l of lines) if (l.type === 'registration' || l.type === 'manifest') l.storeKeyId = id;
      const v = verify(lines, { anchor: store.anchor.head });
      expect(v.ok && v.trust?.state === 'anchored').toBe(false);
      const p = verify(lines, { policyAnchor: { policy: 'orders-db', head: store.anchor.head, records: store.anchor.records } });
      expect(p.ok).toBe(false);
    }
  });

  it('(held, kept as a guard) a storeKey line after the lines that use it does not make them verify', () => {
    const lines = clone(real);
    const keyLine = lines.find((l) => l.type === 'storeKey') as Line;
    const reordered = [...lines.filter((l) => l !== keyLine), keyLine];
    expect(verify(reordered, { anchor: store.anchor.head }).ok).toBe(false);
  });
});
