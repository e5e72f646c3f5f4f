// For the SSH channel tests: an in-process ssh2 server as the host, reached through its own TCP
// sockets (injected into ssh2, so a test can cork them and make an answer leave in one write),
// behind a sidecar that runs the real handleSessionChannel and connectUpstream with an allowing
// session. What the host answers is the test's.
import { createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import ssh2, { type Client, type Connection, type Session as HostSession } from 'ssh2';
import { compileMasker } from '../../core/masking/index.ts';
import type { Session } from '../src/enforcement.ts';
import { silentLogger } from '../src/log.ts';
import { generateHostKey, generateSshKeyPair, type HostKey } from '../src/ssh/host-key.ts';
import { parseKnownHosts } from '../src/ssh/known-hosts.ts';
import { handleSessionChannel, type ChannelContext } from '../src/ssh/session-channel.ts';
import { connectUpstream } from '../src/ssh/upstream.ts';

export interface ChannelRig {
  /** Where the agent connects (any user and password are accepted). */
  sidecarPort: number;
  sidecarPublicKey: string;
  close(): void;
}

/**
 * A channel test's session: purpose `p`, partial masking, nothing recorded; `over` says how it decides (authorize,
 * sshResolutionMatters).
 */
export function testSession(over: Pick<Session, 'authorize'> & Partial<Session>): Session {
  const masker = compileMasker({ style: 'partial' });
  return {
    id: 's-test', identity: {} as Session['identity'], purpose: 'p', policyName: 'p', target: 't', closed: new AbortController().signal,
    newMaskSession: () => masker.newSession(),
    recordingLimits: () => ({ maxRows: 0, maxBytes: 0 }),
    recordStream: () => Promise.resolve(),
    close: () => Promise.resolve(),
    ...over,
  };
}

/** A session that allows every command and records nothing. */
const allowingSession = (): Session => testSession({ authorize: () => Promise.resolve({ verdict: 'allow', decision: {} as never, complete: () => Promise.resolve() }) });

/** What a test may change in each connection's channel context. */
export interface RigOptions {
  /** The session of each agent connection (default: one that allows every request). */
  session?: () => Session;
  resolveTimeoutMs?: number;
}

function listen(server: NetServer | ssh2.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** Starts the sidecar in front of `host` (whose key is `hostKey`); each host-side socket goes through `onHostSocket` first. */
export async function startChannelRig(hostKey: HostKey, host: ssh2.Server, onHostSocket: (socket: Socket) => void = () => undefined, opts: RigOptions = {}): Promise<ChannelRig> {
  const clients: Client[] = [];
  const hostSockets = createServer((socket) => {
    onHostSocket(socket);
    host.injectSocket(socket);
  });
  const hostPort = await listen(hostSockets);
  const clientKey = generateSshKeyPair();
  const upstreamConfig = { host: '127.0.0.1', port: hostPort, username: 'root', privateKey: clientKey.private, knownHosts: parseKnownHosts(`[127.0.0.1]:${hostPort} ${hostKey.publicKey}\n`) };
  const sidecarKey = generateHostKey();
  const sidecar = new ssh2.Server({ hostKeys: [sidecarKey.privateKey] }, (conn: Connection) => {
    let upstream: Promise<Client> | undefined;
    conn.on('authentication', (auth) => auth.accept());
    conn.on('session', (accept) => {
      const ctx: ChannelContext = {
        session: opts.session?.() ?? allowingSession(), logger: silentLogger(), recordMaxChars: 10_000, refusal: undefined, count: () => undefined,
        ...(opts.resolveTimeoutMs === undefined ? {} : { resolveTimeoutMs: opts.resolveTimeoutMs }),
        upstream: () => (upstream ??= connectUpstream(upstreamConfig, { readyTimeoutMs: 10_000 }).then((c) => { clients.push(c); return c; })),
      };
      void handleSessionChannel(accept(), ctx);
    });
  });
  const sidecarPort = await listen(sidecar);
  return {
    sidecarPort,
    sidecarPublicKey: sidecarKey.publicKey,
    close: () => {
      for (const c of clients) c.end();
      sidecar.close();
      hostSockets.close();
      host.close();
    },
  };
}

/** An in-process ssh2 host with a new host key: it accepts any authentication and hands each session it accepts to `onSession`. */
export function fakeHost(onSession: (session: HostSession) => void): { hostKey: HostKey; host: ssh2.Server } {
  const hostKey = generateHostKey();
  const host = new ssh2.Server({ hostKeys: [hostKey.privateKey] }, (conn: Connection) => {
    conn.on('authentication', (auth) => auth.accept());
    conn.on('session', (accept) => onSession(accept()));
  });
  return { hostKey, host };
}

/** What an agent's exec ended with: its exit status (as ssh2 reports it) and stderr. */
export interface ExecResult {
  code: unknown;
  stderr: string;
}

/** An agent's SSH client, connected to the rig's sidecar at `port` (any user and password are accepted). */
export function connectAgent(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const agent = new ssh2.Client();
    agent.on('error', reject);
    agent.on('ready', () => resolve(agent));
    agent.connect({ host: '127.0.0.1', port, username: 'p', password: 'token', hostVerifier: () => true });
  });
}

/** Runs `command` on the agent's connection, stdin closed, output read and dropped. */
export function execOn(agent: Client, command: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => agent.exec(command, (err, stream) => {
    if (err !== undefined) return reject(err);
    let code: unknown;
    let stderr = '';
    stream.on('exit', (c: unknown) => { code = c; });
    stream.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    stream.resume();
    stream.on('close', () => resolve({ code, stderr }));
    stream.end();
  }));
}

/** Connects, runs `command`, disconnects. */
export async function execOnce(port: number, command: string): Promise<ExecResult> {
  const agent = await connectAgent(port);
  try {
    return await execOn(agent, command);
  } finally {
    agent.end();
  }
}
