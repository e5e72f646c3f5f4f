// The SFTP intake bounds what one agent has in flight (round 10 review: 2,048 pipelined READs of
// 256 KiB took the sidecar past 256 MiB). A fake of ssh2's server-side SFTP object records which
// requests reach the parser, its answers settle them, and its window and answer backlog are the
// test's: every spelling of "more than the bound" (requests, bytes, READ lengths, WRITE data, split
// packets, one chunk holding many requests, answers the agent does not read, a repeated request
// id, EOF behind held requests, a packet ssh2 refuses) is checked for what reaches the parser.
import { describe, expect, it } from '@jest/globals';
import { boundSftpIntake, MAX_BYTES_IN_FLIGHT, MAX_READ, MAX_REQUESTS_IN_FLIGHT, requestCost, type SftpInternals } from './sftp-intake.ts';

const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0, 0); return b; };
const u64 = (n: number): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n), 0); return b; };
const str = (v: string | Buffer): Buffer => { const b = Buffer.isBuffer(v) ? v : Buffer.from(v); return Buffer.concat([u32(b.length), b]); };
function packet(type: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(body.length + 1), Buffer.from([type]), body]);
}
const init = (): Buffer => packet(1, u32(3));
const read = (id: number, length: number): Buffer => packet(5, u32(id), str(Buffer.from([0, 0, 0, 1])), u64(0), u32(length));
const write = (id: number, bytes: number): Buffer => packet(6, u32(id), str(Buffer.from([0, 0, 0, 1])), u64(0), str(Buffer.alloc(bytes)));
const stat = (id: number): Buffer => packet(17, u32(id), str('/x'));

/** A fake of ssh2's SFTP object: what reached its parser (request ids; 'init', 'eof'), window adjustments, an answer backlog the test sets. */
function fakeSftp(): SftpInternals & { parsed: (number | string)[]; adjusted: number[]; status(id: number): void; data(id: number): void } {
  const f = {
    parsed: [] as (number | string)[],
    adjusted: [] as number[],
    incoming: { window: 2 * 1024 * 1024 },
    outgoing: { id: 7, state: 'open' },
    _buffer: [] as unknown[],
    _chunkcb: undefined as (() => void) | undefined,
    _protocol: { channelWindowAdjust: (_id: number, amount: number): void => { f.adjusted.push(amount); } },
    push(data: Buffer | null): unknown {
      if (data === null) f.parsed.push('eof');
      // Whole packets only (the intake hands them over one at a time).
      else for (let at = 0; at < data.length; at += 4 + data.readUInt32BE(at)) f.parsed.push(data[at + 4] === 1 ? 'init' : data.readUInt32BE(at + 5));
      return undefined;
    },
    status(_id: number): void { /* answered */ },
    data(_id: number): void { /* answered */ },
  };
  return f;
}

/** Lets queued microtasks (the intake's wake-ups) run. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('requestCost: what a request holds in flight', () => {
  it('a READ costs its length up to MAX_READ plus its packet; other requests their packet', () => {
    expect(requestCost(read(1, 1000))).toBe(read(1, 1000).length + 1000);
    expect(requestCost(read(1, 0xffffffff))).toBe(read(1, 0).length + MAX_READ);
    expect(requestCost(write(2, 5000))).toBe(write(2, 5000).length);
    expect(requestCost(stat(3))).toBe(stat(3).length);
  });

  it('a READ too short to hold its length (ssh2 refuses it) costs its packet', () => {
    const short = packet(5, u32(1), str('h'));
    expect(requestCost(short)).toBe(short.length);
    const lying = packet(5, u32(1), u32(0xffff));
    expect(requestCost(lying)).toBe(lying.length);
  });
});

describe('the intake: requests in flight are bounded', () => {
  it('pipelined READs in one chunk: MAX_BYTES_IN_FLIGHT worth reach the parser, the rest wait, and the window stays closed', async () => {
    const f = fakeSftp();
    const intake = boundSftpIntake(f);
    expect(f.push(init())).toBe(true);
    const reads = Array.from({ length: 2048 }, (_, i) => read(100 + i, 256 * 1024));
    f.incoming.window -= 70_000;
    expect(f.push(Buffer.concat(reads))).toBe(false);
    const admitted = Math.ceil(MAX_BYTES_IN_FLIGHT / requestCost(reads[0] as Buffer));
    expect(f.parsed).toEqual(['init', ...Array.from({ length: admitted }, (_, i) => 100 + i)]);
    expect(intake.inFlight().requests).toBe(admitted);
    // Answering one lets one more through, not the rest.
    f.data(100);
    await settle();
    expect(f.parsed.length).toBe(1 + admitted + 1);
    expect(f.adjusted).toEqual([]);
  });

  it('many small requests: at most MAX_REQUESTS_IN_FLIGHT reach the parser until answered; all answered, all go through and the window opens', async () => {
    const f = fakeSftp();
    const intake = boundSftpIntake(f);
    f.push(init());
    f.incoming.window = 1000;
    expect(f.push(Buffer.concat(Array.from({ length: 200 }, (_, i) => stat(i))))).toBe(false);
    expect(f.parsed.length).toBe(1 + MAX_REQUESTS_IN_FLIGHT);
    for (let id = 0; id < 200; id++) {
      f.status(id);
      await settle();
    }
    expect(f.parsed.length).toBe(201);
    expect(intake.inFlight()).toEqual({ requests: 0, bytes: 0, held: 0 });
    expect(f.adjusted).toEqual([2 * 1024 * 1024 - 1000]);
  });

  it('WRITE data counts: writes past MAX_BYTES_IN_FLIGHT wait for the host\'s answers', () => {
    const f = fakeSftp();
    boundSftpIntake(f);
    f.push(init());
    const writes = Array.from({ length: 40 }, (_, i) => write(i, 200 * 1024));
    for (const w of writes) f.push(w);
    expect(f.parsed.length - 1).toBe(Math.ceil(MAX_BYTES_IN_FLIGHT / (writes[0] as Buffer).length));
  });

  it('answers waiting for the agent\'s window hold new requests until the agent opens it', async () => {
    const f = fakeSftp();
    boundSftpIntake(f);
    f.push(init());
    f.push(read(1, 10));
    f._buffer.push(Buffer.alloc(10));
    f.data(1);
    // ssh2 sets _chunkcb when the agent's window is full.
    f._chunkcb = function drain(this: unknown): void { f._buffer.length = 0; };
    expect(f.push(stat(2))).toBe(false);
    expect(f.parsed).toEqual(['init', 1]);
    // The agent opens its window: ssh2 calls _chunkcb, which drains the backlog; the held request goes on.
    f._chunkcb?.();
    await settle();
    expect(f.parsed).toEqual(['init', 1, 2]);
  });

  it('a request split across chunks, and its length split too, reaches the parser whole and once', () => {
    const f = fakeSftp();
    boundSftpIntake(f);
    const all = Buffer.concat([init(), read(5, 10), stat(6)]);
    for (let i = 0; i < all.length; i++) f.push(all.subarray(i, i + 1));
    expect(f.parsed).toEqual(['init', 5, 6]);
  });

  it('a repeated request id: each answer settles one of them', async () => {
    const f = fakeSftp();
    const intake = boundSftpIntake(f, { requests: 2, bytes: MAX_BYTES_IN_FLIGHT });
    f.push(init());
    f.push(Buffer.concat([stat(9), stat(9), stat(10)]));
    expect(f.parsed).toEqual(['init', 9, 9]);
    f.status(9);
    await settle();
    expect(f.parsed).toEqual(['init', 9, 9, 10]);
    f.status(9);
    f.status(10);
    // An answer to no admitted request (or answered twice) settles nothing.
    f.status(9);
    expect(intake.inFlight()).toEqual({ requests: 0, bytes: 0, held: 0 });
  });

  it('the agent\'s EOF behind held requests reaches the parser after them', async () => {
    const f = fakeSftp();
    boundSftpIntake(f, { requests: 1, bytes: MAX_BYTES_IN_FLIGHT });
    f.push(init());
    f.push(Buffer.concat([stat(1), stat(2)]));
    f.push(null);
    expect(f.parsed).toEqual(['init', 1]);
    f.status(1);
    await settle();
    f.status(2);
    await settle();
    expect(f.parsed).toEqual(['init', 1, 2, 'eof']);
  });

  it('a packet length ssh2 refuses (0, or past its 256 KiB) goes to the parser as received, which ends the session', () => {
    for (const length of [0, 256 * 1024 + 1, 0xffffffff]) {
      const f = fakeSftp();
      const seen: Buffer[] = [];
      f.push = (d) => { if (d !== null) seen.push(d); return undefined; };
      boundSftpIntake(f);
      f.push(Buffer.concat([u32(length), Buffer.from([5, 1, 2, 3])]));
      expect(Buffer.concat(seen).readUInt32BE(0)).toBe(length);
    }
  });

  it('after dispose (the channel closed), nothing held reaches the parser', async () => {
    const f = fakeSftp();
    const intake = boundSftpIntake(f, { requests: 1, bytes: MAX_BYTES_IN_FLIGHT });
    f.push(init());
    f.push(Buffer.concat([stat(1), stat(2)]));
    intake.dispose();
    f.status(1);
    await settle();
    expect(f.parsed).toEqual(['init', 1]);
    expect(intake.inFlight().held).toBe(0);
  });
});
