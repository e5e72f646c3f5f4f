// The SFTP intake bounds what one agent has in flight (round 10 review: 2,048 pipelined READs of
// 256 KiB took the sidecar past 256 MiB). A fake of ssh2's server-side SFTP object records which
// requests reach the parser, its answers settle them, and its window and answer backlog are the
// test's: every spelling of "more than the bound" (requests, bytes, READ lengths, WRITE data, split
// packets, one chunk holding many requests, answers the agent does not read, a repeated request
// id, EOF behind held requests, a packet ssh2 refuses) is checked for what reaches the parser.
import { describe, expect, it } from '@jest/globals';
import { boundSftpIntake, MAX_BYTES_IN_FLIGHT, MAX_READ, MAX_REQUESTS_IN_FLIGHT, MAX_SHARED_BYTES, requestCost, SftpBudget, type SftpInternals } from './sftp-intake.ts';
import type { SocketBacklog } from './agent-socket.ts';

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
    const intake = boundSftpIntake(f, undefined, new SftpBudget());
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
    const intake = boundSftpIntake(f, undefined, new SftpBudget());
    f.push(init());
    f.incoming.window = 1000;
    expect(f.push(Buffer.concat(Array.from({ length: 200 }, (_, i) => stat(i))))).toBe(false);
    expect(f.parsed.length).toBe(1 + MAX_REQUESTS_IN_FLIGHT);
    for (let id = 0; id < 200; id++) {
      f.status(id);
      await settle();
    }
    expect(f.parsed.length).toBe(201);
    expect(intake.inFlight()).toEqual({ requests: 0, bytes: 0, held: 0, queued: 0 });
    expect(f.adjusted).toEqual([2 * 1024 * 1024 - 1000]);
  });

  it('WRITE data counts: writes past MAX_BYTES_IN_FLIGHT wait for the host\'s answers', () => {
    const f = fakeSftp();
    boundSftpIntake(f, undefined, new SftpBudget());
    f.push(init());
    const writes = Array.from({ length: 40 }, (_, i) => write(i, 200 * 1024));
    for (const w of writes) f.push(w);
    expect(f.parsed.length - 1).toBe(Math.ceil(MAX_BYTES_IN_FLIGHT / (writes[0] as Buffer).length));
  });

  it('answers waiting for the agent\'s window hold new requests until the agent opens it', async () => {
    const f = fakeSftp();
    boundSftpIntake(f, undefined, new SftpBudget());
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
    boundSftpIntake(f, undefined, new SftpBudget());
    const all = Buffer.concat([init(), read(5, 10), stat(6)]);
    for (let i = 0; i < all.length; i++) f.push(all.subarray(i, i + 1));
    expect(f.parsed).toEqual(['init', 5, 6]);
  });

  it('a repeated request id: each answer settles one of them', async () => {
    const f = fakeSftp();
    const intake = boundSftpIntake(f, { requests: 2, bytes: MAX_BYTES_IN_FLIGHT }, new SftpBudget());
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
    expect(intake.inFlight()).toEqual({ requests: 0, bytes: 0, held: 0, queued: 0 });
  });

  it('the agent\'s EOF behind held requests reaches the parser after them', async () => {
    const f = fakeSftp();
    boundSftpIntake(f, { requests: 1, bytes: MAX_BYTES_IN_FLIGHT }, new SftpBudget());
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
      boundSftpIntake(f, undefined, new SftpBudget());
      f.push(Buffer.concat([u32(length), Buffer.from([5, 1, 2, 3])]));
      expect(Buffer.concat(seen).readUInt32BE(0)).toBe(length);
    }
  });

  it('after dispose (the channel closed), nothing held reaches the parser', async () => {
    const f = fakeSftp();
    const intake = boundSftpIntake(f, { requests: 1, bytes: MAX_BYTES_IN_FLIGHT }, new SftpBudget());
    f.push(init());
    f.push(Buffer.concat([stat(1), stat(2)]));
    intake.dispose();
    f.status(1);
    await settle();
    expect(f.parsed).toEqual(['init', 1]);
    expect(intake.inFlight().held).toBe(0);
  });
});

// Round 10b review: the bounds above are per session, and 2 connections x 30 sessions grew the
// sidecar by 161 MiB. Every session also draws on one budget (SftpBudget) with a fair share per
// agent connection: what it admitted, what its unread answers hold, what its socket holds unsent.
describe('the budget every SFTP session shares', () => {
  const KiB = 1024;
  const readCost = requestCost(read(1, 256 * KiB));

  /** A fake on an agent connection; answers to READs queue their bytes when the agent reads nothing (`unread`). */
  function onConnection(client: object): ReturnType<typeof fakeSftp> & { unread: boolean } {
    const f = Object.assign(fakeSftp(), { unread: false, _client: client });
    f.data = (_id: number): void => { if (f.unread) f._buffer.push(Buffer.alloc(256 * KiB)); };
    return f;
  }

  /** Opens a session and pipelines `n` READs of 256 KiB in one chunk; returns what reached its parser. */
  function pipelined(f: ReturnType<typeof onConnection>, budget: SftpBudget, n: number, first = 0): ReturnType<typeof boundSftpIntake> {
    const intake = boundSftpIntake(f, undefined, budget);
    f.push(init());
    f.push(Buffer.concat(Array.from({ length: n }, (_, i) => read(first + i, 256 * KiB))));
    return intake;
  }
  const reads = (f: { parsed: (number | string)[] }): number => f.parsed.filter((p) => typeof p === 'number').length;

  it('sessions of many connections together admit the budget (and one request) at most, each window left closed', () => {
    const budget = new SftpBudget(MAX_SHARED_BYTES);
    const clients = [{}, {}];
    const sessions = Array.from({ length: 60 }, (_, i) => onConnection(clients[i % 2] as object));
    for (const f of sessions) pipelined(f, budget, 64);
    expect(budget.used()).toBeLessThanOrEqual(MAX_SHARED_BYTES + readCost);
    expect(sessions.reduce((n, f) => n + reads(f), 0)).toBeLessThanOrEqual(Math.ceil(MAX_SHARED_BYTES / readCost) + 1);
    // Each connection got about half: the fair share of two.
    for (const c of clients) expect(budget.used(c)).toBeLessThanOrEqual(MAX_SHARED_BYTES / 2 + readCost);
  });

  it('answers the agent does not read stay charged; the window opening releases them and a waiting session goes on', async () => {
    const budget = new SftpBudget(1024 * KiB);
    const client = {};
    const a = onConnection(client);
    a.unread = true;
    pipelined(a, budget, 3);
    for (let id = 0; id < 3; id++) a.data(id);
    // Answered, but waiting for the agent's window: still held.
    expect(budget.used()).toBe(3 * 256 * KiB);
    const b = onConnection(client);
    pipelined(b, budget, 4, 100);
    expect(reads(b)).toBe(1);
    expect(budget.used()).toBeGreaterThanOrEqual(1024 * KiB);
    // The agent opens its window: ssh2 drains its backlog and calls _chunkcb.
    a._chunkcb = function drain(): void { a._buffer.length = 0; };
    a._chunkcb();
    await settle();
    expect(reads(b)).toBe(4);
  });

  it('fair share: a connection whose agent reads nothing cannot stop another; it has one request at a time at least, its share when bytes come back', async () => {
    const budget = new SftpBudget(1024 * KiB);
    const greedy = onConnection({});
    greedy.unread = true;
    pipelined(greedy, budget, 8);
    const admitted = reads(greedy);
    for (let id = 0; id < admitted; id++) greedy.data(id);
    // Its answers fill the budget and wait for a window its agent never opens.
    expect(budget.used()).toBeGreaterThanOrEqual(1024 * KiB);
    const other = onConnection({});
    pipelined(other, budget, 8, 500);
    // A connection holding nothing may always take one request: the other goes on, one at a time.
    expect(reads(other)).toBe(1);
    other.data(500);
    await settle();
    expect(reads(other)).toBe(2);
    // The greedy agent reads: its bytes come back, and the two waiting sessions (the greedy one
    // waited first) are woken in order: each takes up to half the budget, the fair share of two.
    greedy._chunkcb = function drain(): void { greedy._buffer.length = 0; };
    greedy._chunkcb();
    await settle();
    expect(reads(greedy)).toBe(admitted + 2);
    expect(reads(other)).toBe(3);
    for (const f of [greedy, other]) expect(budget.used(f._client as object)).toBeLessThanOrEqual(1024 * KiB / 2 + readCost);
    expect(budget.used()).toBeLessThanOrEqual(1024 * KiB + readCost);
  });

  it('a session holding nothing may always send one small request: a connection whose unread answers fill the budget still opens and stats on its other sessions', async () => {
    const budget = new SftpBudget(1024 * KiB);
    const client = {};
    const stalled = onConnection(client);
    stalled.unread = true;
    pipelined(stalled, budget, 8);
    for (let id = 0; id < reads(stalled); id++) stalled.data(id);
    expect(budget.used()).toBeGreaterThanOrEqual(1024 * KiB);
    const f = onConnection(client);
    boundSftpIntake(f, undefined, budget);
    f.push(init());
    // Small requests one at a time; a 256 KiB READ and a READDIR (its answer is a list) wait.
    f.push(Buffer.concat([stat(1), stat(2), read(3, 256 * KiB), stat(4)]));
    expect(f.parsed).toEqual(['init', 1]);
    f.status(1);
    await settle();
    expect(f.parsed).toEqual(['init', 1, 2]);
    f.status(2);
    await settle();
    expect(f.parsed).toEqual(['init', 1, 2]);
    const g = onConnection(client);
    boundSftpIntake(g, undefined, budget);
    g.push(Buffer.concat([init(), packet(12, u32(9), str(Buffer.from([0, 0, 0, 1])))]));
    expect(g.parsed).toEqual(['init']);
  });

  it('with two connections holding, each is held to half the budget', () => {
    const budget = new SftpBudget(1024 * KiB);
    const a = onConnection({});
    const b = onConnection({});
    pipelined(a, budget, 1);
    pipelined(b, budget, 8, 100);
    // b holds less than half when it admits: two requests, then it is at its share.
    expect(reads(b)).toBe(2);
    expect(budget.used(b._client as object)).toBeLessThan(1024 * KiB / 2 + readCost);
  });

  it('released bytes wake waiting sessions in order; a disposed session waits no more', async () => {
    const budget = new SftpBudget(2 * readCost);
    const client = {};
    const first = onConnection(client);
    pipelined(first, budget, 2);
    expect(reads(first)).toBe(2);
    const waiting = [onConnection(client), onConnection(client), onConnection(client)];
    const intakes = waiting.map((f, i) => pipelined(f, budget, 1, 10 * (i + 1)));
    expect(waiting.map(reads)).toEqual([0, 0, 0]);
    intakes[1]?.dispose();
    first.data(0);
    await settle();
    expect(waiting.map(reads)).toEqual([1, 0, 0]);
    first.data(1);
    await settle();
    expect(waiting.map(reads)).toEqual([1, 0, 1]);
  });

  it('a session closing releases its requests and its unread answers', () => {
    const budget = new SftpBudget(MAX_SHARED_BYTES);
    const f = onConnection({});
    f.unread = true;
    const intake = pipelined(f, budget, 8);
    f.data(0);
    expect(budget.used()).toBe(8 * readCost - readCost + 256 * KiB);
    intake.dispose();
    expect(budget.used()).toBe(0);
    // Answers after the close charge and release nothing.
    f.data(1);
    expect(budget.used()).toBe(0);
  });

  it('the connection\'s socket backlog (an agent that opens a large window and reads nothing) is charged until it drains', async () => {
    const budget = new SftpBudget(1024 * KiB);
    const listeners = new Map<string, () => void>();
    const sock: SocketBacklog = { writableLength: 4 * 1024 * KiB, writableNeedDrain: true, once: (e, l) => { listeners.set(e, l); return sock; } };
    const f = onConnection({ _sock: sock });
    pipelined(f, budget, 4);
    expect(reads(f)).toBe(0);
    expect(budget.used()).toBe(4 * 1024 * KiB);
    sock.writableLength = 0;
    sock.writableNeedDrain = false;
    listeners.get('drain')?.();
    await settle();
    expect(reads(f)).toBe(4);
  });
});
