// Port forwarding, judged per connection: local (ssh -L: the agent asks the host to connect
// somewhere, direct-tcpip) and remote (ssh -R: the host listens and hands connections back,
// tcpip-forward). Denied unless a rule names it (match.ssh.requests). Forwarded bytes are an
// arbitrary protocol: they are counted, not masked or recorded; docs/ssh.md says so. A forward's
// open is recorded before it carries a byte, and its end (the byte count) as a note after it.
//
// A remote forward's listener outlives the request that opened it, so each connection the host
// hands back is judged again under the policy in force and recorded with its byte count, as each
// local-forward connection is: a policy that no longer allows the forward refuses the connection
// and closes the host's listener (round 10 review: it kept handing connections to the agent,
// unrecorded, for the connection's life).
import type { Duplex } from 'node:stream';
import type { Client, ClientChannel, Connection, ServerChannel, TcpConnectionDetails } from 'ssh2';
import type { Authorization, Session } from '../enforcement.ts';
import { sshCommandText } from '../../../core/policy/ssh.ts';
import { sha256Hex } from '../enforcer.ts';
import { errorMessage, type Logger } from '../log.ts';
import { agentSocketOf, drainGate, socketFull } from './agent-socket.ts';
import { noteFrame } from './frames.ts';

interface ForwardContext { session: Session | undefined; logger: Logger; upstream(): Promise<Client> }

/**
 * Forwarded channels per agent connection, open or being judged (local forwards and connections a
 * remote forward hands back): each holds a host channel and a record, and they are not session
 * channels, so MAX_SESSION_CHANNELS did not bound them (round 10 review).
 */
export const MAX_FORWARD_CHANNELS = 32;
/** Remote-forward listeners per agent connection, open or being judged: each is a socket listening on the host. */
export const MAX_REMOTE_FORWARDS = 8;

type Allowed = Extract<Authorization, { verdict: 'allow' }>;
type Kind = 'localForward' | 'remoteForward';

/** One listener the host holds for the agent: where the agent asked (as judged), the port the host bound, on which connection. */
interface RemoteForward { bindAddr: string; bindPort: number; port: number; client: Client }

/** Pipes two streams both ways until either ends; resolves with the bytes that went through. */
/**
 * Pipes `from` into the agent's channel `to`, pausing `from` while the channel or the agent's socket
 * is full (agent-socket.ts: an agent that grants a huge window and never reads would otherwise have
 * the sidecar queue the whole connection).
 */
function pipeToAgent(from: Duplex, to: Duplex): void {
  const socket = agentSocketOf(to);
  const block = drainGate(() => from.pause(), () => from.resume());
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) block('channel', to);
    if (socketFull(socket)) block('socket', socket!);
  });
  from.once('end', () => to.end());
}

/** Relays an agent channel and a host channel both ways until either closes; resolves with the bytes relayed. */
function splice(agent: Duplex, host: Duplex): Promise<number> {
  return new Promise((resolve) => {
    let bytes = 0;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      agent.destroy();
      host.destroy();
      resolve(bytes);
    };
    agent.on('data', (c: Buffer) => { bytes += c.length; });
    host.on('data', (c: Buffer) => { bytes += c.length; });
    agent.pipe(host).on('error', finish);
    pipeToAgent(host, agent);
    agent.once('close', finish);
    host.once('close', finish);
    agent.on('error', finish);
    host.on('error', finish);
  });
}

/** The decision on a forward under the policy in force, or undefined when it cannot be recorded (refused then). */
async function judge(ctx: ForwardContext, kind: Kind, host: string, port: number): Promise<Authorization | undefined> {
  if (ctx.session === undefined) return undefined;
  try {
    return await ctx.session.authorize({ protocol: 'ssh', ssh: { kind, host, port } });
  } catch (err) {
    ctx.logger.warn({ err: errorMessage(err) }, 'port forwarding refused: cannot record the decision');
    return undefined;
  }
}

/**
 * Records a forward's open (its command record: the decision, and the host's refusal if it refused)
 * before the forward carries a byte: the record was written only at its end, and a failure there
 * was discarded (round 12b review), so a forward could carry a whole connection and leave nothing.
 * Rejects when it cannot be written: the forward is then refused.
 */
function recordOpen(auth: Allowed, result: { error?: string }, started: number): Promise<void> {
  return auth.complete({ result, masked: {}, durationMs: performance.now() - started });
}

/** The open's record failing after the host's side was opened: why the agent's forward is refused. */
function refusedOpen(ctx: ForwardContext, err: unknown): void {
  ctx.logger.warn({ err: errorMessage(err) }, 'port forwarding refused: cannot record its open');
}

/**
 * Records a forwarded connection's end with its byte count, as a note (a frame of its own kind, frames.ts) on the session's stream tied
 * to the open's command record (same command SHA-256). By then the connection has closed, so its
 * agent cannot be told; a failure is logged as an error, and the spool's health then refuses the
 * session's next requests.
 */
async function recordEnd(ctx: ForwardContext, kind: Kind, host: string, port: number, bytes: number, started: number): Promise<void> {
  const command = sshCommandText({ kind, host, port });
  try {
    // Shown masked, as the command record shows it (an address is personal data under some policies).
    const shown = ctx.session?.newMaskSession().maskText(command) ?? command;
    await ctx.session?.recordStream?.([noteFrame(0, `${shown} closed: ${bytes} bytes in ${Math.round(performance.now() - started)} ms`)], { commandSha256: sha256Hex(command) });
  } catch (err) {
    ctx.logger.error({ err: errorMessage(err), forward: command }, 'cannot record the end of a forwarded connection');
  }
}

function openOut(client: Client, info: { srcIP: string; srcPort: number; destIP: string; destPort: number }): Promise<ClientChannel> {
  return new Promise((resolve, reject) => client.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, ch) => (err ? reject(err) : resolve(ch))));
}

function openBack(conn: Connection, details: TcpConnectionDetails): Promise<ServerChannel> {
  return new Promise((resolve, reject) => conn.forwardOut(details.destIP, details.destPort, details.srcIP, details.srcPort, (err, ch) => (err ? reject(err) : resolve(ch))));
}

function listen(client: Client, bindAddr: string, bindPort: number): Promise<number> {
  return new Promise((resolve, reject) => client.forwardIn(bindAddr, bindPort, (err, p) => (err ? reject(err) : resolve(p))));
}

/** Wires local and remote forwarding requests of one agent connection. */
export function handleForwarding(conn: Connection, ctx: () => ForwardContext): void {
  let channels = 0;
  /** A place for one more forwarded channel; false (and logged) past the cap. */
  const take = (): boolean => {
    if (channels < MAX_FORWARD_CHANNELS) {
      channels++;
      return true;
    }
    ctx().logger.warn({ max: MAX_FORWARD_CHANNELS }, 'forwarded channel refused: too many open on this connection');
    return false;
  };
  const release = (): void => { channels--; };

  conn.on('tcpip', (accept, reject, info) => {
    if (!take()) return reject();
    void localForward(ctx(), accept, reject, info).finally(release);
  });
  conn.on('openssh.streamlocal', (_accept, reject) => reject());
  const remote = remoteForwarding(conn, ctx, { take, release });
  conn.on('request', (accept, reject, name, info) => {
    if (!('bindAddr' in info)) return reject?.();
    if (name === 'tcpip-forward') return void remote.open(info, accept, reject);
    if (name === 'cancel-tcpip-forward') return remote.cancel(info, accept, reject);
    reject?.();
  });
}

/** ssh -L: one judged, recorded connection from the host to the destination; resolves when it ends. */
async function localForward(c: ForwardContext, accept: () => ServerChannel, reject: () => void, info: { srcIP: string; srcPort: number; destIP: string; destPort: number }): Promise<void> {
  const auth = await judge(c, 'localForward', info.destIP, info.destPort);
  if (auth?.verdict !== 'allow') return reject();
  const started = performance.now();
  let host: ClientChannel;
  try {
    host = await openOut(await c.upstream(), info);
  } catch (err) {
    await recordOpen(auth, { error: errorMessage(err) }, started).catch((e: unknown) => refusedOpen(c, e));
    return reject();
  }
  try {
    await recordOpen(auth, {}, started);
  } catch (err) {
    host.destroy();
    refusedOpen(c, err);
    return reject();
  }
  const bytes = await splice(accept(), host);
  await recordEnd(c, 'localForward', info.destIP, info.destPort, bytes, started);
}

type Accept = ((port?: number) => void) | undefined;
type Reject = (() => void) | undefined;

/** ssh -R of one agent connection: the listeners it opened on the host and the connections they hand back. */
interface Slots { take: () => boolean; release: () => void }
interface RemoteForwarding {
  open: (info: { bindAddr: string; bindPort: number }, accept: Accept, reject: Reject) => Promise<void>;
  cancel: (info: { bindAddr: string; bindPort: number }, accept: Accept, reject: Reject) => void;
}

function remoteForwarding(conn: Connection, ctx: () => ForwardContext, slots: Slots): RemoteForwarding {
  const forwards = new Map<string, RemoteForward>();
  let requesting = 0;
  let dispatching = false;
  const keyOf = (addr: string, port: number): string => `${addr}:${port}`;

  /** Stops the host listening (the agent cancelled, or the policy no longer allows it). */
  const close = (f: RemoteForward, why: string): void => {
    if (forwards.get(keyOf(f.bindAddr, f.port)) !== f) return;
    forwards.delete(keyOf(f.bindAddr, f.port));
    ctx().logger.info({ bind: keyOf(f.bindAddr, f.port), why }, 'remote forward closed');
    try {
      // ssh2 keeps the listener under the port the host bound when 0 was asked.
      f.client.unforwardIn(f.bindAddr, f.port, () => undefined);
    } catch {
      // The host connection is gone, and its listener with it.
    }
  };

  /** One connection the host hands back: judged under the policy in force, then spliced and recorded. */
  const handBack = async (f: RemoteForward, details: TcpConnectionDetails, acceptHost: () => ClientChannel, rejectHost: () => void): Promise<void> => {
    const auth = await judge(ctx(), 'remoteForward', f.bindAddr, f.bindPort);
    if (auth?.verdict !== 'allow') {
      rejectHost();
      // Denied (not merely held for approval or unrecordable): the listener goes too.
      if (auth?.verdict === 'deny') close(f, auth.message);
      return;
    }
    const started = performance.now();
    let agent: ServerChannel;
    try {
      agent = await openBack(conn, details);
    } catch (err) {
      await recordOpen(auth, { error: errorMessage(err) }, started).catch((e: unknown) => refusedOpen(ctx(), e));
      return rejectHost();
    }
    try {
      await recordOpen(auth, {}, started);
    } catch (err) {
      agent.destroy();
      refusedOpen(ctx(), err);
      return rejectHost();
    }
    const bytes = await splice(agent, acceptHost());
    await recordEnd(ctx(), 'remoteForward', f.bindAddr, f.bindPort, bytes, started);
  };

  /** One dispatcher per host connection: ssh2 leaves a connection nobody accepts or rejects open. */
  const dispatch = (client: Client): void => {
    if (dispatching) return;
    dispatching = true;
    client.on('tcp connection', (details, acceptHost, rejectHost) => {
      const f = forwards.get(keyOf(details.destIP, details.destPort));
      if (f === undefined || !slots.take()) return rejectHost();
      void handBack(f, details, acceptHost, rejectHost).finally(slots.release);
    });
  };

  const open = async (info: { bindAddr: string; bindPort: number }, accept: Accept, reject: Reject): Promise<void> => {
    if (forwards.size + requesting >= MAX_REMOTE_FORWARDS) {
      ctx().logger.warn({ max: MAX_REMOTE_FORWARDS }, 'remote forward refused: too many on this connection');
      return reject?.();
    }
    requesting++;
    try {
      await openRemote(info, accept, reject);
    } finally {
      requesting--;
    }
  };

  const openRemote = async (info: { bindAddr: string; bindPort: number }, accept: Accept, reject: Reject): Promise<void> => {
    const c = ctx();
    const auth = await judge(c, 'remoteForward', info.bindAddr, info.bindPort);
    if (auth?.verdict !== 'allow') return reject?.();
    const started = performance.now();
    let listening: RemoteForward;
    try {
      const client = await c.upstream();
      dispatch(client);
      const port = await listen(client, info.bindAddr, info.bindPort);
      listening = { bindAddr: info.bindAddr, bindPort: info.bindPort, port, client };
    } catch (err) {
      await recordOpen(auth, { error: errorMessage(err) }, started).catch((e: unknown) => refusedOpen(c, e));
      return reject?.();
    }
    forwards.set(keyOf(info.bindAddr, listening.port), listening);
    try {
      // The listener's own record, before the agent is told it listens; each connection it hands back has its own.
      await recordOpen(auth, {}, started);
    } catch (err) {
      close(listening, 'its open could not be recorded');
      refusedOpen(c, err);
      return reject?.();
    }
    accept?.(listening.port);
  };

  const cancel = (info: { bindAddr: string; bindPort: number }, accept: Accept, reject: Reject): void => {
    const f = forwards.get(keyOf(info.bindAddr, info.bindPort));
    if (f === undefined) return reject?.();
    close(f, 'cancelled by the agent');
    accept?.();
  };

  return { open, cancel };
}
