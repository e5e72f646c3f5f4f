// What one agent's SFTP session may have in flight in the sidecar. ssh2's SFTP server parses every
// request in a chunk of the agent's channel at once and opens the channel's window again at once,
// so an agent could pipeline READs (30 bytes of request, up to 256 KiB of buffer and answer each)
// or WRITEs (their data queued for the host's window) without bound, and never read the answers:
// 2,048 READs took the sidecar past the injected pod's 256 MiB (round 10 review). The intake hands
// ssh2 one request at a time, and holds the rest while too many requests or bytes are in flight or
// while answers wait for the agent's window; the channel's window is not opened again while it
// holds, so the agent cannot send more than one window (2 MiB) past what is served.
//
// It reaches into ssh2's server-side SFTP object (ssh2 1.17, lib/protocol/SFTP.js): `push` (fed
// the channel's data by the server), the answers (status, handle, data, name, attrs: each answers
// one request id), `_buffer` (answers waiting for the agent's window), `_chunkcb` (called when the
// agent opens its window) and the channel's window fields (lib/Channel.js windowAdjust).

/** Requests of one SFTP session admitted and not yet answered, at most (OpenSSH's sftp pipelines 64). */
export const MAX_REQUESTS_IN_FLIGHT = 64;
/** Their cost in bytes at most: a READ's length (up to MAX_READ) plus its packet, any other request's packet. */
export const MAX_BYTES_IN_FLIGHT = 4 * 1024 * 1024;
/** Largest read the sidecar asks the host for at once (the agent's request may ask for more). */
export const MAX_READ = 256 * 1024;
/** ssh2's longest SFTP packet (OPENSSH_MAX_PKT_LEN); a longer one ends the session in ssh2's parser. */
const MAX_PACKET = 256 * 1024;
/** ssh2's channel window (Channel.js MAX_WINDOW), and the level below which it opens it again. */
const MAX_WINDOW = 2 * 1024 * 1024;
const WINDOW_THRESHOLD = MAX_WINDOW / 2;

const INIT = 1;
const READ = 5;
const ANSWERS = ['status', 'handle', 'data', 'name', 'attrs'] as const;

/** What the intake uses of ssh2's server-side SFTP object. */
export interface SftpInternals {
  push(data: Buffer | null): unknown;
  incoming: { window: number };
  outgoing: { id: number; state: string };
  _protocol: { channelWindowAdjust(id: number, amount: number): void };
  _buffer: unknown[];
  _chunkcb?: (() => void) | undefined;
}

/** What admitting a request costs (MAX_BYTES_IN_FLIGHT): its packet, and for a READ the length it asks for, up to MAX_READ. */
export function requestCost(packet: Buffer): number {
  if (packet[4] !== READ || packet.length < 13) return packet.length;
  const lengthAt = 13 + packet.readUInt32BE(9) + 8;
  return packet.length >= lengthAt + 4 ? packet.length + Math.min(packet.readUInt32BE(lengthAt), MAX_READ) : packet.length;
}

export interface IntakeLimits { requests: number; bytes: number }

/**
 * Installs the intake on an SFTP object before any data reaches it. Returns what the proxy calls
 * when the channel closes (what is held is dropped).
 */
export function boundSftpIntake(sftp: SftpInternals, limits: IntakeLimits = { requests: MAX_REQUESTS_IN_FLIGHT, bytes: MAX_BYTES_IN_FLIGHT }): { dispose(): void; inFlight(): { requests: number; bytes: number; held: number } } {
  const intake = new Intake(sftp, limits);
  return { dispose: () => intake.dispose(), inFlight: () => intake.inFlight() };
}

class Intake {
  readonly #sftp: SftpInternals;
  readonly #limits: IntakeLimits;
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

  constructor(sftp: SftpInternals, limits: IntakeLimits) {
    this.#sftp = sftp;
    this.#limits = limits;
    this.#feed = sftp.push.bind(sftp);
    sftp.push = (data) => this.#receive(data);
    this.#wrapAnswers();
    this.#watchDrain();
  }

  inFlight(): { requests: number; bytes: number; held: number } {
    return { requests: this.#requests, bytes: this.#bytes, held: this.#chunks.reduce((n, c) => n + c.length, 0) };
  }

  dispose(): void {
    this.#disposed = true;
    this.#chunks = [];
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
        this.#settle(id);
        return r;
      };
    }
  }

  /** ssh2 sets `_chunkcb` when the agent's window is full and calls it when the agent opens it: held requests may go on then. */
  #watchDrain(): void {
    const wake = (): void => this.#schedule();
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
    this.#schedule();
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

  #blocked(): boolean {
    return this.#requests >= this.#limits.requests || this.#bytes >= this.#limits.bytes || this.#sftp._buffer.length > 0;
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
    } finally {
      this.#pumping = false;
    }
  }

  /** The next whole request, taken off what is held, unless a bound is reached or it is not all here. */
  #next(): Buffer | undefined {
    if (this.#blocked() || this.#raw) return undefined;
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
