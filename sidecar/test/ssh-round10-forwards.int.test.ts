// Round 10 fixes to port forwarding, end to end (the real sidecar process and operator, Debian
// OpenSSH sshd as the host, a raw ssh2 client as the agent): forwarded channels are bounded per
// agent connection as session channels are (the review saw direct-tcpip channels escape
// MAX_SESSION_CHANNELS), each local-forward connection is recorded with its bytes, and an agent
// that cancels its remote forward (cancel-tcpip-forward) stops the host listening. Finding 4 itself
// (remote-forwarded connections recorded and judged again) is in ssh-round10-attacks.int.test.ts.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client, ClientChannel } from 'ssh2';
import { freePorts } from '../../e2e/harness/ports.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { MAX_FORWARD_CHANNELS } from '../src/ssh/forward.ts';
import { SshScenario, forwardIn } from './ssh-scenario.ts';
import { fetchExport } from './support.ts';

jest.setTimeout(180_000);

const ssh = new SshScenario('sshfw', 'tunnel-host');
const OPS = 'ops';

let work: string;
/** A TCP server on the host side that holds every connection open until the test ends. */
let holder: Server;
let holderPort: number;
const held: Socket[] = [];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), `guarita-ssh-fw-${ssh.id}-`));
  holder = createServer((s) => { held.push(s); s.on('data', (d: Buffer) => s.write(d)); s.on('error', () => undefined); });
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
  holderPort = (holder.address() as { port: number }).port;
  await ssh.start(work, {
    purposes: [OPS],
    rules: [{ name: 'tunnels', match: { ssh: { requests: ['localForward', 'remoteForward'], destinations: ['127.0.0.1:*'] } }, action: 'allow' }],
  });
}, 240_000);

afterAll(async () => {
  for (const s of held) s.destroy();
  await new Promise((r) => holder?.close(r));
  await ssh.stop();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

const connectAgent = (): Promise<Client> => ssh.connectAgent(OPS);

/** ssh -L: a channel through the host to 127.0.0.1:`port`, or the refusal. */
function forwardOut(c: Client, port: number): Promise<ClientChannel | Error> {
  return new Promise((resolve) => c.forwardOut('127.0.0.1', 0, '127.0.0.1', port, (err, ch) => resolve(err ?? ch)));
}

/** Whether something accepts TCP connections on the host's 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

describe('forwarded channels of one agent connection are bounded', () => {
  it(`at most ${MAX_FORWARD_CHANNELS} local-forward channels open at once; one closed frees its place`, async () => {
    const c = await connectAgent();
    try {
      const opened = await Promise.all(Array.from({ length: MAX_FORWARD_CHANNELS + 8 }, () => forwardOut(c, holderPort)));
      const channels = opened.filter((o): o is ClientChannel => !(o instanceof Error));
      expect(channels).toHaveLength(MAX_FORWARD_CHANNELS);
      // Each one reaches the host's side (the holder echoes).
      const first = channels[0] as ClientChannel;
      const echoed = new Promise<string>((r) => first.once('data', (d: Buffer) => r(d.toString('utf8'))));
      first.write('ping');
      expect(await echoed).toBe('ping');
      first.close();
      await eventually('a place freed by the closed channel', async () => {
        const again = await forwardOut(c, holderPort);
        if (again instanceof Error) return undefined;
        again.close();
        return true;
      }, 20_000, 200);
    } finally {
      c.end();
    }
  });

  it('each local-forward connection is recorded with its bytes', async () => {
    const c = await connectAgent();
    try {
      const ch = await forwardOut(c, holderPort);
      if (ch instanceof Error) throw ch;
      const got = new Promise<void>((r) => { let n = 0; ch.on('data', (d: Buffer) => { n += d.length; if (n >= 5000) r(); }); });
      ch.write(Buffer.alloc(5000, 0x61));
      await got;
      ch.close();
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      c.end();
    }
    // Round 12b: the open is a command record written before the forward carries a byte; the bytes
    // both ways are the note of its end on the session's stream, tied by the command's SHA-256.
    await eventually('a localForward record, and the note of its end with the bytes both ways', async () => {
      const exported = await fetchExport(ssh.op.url, ssh.ns);
      const open = exported.records.find((x) => x.type === 'command' && (x.command ?? '').startsWith('localForward ') && x.decision === 'allow');
      if (open === undefined) return undefined;
      return exported.records.find((x) => x.type === 'stream' && x.commandSha256 === open.commandSha256
        && (x.frames ?? []).some((f) => f.ch === 'n' && Number(/closed: (\d+) bytes/.exec(f.data)?.[1] ?? 0) >= 10_000)); // a note (round 12c)
    }, 30_000, 500);
  });
});

describe('remote forwards end when the agent cancels them', () => {
  it('cancel-tcpip-forward stops the host listening; another cancel of it is refused', async () => {
    const [port = 0] = await freePorts(1);
    const c = await connectAgent();
    c.on('tcp connection', (_i, accept) => accept().resume());
    try {
      expect(await forwardIn(c, port)).toBeUndefined();
      expect(await listening(port)).toBe(true);
      expect(await new Promise((r) => c.unforwardIn('127.0.0.1', port, (err) => r(err ?? undefined)))).toBeUndefined();
      await eventually('the host no longer listens', async () => ((await listening(port)) ? undefined : true), 10_000, 200);
      expect(await new Promise((r) => c.unforwardIn('127.0.0.1', port, (err) => r(err ?? undefined)))).toBeInstanceOf(Error);
    } finally {
      c.end();
    }
  });
});
