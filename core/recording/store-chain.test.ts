import { describe, expect, it } from '@jest/globals';
import { canonicalJson, generateSigningKey, hashOf, type Linked } from './index.ts';
import { StoreChain, storeLinkHash } from './store-chain.ts';
import type { SessionRecord, Tombstone } from './store-types.ts';

describe('storeLinkHash', () => {
  it('equals the generic canonical hash for every kind of link, in both formats', () => {
    const key = generateSigningKey();
    const record = { chainId: 'ns/pod/1', seq: 7, hash: 'a'.repeat(64) } as SessionRecord;
    for (const chain of [new StoreChain('ns', 'p', key), new StoreChain('ns', 'p', key, { seq: 3, head: 'b'.repeat(64) })]) {
      const links = [
        chain.linkRecord(record, '2026-01-01T00:00:00.000Z'),
        chain.linkCheckpoint({ chainId: 'ns/pod/1', size: 7, root: 'c'.repeat(64) }, '2026-01-01T00:00:00.000Z'),
        chain.linkTombstone({ cut: { seq: 2, head: 'd'.repeat(64) }, hash: 'e'.repeat(64) } as Tombstone, 'x"\u00e9\u2028'),
      ];
      // The record link's canonical JSON is written directly: it is canonicalJson of the link.
      const { link: recordLink, text } = chain.linkRecordWithText({ ...record, seq: 8, chainId: 'ns/pod/"é\u2028\u0001' }, 'x"\u00e9');
      const { hash: recordLinkHash, sig: _s, ...recordLinked } = recordLink;
      expect(text).toBe(canonicalJson(recordLinked));
      expect(recordLinkHash).toBe(hashOf(recordLinked as Linked<object>));
      for (const link of links) {
        const { hash, sig: _sig, ...linked } = link;
        expect(hash).toBe(hashOf(linked as Linked<object>));
        expect(storeLinkHash({ ...linked, extra: 1 } as never)).toBe(hashOf({ ...linked, extra: 1 } as unknown as Linked<object>));
      }
    }
  });
});

describe('linkRecordWithText', () => {
  it('writes canonicalJson of each link as time and source chain change between links (the last ones\' JSON is reused)', () => {
    const steps: [string, string, number][] = [
      ['ns/pod/1', '2026-01-01T00:00:00.000Z', 1], ['ns/pod/1', '2026-01-01T00:00:00.000Z', 2], ['ns/pod/"2"', '2026-01-01T00:00:00.000Z', 1],
      ['ns/pod/"2"', '2026-01-01T00:00:01.000Z', 2], ['ns/pod/1', '2026-01-01T00:00:01.000Z', 3], ['ns/pod/1', 'x"\u00e9\u2028', 4.5],
    ];
    // A new log (format 2), and one resumed at a stored position (format 1: its tree unknown): the first link's prev is that head.
    for (const chain of [new StoreChain('ns', 'p', generateSigningKey()), new StoreChain('ns', 'p', generateSigningKey(), { seq: 4, head: 'b'.repeat(64) }, null)]) {
      for (const [i, [chainId, time, seq]] of steps.entries()) {
        // A checkpoint link between records: the next record link's prev is its hash.
        if (i === 3) chain.linkCheckpoint({ chainId, size: seq, root: 'c'.repeat(64) }, time);
        const { link, text } = chain.linkRecordWithText({ chainId, seq, hash: 'a'.repeat(64) } as SessionRecord, time);
        const { hash, sig: _s, ...linked } = link;
        expect(text).toBe(canonicalJson(linked));
        expect(hash).toBe(hashOf(linked as Linked<object>));
      }
    }
  });
});

describe('recordLeaf', () => {
  it('is merkle.ts leafHashOfHex, and refuses what is not a 32-byte hex hash', async () => {
    const { recordLeaf } = await import('./chain-tree.ts');
    const { leafHashOfHex } = await import('./merkle.ts');
    for (const h of ['0'.repeat(64), 'ab'.repeat(32), '1f2f977f574ebb9cd526d53bc5b07506c053526e293809f054380e7c1b4d62a1']) expect(recordLeaf(h).equals(leafHashOfHex(h))).toBe(true);
    expect(() => recordLeaf('abc')).toThrow('64 hex digits');
  });
});
