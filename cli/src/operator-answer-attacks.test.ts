// Round 5 review: what `guarita verify --file --policy` reads from the operator is checked by the
// verifier, but it is read first: a compromised operator, or whatever answers on a hijacked
// port-forward, chooses its size. A store-log proof is a few kilobytes (a checkpoint, one link, two
// logarithmic hash lists); an answer past its bound is refused while it streams, naming the bound,
// instead of being held whole in memory.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OperatorClient, STORE_PROOF_MAX_BYTES } from './operator-client.ts';

let server: Server;
let port = 0;
/** Bytes the server managed to write before the client went away. */
let written = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    written = 0;
    const url = new URL(req.url ?? '/', 'http://x');
    const huge = url.searchParams.get('shape');
    if (huge === 'declared') {
      // Says up front that it is too large.
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(64 * 1024 * 1024) });
      res.write('{"policy":"p"');
      return;
    }
    // No length: a JSON string that never ends, as long as the client reads.
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"policy":"');
    const chunk = 'a'.repeat(64 * 1024);
    const pump = (): void => {
      while (written < 256 * 1024 * 1024) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end('"}');
    };
    res.on('close', () => res.destroy());
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));

describe('an operator answer larger than a store-log proof can be', () => {
  it('streamed without a length: refused once past the bound, naming it, long before the answer ends', async () => {
    const client = new OperatorClient({ url: new URL(`http://127.0.0.1:${port}`) }, 't', 'ns');
    try {
      await expect(client.json('/policies/p/chain/proof', { shape: 'endless' }, 'reading the proof', { maxBytes: STORE_PROOF_MAX_BYTES })).rejects.toThrow(/reading the proof: the operator's answer is larger than 1 MiB/);
      expect(written).toBeLessThan(128 * 1024 * 1024);
    } finally {
      await client.close();
    }
  });

  it('declaring a length past the bound: refused before the body is read', async () => {
    const client = new OperatorClient({ url: new URL(`http://127.0.0.1:${port}`) }, 't', 'ns');
    try {
      await expect(client.json('/policies/p/chain/proof', { shape: 'declared' }, 'reading the proof', { maxBytes: STORE_PROOF_MAX_BYTES })).rejects.toThrow(/larger than 1 MiB \(it declares 67108864 bytes\)/);
    } finally {
      await client.close();
    }
  });

  it('the bound holds a real proof with room to spare: 128 hashes each way, a checkpoint and a link', () => {
    const hashes = Array.from({ length: 128 }, () => 'ab'.repeat(32));
    const proof = { policy: 'p'.repeat(253), from: 2 ** 52, records: 2 ** 53 - 1, head: 'ab'.repeat(32), root: 'ab'.repeat(32), note: 'n'.repeat(4096), link: { chainId: 'c'.repeat(300), seq: 1, keyId: 'k'.repeat(64), hash: 'ab'.repeat(32), prev: 'ab'.repeat(32), at: new Date().toISOString() }, inclusion: hashes, consistency: hashes };
    expect(Buffer.byteLength(JSON.stringify(proof))).toBeLessThan(STORE_PROOF_MAX_BYTES / 32);
  });
});
