// What the agents' SFTP sessions may have in flight in the sidecar. ssh2's SFTP server parses every
// request in a chunk of the agent's channel at once and opens the channel's window again at once,
// so an agent could pipeline READs (30 bytes of request, up to 256 KiB of buffer and answer each)
// or WRITEs (their data queued for the host's window) without bound, and never read the answers:
// 2,048 READs took the sidecar past the injected pod's 256 MiB (round 10 review). The intake hands
// ssh2 one request at a time, and holds the rest while too many requests or bytes are in flight or
// while answers wait for the agent's window; the channel's window is not opened again while it
// holds, so the agent cannot send more than one window (2 MiB) past what is served.
//
// Those bounds are per session, and an agent connection holds 32 sessions and the sidecar 256
// connections: 2 connections x 30 sessions grew the sidecar by 161 MiB (round 10b review). So
// every session also draws on one budget shared by the whole sidecar (SftpBudget): what its
// requests admitted and not answered cost, what its answers waiting for the agent's window hold,
// and what its connection's socket holds unsent. Past the budget, or past its connection's fair
// share of it, a session holds its requests with its window closed, as past its own bounds.
//
// It reaches into ssh2's server-side SFTP object (ssh2 1.17, lib/protocol/SFTP.js): `push` (fed
// the channel's data by the server), the answers (status, handle, data, name, attrs: each answers
// one request id), `_buffer` (answers waiting for the agent's window), `_chunkcb` (called when the
// agent opens its window), the channel's window fields (lib/Channel.js windowAdjust) and `_client`
// (the agent's connection, lib/server.js, whose `_sock` is its socket).
import type { SocketBacklog } from './agent-socket.ts';

/** Requests of one SFTP session admitted and not yet answered, at most (OpenSSH's sftp pipelines 64). */
export const MAX_REQUESTS_IN_FLIGHT = 64;
/** Their cost in bytes at most: a READ's length (up to MAX_READ) plus its packet, any other request's packet. */
export const MAX_BYTES_IN_FLIGHT = 4 * 1024 * 1024;
/**
 * What every SFTP session of the sidecar together may hold (SftpBudget): four sessions at their own
 * bound, or eight OpenSSH sftp transfers at full speed (64 requests of 32 KiB). The injected proxy
 * has 256 MiB; this keeps the SFTP share of it small beside the rest of the proxy.
 */
export const MAX_SHARED_BYTES = 16 * 1024 * 1024;
/** Largest read the sidecar asks the host for at once (the agent's request may ask for more). */
export const MAX_READ = 256 * 1024;
/** ssh2's longest SFTP packet (OPENSSH_MAX_PKT_LEN); a longer one ends the session in ssh2's parser. */
const MAX_PACKET = 256 * 1024;
/** ssh2's channel window (Channel.js MAX_WINDOW), and the level below which it opens it again. */
const MAX_WINDOW = 2 * 1024 * 1024;
const WINDOW_THRESHOLD = MAX_WINDOW / 2;

const INIT = 1;
const READ = 5;
const READDIR = 12;
/**
 * A request a session holding nothing may always send, past the budget: an OPEN, a STAT, a short
 * READ or WRITE (not READDIR, whose answer is a list): an agent that leaves answers unread on some
 * sessions still gets its other sessions answered, and each session adds this much at most.
 */
const SMALL_REQUEST = 4 * 1024;
const ANSWERS = ['status', 'handle', 'data', 'name', 'attrs'] as const;

/** What the intake uses of ssh2's server-side SFTP object. */
export interface SftpInternals {
  push(data: Buffer | null): unknown;
  incoming: { window: number };
  outgoing: { id: number; state: string };
  _protocol: { channelWindowAdjust(id: number, amount: number): void };
  _buffer: unknown[];
  _chunkcb?: (() => void) | undefined;
  /** The agent's connection (its sessions share one fair share of the budget) and its socket. */
  _client?: { _sock?: SocketBacklog };
}

/** A session waiting for the budget: woken (off ssh2's stack) when bytes are released. */
interface BudgetWaiter { wake(): void }

/** What one agent connection holds of the budget. */
interface Holder { bytes: number; socket: number; waiting: number; watched: boolean }

/**
 * The bytes every SFTP session of the sidecar holds, shared (round 10b review). A session charges
 * what its requests cost when admitted and what its answers hold while they wait for the agent's
 * window, and releases them as they leave; its connection's socket backlog is charged too (an
 * agent that opens a large window and reads nothing leaves the answers there). Fair share: an
 * agent connection may take more only while the budget has room and it holds less than the budget
 * split evenly between the connections holding or waiting, and a connection holding nothing may
 * always take one request, so one agent's unread answers slow another to one request at a time
 * but never stop it. Past either, its sessions wait in order and are woken as bytes are released.
 */
export class SftpBudget {
  readonly limit: number;
  #used = 0;
  readonly #holders = new Map<object, Holder>();
  #queue: BudgetWaiter[] = [];
  readonly #waiting = new Map<BudgetWaiter, object>();
  #scheduled = false;

  constructor(limit = MAX_SHARED_BYTES) {
    this.limit = limit;
  }

  /** Bytes held by every session, or by one connection's. */
  used(owner?: object): number {
    if (owner === undefined) return this.#used;
    const h = this.#holders.get(owner);
    return h === undefined ? 0 : h.bytes + h.socket;
  }

  /** Whether a session of `owner` may admit one more request now. */
  admits(owner: object): boolean {
    const held = this.used(owner);
    return held === 0 || (this.#used < this.limit && held < this.limit / Math.max(1, this.#holders.size));
  }

  /** Adds (or with a negative delta releases) bytes held by a session of `owner`. */
  charge(owner: object, delta: number): void {
    if (delta === 0) return;
    const h = this.#holder(owner);
    h.bytes += delta;
    this.#used += delta;
    this.#forget(owner, h);
    if (delta < 0) this.#schedule();
  }

  /** Charges what the connection's socket holds unsent (only past its high-water mark, where Node emits `drain` when it empties). */
  observeSocket(owner: object, socket: SocketBacklog | undefined): void {
    if (socket === undefined) return;
    const h = this.#holder(owner);
    const now = socket.writableNeedDrain ? socket.writableLength : 0;
    this.#used += now - h.socket;
    h.socket = now;
    if (now > 0 && !h.watched) {
      h.watched = true;
      const clear = (): void => { this.#clearSocket(owner); };
      socket.once('drain', clear);
      socket.once('close', clear);
    }
    this.#forget(owner, h);
  }

  /** Waits, in order, for bytes to be released. */
  wait(waiter: BudgetWaiter, owner: object): void {
    if (this.#waiting.has(waiter)) return;
    this.#waiting.set(waiter, owner);
    this.#queue.push(waiter);
    this.#holder(owner).waiting++;
  }

  /** A session gone: it waits no more. */
  leave(waiter: BudgetWaiter): void {
    const owner = this.#waiting.get(waiter);
    if (owner === undefined) return;
    this.#waiting.delete(waiter);
    this.#queue = this.#queue.filter((w) => w !== waiter);
    this.#unwait(owner);
  }

  #clearSocket(owner: object): void {
    const h = this.#holders.get(owner);
    if (h === undefined) return;
    this.#used -= h.socket;
    h.socket = 0;
    h.watched = false;
    this.#forget(owner, h);
    this.#schedule();
  }

  #holder(owner: object): Holder {
    let h = this.#holders.get(owner);
    if (h === undefined) {
      h = { bytes: 0, socket: 0, waiting: 0, watched: false };
      this.#holders.set(owner, h);
    }
    return h;
  }

  #unwait(owner: object): void {
    const h = this.#holders.get(owner);
    if (h === undefined) return;
    h.waiting--;
    this.#forget(owner, h);
  }

  /** A connection that holds nothing and waits for nothing no longer counts in the fair share. */
  #forget(owner: object, h: Holder): void {
    if (h.bytes === 0 && h.socket === 0 && h.waiting === 0 && !h.watched) this.#holders.delete(owner);
  }

  #schedule(): void {
    if (this.#scheduled || this.#queue.length === 0) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#serve();
    });
  }

  /** Wakes the waiting sessions in order while the budget has room; a session still blocked waits again, behind. */
  #serve(): void {
    const queue = this.#queue;
    this.#queue = [];
    let i = 0;
    for (; i < queue.length && this.#used < this.limit; i++) {
      const waiter = queue[i] as BudgetWaiter;
      const owner = this.#waiting.get(waiter);
      this.#waiting.delete(waiter);
      if (owner !== undefined) this.#unwait(owner);
      waiter.wake();
    }
    // Those not reached keep their place, before those that waited again.
    this.#queue = [...queue.slice(i), ...this.#queue];
  }
}

/** The budget every SFTP session of the sidecar shares. */
export const SHARED_SFTP_BUDGET = new SftpBudget();

/** What admitting a request costs (MAX_BYTES_IN_FLIGHT): its packet, and for a READ the length it asks for, up to MAX_READ. */
export function requestCost(packet: Buffer): number {
  if (packet[4] !== READ || packet.length < 13) return packet.length;
  const lengthAt = 13 + packet.readUInt32BE(9) + 8;
  return packet.length >= lengthAt + 4 ? packet.length + Math.min(packet.readUInt32BE(lengthAt), MAX_READ) : packet.length;
}

/**
 * The memory an answer waiting in ssh2's `_buffer` keeps: when the agent's window ends inside an
 * answer, ssh2 keeps the unsent tail as a slice of the whole answer (tryWritePayload), so one READ's
 * 256 KiB stays for a tail of a few bytes, on every session whose window is full (round 10b: 60
 * sessions kept 15 MiB no count saw). Small answers come from Node's shared pool: their length.
 */
export function pinned(b: Buffer): number {
  return b.buffer.byteLength > Buffer.poolSize ? Math.max(b.length, b.buffer.byteLength) : b.length;
}

export interface IntakeLimits { requests: number; bytes: number }

const SESSION_LIMITS: IntakeLimits = { requests: MAX_REQUESTS_IN_FLIGHT, bytes: MAX_BYTES_IN_FLIGHT };

/**
 * Installs the intake on an SFTP object before any data reaches it, drawing on `budget` (the
 * sidecar's by default). Returns what the proxy calls when the channel closes (what is held is
 * dropped and what the session held of the budget released).
 */
export function boundSftpIntake(sftp: SftpInternals, limits: IntakeLimits = SESSION_LIMITS, budget: SftpBudget = SHARED_SFTP_BUDGET): { dispose(): void; inFlight(): { requests: number; bytes: number; held: number; queued: number } } {
  const intake = new Intake(sftp, limits, budget);
  return { dispose: () => intake.dispose(), inFlight: () => intake.inFlight() };
}

class Intake {
  readonly #sftp: SftpInternals;
  readonly #limits: IntakeLimits;
  readonly #budget: SftpBudget;
  /** Who the session's share of the budget is counted for: the agent's connection. */
  readonly #owner: object;
  /** Bytes of answers waiting in ssh2's `_buffer` for the agent's window, as last charged. */
  #queued = 0;
  /** The next whole request held waits for the budget (not for the session's own bounds). */
  #overBudget = false;
  readonly #feed: (data: Buffer | null) => unknown;
  /** Bytes received and not yet handed to ssh2: whole requests held, then at most one partial request. */
  #chunks: Buffer[] = [];
  /** Costs of the admitted requests not yet answered, by request id (an id may repeat). */
  readonly #costs = new Map<number, number[]>();
  #requests = 0;
  #bytes = 0;
  /** The channel's window was left closed (push answered false) while requests were held. */
  #withheld = false;
  /** The agent's EOF, delivered once what is held has been. */
  #eof = false;
  /** A packet length ssh2 refuses: everything goes to ssh2 as received, which ends the session. */
  #raw = false;
  #scheduled = false;
  #pumping = false;
  #disposed = false;

  constructor(sftp: SftpInternals, limits: IntakeLimits, budget: SftpBudget) {
    this.#sftp = sftp;
    this.#limits = limits;
    this.#budget = budget;
    this.#owner = sftp._client ?? sftp;
    this.#feed = sftp.push.bind(sftp);
    sftp.push = (data) => this.#receive(data);
    this.#wrapAnswers();
    this.#watchDrain();
  }

  inFlight(): { requests: number; bytes: number; held: number; queued: number } {
    return { requests: this.#requests, bytes: this.#bytes, held: this.#chunks.reduce((n, c) => n + c.length, 0), queued: this.#queued };
  }

  /** The channel closed: what is held is dropped, and what the session held of the budget released (later answers charge nothing). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#chunks = [];
    this.#budget.leave(this);
    this.#budget.charge(this.#owner, -(this.#bytes + this.#queued));
    this.#costs.clear();
    this.#requests = 0;
    this.#bytes = 0;
    this.#queued = 0;
  }

  /** The budget has room again (BudgetWaiter). */
  wake(): void {
    this.#pump();
  }

  /** ssh2's server calls this with the channel's data (null: EOF); false keeps the window closed. */
  #receive(data: Buffer | null): unknown {
    if (this.#raw) return this.#feed(data);
    if (data === null) {
      if (this.#chunks.length === 0) return this.#feed(null);
      this.#eof = true;
      return true;
    }
    if (data.length > 0) this.#chunks.push(data);
    this.#pump();
    if (this.#blocked() && this.#chunks.length > 0) {
      this.#withheld = true;
      return false;
    }
    return true;
  }

  /** Each answer settles its request's cost; ssh2 answers unhandled requests through the same methods. */
  #wrapAnswers(): void {
    const target = this.#sftp as unknown as Record<string, (id: number, ...rest: unknown[]) => unknown>;
    for (const name of ANSWERS) {
      const original = target[name];
      if (typeof original !== 'function') continue;
      target[name] = (id: number, ...rest: unknown[]): unknown => {
        const r = original.call(this.#sftp, id, ...rest);
        this.#recountQueued();
        this.#settle(id);
        return r;
      };
    }
  }

  /** ssh2 sets `_chunkcb` when the agent's window is full and calls it when the agent opens it: answers left, held requests may go on. */
  #watchDrain(): void {
    const wake = (): void => {
      this.#recountQueued();
      this.#schedule();
    };
    let current = this.#sftp._chunkcb;
    Object.defineProperty(this.#sftp, '_chunkcb', {
      configurable: true, enumerable: true,
      get: () => current,
      set: (f: (() => void) | undefined) => {
        current = f === undefined ? undefined : function (this: unknown) { f.call(this); wake(); };
      },
    });
  }

  #settle(id: number): void {
    const costs = this.#costs.get(id);
    const cost = costs?.shift();
    if (costs === undefined || cost === undefined) return;
    if (costs.length === 0) this.#costs.delete(id);
    this.#requests--;
    this.#bytes -= cost;
    this.#budget.charge(this.#owner, -cost);
    this.#schedule();
  }

  /** Charges the budget with what the answers waiting for the agent's window now hold. */
  #recountQueued(): void {
    if (this.#disposed) return;
    let queued = 0;
    for (const b of this.#sftp._buffer) queued += Buffer.isBuffer(b) ? pinned(b) : 0;
    this.#budget.charge(this.#owner, queued - this.#queued);
    this.#queued = queued;
  }

  /** Later, off ssh2's stack: an answer or a window adjustment may let held requests go on. */
  #schedule(): void {
    if (this.#scheduled || (this.#chunks.length === 0 && !this.#eof && !this.#withheld)) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  /** The session's own bounds are reached, or answers wait for the agent's window. */
  #full(): boolean {
    return this.#requests >= this.#limits.requests || this.#bytes >= this.#limits.bytes || this.#sftp._buffer.length > 0;
  }

  /** The session's own bounds are reached, or the whole request it holds next waits for the budget. */
  #blocked(): boolean {
    return this.#full() || this.#overBudget;
  }

  /**
   * Whether the budget shared with every other session (the connection's socket backlog counted)
   * lets this request in; a small one always goes in when the session holds nothing.
   */
  #budgetAdmits(packet: Buffer): boolean {
    this.#budget.observeSocket(this.#owner, this.#sftp._client?._sock);
    if (this.#budget.admits(this.#owner)) return true;
    return this.#requests === 0 && this.#queued === 0 && packet[4] !== READDIR && requestCost(packet) <= SMALL_REQUEST;
  }

  /** Hands ssh2 whole requests while none of the bounds is reached. */
  #pump(): void {
    if (this.#pumping || this.#disposed) return;
    this.#pumping = true;
    try {
      for (let packet = this.#next(); packet !== undefined; packet = this.#next()) {
        this.#admit(packet);
        this.#feed(packet);
      }
      if (this.#raw) this.#flushRaw();
      else if (!this.#blocked()) this.#reopen();
      // Held by the budget, not by its own bounds: woken when bytes are released.
      else if (this.#overBudget && !this.#full()) this.#budget.wait(this, this.#owner);
    } finally {
      this.#pumping = false;
    }
  }

  /** The next whole request, taken off what is held, unless a bound is reached or it is not all here. */
  #next(): Buffer | undefined {
    this.#overBudget = false;
    if (this.#full() || this.#raw) return undefined;
    const head = this.#gather(4);
    if (head === undefined) return undefined;
    const length = head.readUInt32BE(0);
    if (length === 0 || length > MAX_PACKET) {
      this.#raw = true;
      return undefined;
    }
    const whole = this.#gather(4 + length);
    if (whole === undefined) return undefined;
    const packet = whole.subarray(0, 4 + length);
    if (packet[4] !== INIT && !this.#budgetAdmits(packet)) {
      this.#overBudget = true;
      return undefined;
    }
    this.#take(4 + length);
    return packet;
  }

  /** The first chunk, grown to at least `n` bytes from the next ones (n is one packet at most), if that many are held. */
  #gather(n: number): Buffer | undefined {
    const c = this.#chunks;
    while (c.length > 1 && (c[0] as Buffer).length < n) c.splice(0, 2, Buffer.concat([c[0] as Buffer, c[1] as Buffer]));
    const first = c[0];
    return first !== undefined && first.length >= n ? first : undefined;
  }

  #take(n: number): void {
    const first = this.#chunks[0] as Buffer;
    if (first.length === n) this.#chunks.shift();
    else this.#chunks[0] = first.subarray(n);
  }

  #admit(packet: Buffer): void {
    if (packet[4] === INIT || packet.length < 9) return;
    const id = packet.readUInt32BE(5);
    const cost = requestCost(packet);
    const costs = this.#costs.get(id);
    if (costs === undefined) this.#costs.set(id, [cost]);
    else costs.push(cost);
    this.#requests++;
    this.#bytes += cost;
    this.#budget.charge(this.#owner, cost);
  }

  /** Nothing whole is held any more: the agent may send again (the window ssh2 left closed is opened), and its EOF goes on. */
  #reopen(): void {
    if (this.#withheld) {
      this.#withheld = false;
      const s = this.#sftp;
      const amount = MAX_WINDOW - s.incoming.window;
      if (s.incoming.window <= WINDOW_THRESHOLD && amount > 0 && (s.outgoing.state === 'open' || s.outgoing.state === 'eof')) {
        s.incoming.window += amount;
        s._protocol.channelWindowAdjust(s.outgoing.id, amount);
      }
    }
    if (this.#eof && this.#chunks.length === 0) {
      this.#eof = false;
      this.#feed(null);
    }
  }

  /** A packet ssh2 refuses: it gets the bytes as received and ends the session. */
  #flushRaw(): void {
    const chunks = this.#chunks;
    this.#chunks = [];
    for (const c of chunks) this.#feed(c);
    if (this.#eof) this.#feed(null);
  }
}
