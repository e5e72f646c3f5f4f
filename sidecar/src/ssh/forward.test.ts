// Port forwarding of one agent connection, against fakes of the agent's connection, the host's
// connection and the session (round 10 review): each connection a remote forward hands back is
// judged under the policy in force and recorded with its bytes; a denial refuses it and closes the
// host's listener; forwarded channels are bounded like session channels are.
import { describe, expect, it } from '@jest/globals';
import { EventEmitter } from 'node:events';
import { duplexPair, type Duplex } from 'node:stream';
import type { Client, Connection } from 'ssh2';
import type { Authorization, CommandOutcome, Session } from '../enforcement.ts';
import type { Logger } from '../log.ts';
import { handleForwarding, MAX_FORWARD_CHANNELS, MAX_REMOTE_FORWARDS } from './forward.ts';

type Verdict = 'allow' | 'deny' | 'pending' | 'throw';

/** The session: decides every forward with `verdict`; what was asked and what was recorded. */
class FakeSession {
  verdict: Verdict = 'allow';
  asked: string[] = [];
  completed: CommandOutcome[] = [];
  /** End notes written to the session's stream (recordStream). */
  notes: string[] = [];
  /** While true, the spool fails: complete() and recordStream() reject. */
  failRecords = false;
  newMaskSession(): { maskText(t: string): string } {
    return { maskText: (t) => t.replace(/127\.0\.0\.1/g, '127.0.*.*') };
  }
  /** The frames' kinds (the end note is a note, `n`: round 12c review). */
  kinds: string[] = [];
  recordStream(frames: { ch: string; data: string }[]): Promise<unknown> {
    if (this.failRecords) return Promise.reject(new Error('EIO: spool write failed'));
    this.notes.push(...frames.map((f) => f.data));
    this.kinds.push(...frames.map((f) => f.ch));
    return Promise.resolve();
  }
  authorize(command: { ssh: { kind: string; host: string; port: number } }): Promise<Authorization> {
    this.asked.push(`${command.ssh.kind} ${command.ssh.host}:${command.ssh.port}`);
    const decision = { decision: this.verdict, reason: 'r' } as never;
    if (this.verdict === 'throw') return Promise.reject(new Error('spool unwritable'));
    if (this.verdict === 'deny') return Promise.resolve({ verdict: 'deny', decision, message: 'denied: no rule allows it' });
    if (this.verdict === 'pending') return Promise.resolve({ verdict: 'pending', approvalRequest: 'a', message: 'held' });
    return Promise.resolve({ verdict: 'allow', decision, complete: (o: CommandOutcome) => {
      if (this.failRecords) return Promise.reject(new Error('EIO: spool write failed'));
      this.completed.push(o);
      return Promise.resolve();
    } });
  }
}

/** The host's connection: listens where asked (port 0 → 40000), hands connections back, forwards out. */
class FakeHost extends EventEmitter {
  unforwarded: string[] = [];
  far: Duplex[] = [];
  forwardIn(addr: string, port: number, cb: (err: Error | undefined, port: number) => void): void {
    setImmediate(() => cb(undefined, port === 0 ? 40000 : port));
  }
  unforwardIn(addr: string, port: number, cb: () => void): void {
    this.unforwarded.push(`${addr}:${port}`);
    cb();
  }
  /** The sidecar's ends of the channels opened (what it destroys). */
  near: Duplex[] = [];
  forwardOut(_a: string, _b: number, _c: string, _d: number, cb: (err: Error | undefined, ch: Duplex) => void): void {
    const [near, far] = duplexPair();
    this.far.push(far);
    this.near.push(near);
    setImmediate(() => cb(undefined, near));
  }
  /** A host-side client connects to the listener at addr:port; the outcome and the host's end of the channel. */
  connect(addr: string, port: number): Promise<{ accepted: Duplex } | { rejected: true }> {
    return new Promise((resolve) => {
      // ssh2 emits only for a port it was asked to forward (it refuses the rest itself).
      if (this.listenerCount('tcp connection') === 0) return resolve({ rejected: true });
      this.emit('tcp connection', { srcIP: '127.0.0.1', srcPort: 50000, destIP: addr, destPort: port }, () => {
        const [near, far] = duplexPair();
        resolve({ accepted: far });
        return near;
      }, () => resolve({ rejected: true }));
    });
  }
}

/** The agent's connection: emits the agent's requests; forwardOut opens a channel back to the agent. */
class FakeAgent extends EventEmitter {
  far: Duplex[] = [];
  /** The sidecar's ends of the channels opened (what it destroys). */
  near: Duplex[] = [];
  forwardOut(_a: string, _b: number, _c: string, _d: number, cb: (err: Error | undefined, ch: Duplex) => void): void {
    const [near, far] = duplexPair();
    this.far.push(far);
    this.near.push(near);
    setImmediate(() => cb(undefined, near));
  }
  /** A global request (tcpip-forward, cancel-tcpip-forward): the port accepted, or false. */
  request(name: string, bindAddr: string, bindPort: number): Promise<number | true | false> {
    return new Promise((resolve) => this.emit('request', (p?: number) => resolve(p ?? true), () => resolve(false), name, { bindAddr, bindPort }));
  }
  /** A direct-tcpip channel (ssh -L): the agent's end, or false when rejected. */
  direct(destPort: number): Promise<Duplex | false> {
    return new Promise((resolve) => this.emit('tcpip', () => {
      const [near, far] = duplexPair();
      resolve(far);
      return near;
    }, () => resolve(false), { srcIP: '127.0.0.1', srcPort: 1, destIP: '127.0.0.1', destPort }));
  }
}

const quiet = { warn: () => undefined, info: () => undefined, debug: () => undefined, error: () => undefined } as unknown as Logger;

function rig(): { agent: FakeAgent; host: FakeHost; session: FakeSession } {
  const agent = new FakeAgent();
  const host = new FakeHost();
  const session = new FakeSession();
  handleForwarding(agent as unknown as Connection, () => ({ session: session as unknown as Session, logger: quiet, upstream: () => Promise.resolve(host as unknown as Client) }));
  return { agent, host, session };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

/** Writes `n` bytes into `from` and ends both sides once they reached `to`. */
async function carry(from: Duplex, to: Duplex, n: number): Promise<void> {
  let got = 0;
  const arrived = new Promise<void>((r) => to.on('data', (c: Buffer) => { got += c.length; if (got >= n) r(); }));
  from.write(Buffer.alloc(n, 0x61));
  await arrived;
  from.end();
  to.end();
  to.resume();
  from.resume();
  await tick();
}

describe('remote forwards (ssh -R): each connection handed back is judged and recorded', () => {
  it('records the listener, then each connection with its bytes, judged again each time', async () => {
    const { agent, host, session } = rig();
    expect(await agent.request('tcpip-forward', '127.0.0.1', 8080)).toBe(8080);
    const c = await host.connect('127.0.0.1', 8080);
    if (!('accepted' in c)) throw new Error('refused');
    await tick();
    await carry(c.accepted, agent.far[0] as Duplex, 65_536);
    expect(session.asked).toEqual(['remoteForward 127.0.0.1:8080', 'remoteForward 127.0.0.1:8080']);
    // Each open is recorded before it carries a byte; the byte count is the note of its end (round 12b).
    expect(session.completed.map((o) => o.result)).toEqual([{}, {}]);
    expect(session.notes).toEqual([expect.stringMatching(/^remoteForward 127\.0\.\*\.\*:8080 closed: 65536 bytes in \d+ ms$/)]);
    expect(session.kinds).toEqual(['n']);
  });

  it('a port the host chose (0 asked) is judged as asked and served where bound', async () => {
    const { agent, host, session } = rig();
    expect(await agent.request('tcpip-forward', '127.0.0.1', 0)).toBe(40000);
    expect('accepted' in (await host.connect('127.0.0.1', 40000))).toBe(true);
    expect(session.asked).toEqual(['remoteForward 127.0.0.1:0', 'remoteForward 127.0.0.1:0']);
  });

  it('once the policy denies the forward, the connection is refused and the host stops listening', async () => {
    const { agent, host, session } = rig();
    await agent.request('tcpip-forward', '127.0.0.1', 8080);
    session.verdict = 'deny';
    expect(await host.connect('127.0.0.1', 8080)).toEqual({ rejected: true });
    expect(host.unforwarded).toEqual(['127.0.0.1:8080']);
    // A connection already in flight for the closed listener is refused without a judgement.
    session.verdict = 'allow';
    const asked = session.asked.length;
    expect(await host.connect('127.0.0.1', 8080)).toEqual({ rejected: true });
    expect(session.asked.length).toBe(asked);
    expect(agent.far).toHaveLength(0);
  });

  it.each<[Verdict]>([['pending'], ['throw']])('a connection %s (approval not given, or the decision not recordable) is refused; the listener stays', async (verdict) => {
    const { agent, host, session } = rig();
    await agent.request('tcpip-forward', '127.0.0.1', 8080);
    session.verdict = verdict;
    expect(await host.connect('127.0.0.1', 8080)).toEqual({ rejected: true });
    expect(host.unforwarded).toEqual([]);
    session.verdict = 'allow';
    expect('accepted' in (await host.connect('127.0.0.1', 8080))).toBe(true);
  });

  it('a request the policy denies opens nothing', async () => {
    const { agent, host, session } = rig();
    session.verdict = 'deny';
    expect(await agent.request('tcpip-forward', '0.0.0.0', 22)).toBe(false);
    expect(await host.connect('0.0.0.0', 22)).toEqual({ rejected: true });
  });

  it('a connection on a port no forward of this agent holds is refused', async () => {
    const { agent, host } = rig();
    await agent.request('tcpip-forward', '127.0.0.1', 8080);
    expect(await host.connect('127.0.0.1', 8081)).toEqual({ rejected: true });
    expect(await host.connect('127.0.0.2', 8080)).toEqual({ rejected: true });
  });

  it('the agent cancelling a forward closes the host listener; an unknown one is refused', async () => {
    const { agent, host } = rig();
    await agent.request('tcpip-forward', '127.0.0.1', 8080);
    expect(await agent.request('cancel-tcpip-forward', '127.0.0.1', 9999)).toBe(false);
    expect(await agent.request('cancel-tcpip-forward', '127.0.0.1', 8080)).toBe(true);
    expect(host.unforwarded).toEqual(['127.0.0.1:8080']);
    expect(await host.connect('127.0.0.1', 8080)).toEqual({ rejected: true });
  });

  it(`at most ${MAX_REMOTE_FORWARDS} listeners per connection`, async () => {
    const { agent } = rig();
    const answers = await Promise.all(Array.from({ length: MAX_REMOTE_FORWARDS + 2 }, (_, i) => agent.request('tcpip-forward', '127.0.0.1', 9000 + i)));
    expect(answers.filter((a) => a === false)).toHaveLength(2);
  });

  it('other global requests and streamlocal are refused', async () => {
    const { agent } = rig();
    expect(await agent.request('streamlocal-forward@openssh.com', '127.0.0.1', 1)).toBe(false);
  });
});

describe('forwarded channels are bounded (they are not session channels)', () => {
  it(`at most ${MAX_FORWARD_CHANNELS} local-forward channels open at once; a closed one frees its place`, async () => {
    const { agent, host, session } = rig();
    const opened = await Promise.all(Array.from({ length: MAX_FORWARD_CHANNELS + 3 }, () => agent.direct(5432)));
    const ok = opened.filter((o): o is Duplex => o !== false);
    expect(ok).toHaveLength(MAX_FORWARD_CHANNELS);
    // Refused before judging: no record for them.
    expect(session.asked).toHaveLength(MAX_FORWARD_CHANNELS);
    await carry(ok[0] as Duplex, host.far[0] as Duplex, 10);
    expect(session.completed[0]?.result).toEqual({});
    expect(session.notes).toEqual([expect.stringMatching(/^localForward 127\.0\.\*\.\*:5432 closed: 10 bytes in \d+ ms$/)]);
    expect(session.kinds).toEqual(['n']);
    expect(await agent.direct(5432)).not.toBe(false);
  });

  it('connections a remote forward hands back count against the same bound', async () => {
    const { agent, host } = rig();
    await agent.request('tcpip-forward', '127.0.0.1', 8080);
    const locals = await Promise.all(Array.from({ length: MAX_FORWARD_CHANNELS - 1 }, () => agent.direct(5432)));
    expect(locals.every((l) => l !== false)).toBe(true);
    expect('accepted' in (await host.connect('127.0.0.1', 8080))).toBe(true);
    expect(await host.connect('127.0.0.1', 8080)).toEqual({ rejected: true });
    expect(await agent.direct(5432)).toBe(false);
  });

  it('a local forward the policy denies is refused', async () => {
    const { agent, session } = rig();
    session.verdict = 'deny';
    expect(await agent.direct(5432)).toBe(false);
  });
});

describe('a forward is recorded before it carries a byte (round 12b review: its only record was at its end, its failure discarded)', () => {
  it('a local forward whose open cannot be recorded is refused, and the host\'s side is closed', async () => {
    const { agent, host, session } = rig();
    session.failRecords = true;
    expect(await agent.direct(5432)).toBe(false);
    await tick();
    expect(host.far).toHaveLength(1);
    expect(host.near[0]?.destroyed).toBe(true);
  });

  it('the local forward\'s record is written before the agent\'s channel is accepted', async () => {
    const { agent, session } = rig();
    const order: string[] = [];
    const complete = session.authorize.bind(session);
    session.authorize = async (command) => {
      const a = await complete(command);
      if (a.verdict !== 'allow') return a;
      return { ...a, complete: async (o: CommandOutcome) => { await tick(); order.push('recorded'); return a.complete(o); } };
    };
    const far = await agent.direct(5432);
    order.push('accepted');
    expect(far).not.toBe(false);
    expect(order).toEqual(['recorded', 'accepted']);
  });

  it('a remote forward whose listener cannot be recorded is refused and the host stops listening', async () => {
    const { agent, host, session } = rig();
    session.failRecords = true;
    expect(await agent.request('tcpip-forward', '127.0.0.1', 8080)).toBe(false);
    expect(host.unforwarded).toEqual(['127.0.0.1:8080']);
    session.failRecords = false;
    expect(await host.connect('127.0.0.1', 8080)).toEqual({ rejected: true });
  });

  it('a connection handed back whose open cannot be recorded is refused before the agent\'s channel carries it', async () => {
    const { agent, host, session } = rig();
    await agent.request('tcpip-forward', '127.0.0.1', 8080);
    session.failRecords = true;
    expect(await host.connect('127.0.0.1', 8080)).toEqual({ rejected: true });
    await tick();
    expect(agent.far).toHaveLength(1);
    expect(agent.near[0]?.destroyed).toBe(true);
  });
});
