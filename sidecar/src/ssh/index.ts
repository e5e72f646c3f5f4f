// The SSH listener of one target: an ssh2 server towards the agents on 127.0.0.1:<listenPort>,
// with a host key generated at start and published for the agents' known_hosts. Per connection:
// the agent authenticates with its token as the password (or keyboard-interactive answer), and the
// SSH user name is the declared purpose ("_" takes it from the token's purposeClaim); the enforcer
// opens a session (identity verified, subject and purpose checked); every channel request is then
// judged under the policy in force. One upstream connection per agent connection, opened on first
// use with the target's key and verified against its known_hosts.
import type { AuthenticationType, Client, Connection } from 'ssh2';
import ssh2 from 'ssh2';
import type { SidecarConfig, TargetConfig } from '../config.ts';
import type { Session } from '../enforcement.ts';
import type { SidecarEnforcer } from '../enforcer.ts';
import { errorMessage, type Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { handleForwarding } from './forward.ts';
import { generateHostKey, publishHostKey } from './host-key.ts';
import { answerText, partPrompt, tokenComplete } from './token-parts.ts';
import { EXIT, handleSessionChannel, type ChannelContext } from './session-channel.ts';
import { connectUpstream, sshUpstream } from './upstream.ts';

/** Time an agent has from connecting to being authenticated (OpenSSH's LoginGraceTime is 120 s). */
const AUTH_TIMEOUT_MS = 30_000;
/** Failed credentials per connection before it is closed. */
const MAX_AUTH_FAILURES = 3;
/**
 * Session channels open at once per agent connection (OpenSSH's MaxSessions is 10): each holds a
 * channel to the host, masking state and a recorder, so a client opening thousands is refused
 * past this instead of making the sidecar hold them (issue 23 review).
 */
export const MAX_SESSION_CHANNELS = 32;
const UPSTREAM_READY_TIMEOUT_MS = 20_000;
/** How long shutdown waits for the channels still read for agents that left to be recorded (above host-side.ts's HOST_CLOSE_GRACE_MS). */
const STOP_WAIT_MS = 3_000;
/**
 * How long an upstream connection ended by the sidecar (its agent gone, its channels recorded) is
 * given to close before its socket is destroyed: sshd closes on the DISCONNECT at once, whatever
 * its commands still do (round 12c review).
 */
const UPSTREAM_END_GRACE_MS = 2_000;

interface Ctx { config: SidecarConfig; enforcer: SidecarEnforcer; logger: Logger; metrics: Metrics }

/** What a listener holds now (tests assert these are back to 0 after abandoned commands). */
export interface SshHeld {
  /** Agent connections counted against GUARITA_SSH_MAX_CONNECTIONS (an exec its agent left counts until it is recorded). */
  connections: number;
  /** Session channels counted against MAX_SESSION_CHANNELS, over every connection. */
  channels: number;
  /** Upstream connections to the host not yet closed. */
  upstreams: number;
}

export interface SshListener { target: string; port: number; close(drainMs: number): Promise<void>; held(): SshHeld }

/** The purpose an SSH user name declares: the name itself, or none ("_", empty) to use the token's purposeClaim. */
export function purposeFromUser(user: string): string | undefined {
  return user === '' || user === '_' ? undefined : user;
}

export async function startSshTarget(t: TargetConfig, ctx: Ctx): Promise<SshListener> {
  const logger = ctx.logger.child({ listener: 'ssh', target: t.target });
  const hostKey = generateHostKey();
  /** Open agent connections, each with how to stop it (what ran on it is then recorded). */
  const connections = new Map<Connection, () => Promise<void>>();
  const held = { channels: 0, upstreams: 0 };
  const server = new ssh2.Server({ hostKeys: [hostKey.privateKey], ident: 'Guarita' }, (conn, info) => {
    if (connections.size >= ctx.config.sshMaxConnections) {
      logger.warn({ max: ctx.config.sshMaxConnections }, 'ssh connection refused: too many open connections');
      conn.end();
      return;
    }
    // Counted until its channels have ended on the host too (an exec its agent left is read for a while).
    connections.set(conn, handleConnection(conn, { connection: `${info.ip}:${info.port}`, address: info.ip, held }, t, ctx, logger, () => connections.delete(conn)));
  });
  server.on('error', (err: Error) => logger.error({ err: errorMessage(err) }, 'ssh listener error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(t.listenPort, ctx.config.bindHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;
  const dir = publishHostKey(ctx.config.sshDir, t.target, port, hostKey.publicKey);
  logger.info({ port, hostKey: hostKey.publicKey, published: dir }, 'ssh listener ready');
  return {
    target: t.target, port,
    held: () => ({ connections: connections.size, ...held }),
    close: async (drainMs) => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const deadline = setTimeout(() => { for (const c of connections.keys()) c.end(); }, drainMs);
      deadline.unref();
      // Shutdown closes the sessions (the enforcer's closeAll), which ends their connections.
      await Promise.race([closed, new Promise((r) => setTimeout(r, drainMs).unref())]);
      for (const c of connections.keys()) c.end();
      clearTimeout(deadline);
      // Channels still read for agents that left: their sessions close (the host's side is closed
      // and recorded as such) before the enforcer's closeAll and the spool's close.
      await Promise.race([Promise.all([...connections.values()].map((stop) => stop())), new Promise((r) => setTimeout(r, STOP_WAIT_MS).unref())]);
    },
  };
}

/**
 * Ends an upstream connection whose agent is gone and whose channels are recorded: sshd then ends
 * the connection's sessions, its remote-forward listeners with them. What becomes of a command the
 * sidecar stopped waiting for is sshd's: one with a terminal gets SIGHUP as its pty closes; one
 * without keeps running (sshd does not signal it) until it ends, writes to its closed output
 * (SIGPIPE) or reads its closed input (docs/ssh.md).
 */
function endUpstream(client: Client): void {
  client.end();
  setTimeout(() => client.destroy(), UPSTREAM_END_GRACE_MS).unref();
}

/**
 * One agent connection, until it has closed and its channels have ended on the host (`settled`).
 * A channel counts against MAX_SESSION_CHANNELS, and the connection against the listener's bound,
 * until what ran on it has ended and been recorded: an exec its agent left is still read from the
 * host (exec-end.ts, ABANDONED_EXEC_MS), and the upstream connection and the session stay open
 * for it meanwhile, so that many channels abandoned at once stay within those bounds. No longer than
 * that bound and HOST_CLOSE_GRACE_MS: a host command that ignores EOF is not waited for past them
 * (host-side.ts, round 12c review).
 */
function handleConnection(conn: Connection, from: { connection: string; address: string; held: Omit<SshHeld, 'connections'> }, t: TargetConfig, ctx: Ctx, logger: Logger, settled: () => void): () => Promise<void> {
  const { connection, address, held } = from;
  let session: Session | undefined;
  let refusal: { message: string; exit: number } | undefined;
  let upstream: Promise<Client> | undefined;
  let failures = 0;
  let authenticating = false;
  let channels = 0;
  let ending = false;
  const endWhenIdle = (): void => {
    ending = true;
    if (channels === 0) conn.end();
    else setTimeout(() => conn.end(), 3000).unref();
  };
  /** The agent's connection has closed (its channels may still be ending on the host). */
  let gone = false;
  const connectionClosed = new AbortController();
  let released = false;
  /** The connection and its channels are over: the host connection and the session end. */
  const release = (): void => {
    if (released) return;
    released = true;
    void upstream?.then(endUpstream, () => undefined);
    void session?.close('the agent disconnected');
    settled();
    markStopped();
  };
  let markStopped = (): void => undefined;
  const stopped = new Promise<void>((resolve) => { markStopped = resolve; });
  const log = logger.child({ connection });
  // Garbage instead of a banner, a protocol error, a reset: the connection ends, the listener serves on.
  conn.on('error', (err: Error) => log.debug({ err: errorMessage(err) }, 'ssh connection error'));
  const authTimer = setTimeout(() => {
    log.info('ssh connection closed: not authenticated in time');
    conn.end();
  }, AUTH_TIMEOUT_MS);
  authTimer.unref();

  const openUpstream = (): Promise<Client> => {
    upstream ??= (async () => {
      const available = ctx.enforcer.available(t);
      if (!available.ok) throw new Error(available.message);
      const client = await connectUpstream(sshUpstream(available.target.policy, ctx.config.credentialsDir), { readyTimeoutMs: UPSTREAM_READY_TIMEOUT_MS });
      held.upstreams++;
      client.once('close', () => { held.upstreams--; });
      client.on('close', () => {
        // The host went away: the agent's connection goes with it (its channels are gone).
        conn.end();
      });
      return client;
    })();
    upstream.catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'ssh upstream unavailable'));
    return upstream;
  };

  const verify = async (credential: string, user: string): Promise<boolean> => {
    const purpose = purposeFromUser(user);
    const opened = await ctx.enforcer.openSession({ target: t.target, credential, ...(purpose === undefined ? {} : { purpose }), client: { remoteAddress: address, connection, application: 'ssh' } });
    if (opened.ok) {
      session = opened.session;
      const s = opened.session;
      // The channels say why first (revocation, expiry, shutdown), then the connection ends.
      s.closed.addEventListener('abort', () => endWhenIdle(), { once: true });
      return true;
    }
    ctx.metrics.requests.inc({ target: t.target, protocol: 'ssh', outcome: opened.code === 'Unauthenticated' ? 'unauthenticated' : opened.code === 'Forbidden' ? 'forbidden' : 'unavailable' });
    if (opened.code === 'Unauthenticated') return false;
    // Authenticated but refused (not a subject, revoked, unknown purpose) or the target is not
    // available: the agent is let in so that every request gets the reason on stderr, with a
    // distinct exit status; nothing reaches the host.
    const hint = opened.code === 'Forbidden' && /purpose/i.test(opened.message) ? ' (the SSH user name is the declared purpose: ssh PURPOSE@host)' : '';
    refusal = { message: `${opened.code === 'Unavailable' ? 'unavailable' : 'refused'}: ${opened.message}${hint}`, exit: opened.code === 'Unavailable' ? EXIT.unavailable : EXIT.denied };
    return true;
  };

  conn.on('authentication', (auth) => {
    const methods: AuthenticationType[] = ['password', 'keyboard-interactive'];
    if (session !== undefined || refusal !== undefined || authenticating) return auth.reject(methods);
    const decide = (credential: string): void => {
      authenticating = true;
      verify(credential.trim(), auth.username).then((ok) => {
        authenticating = false;
        if (ok) return auth.accept();
        failures++;
        if (failures >= MAX_AUTH_FAILURES) {
          auth.reject(methods);
          conn.end();
          return;
        }
        auth.reject(methods);
      }, (err: unknown) => {
        authenticating = false;
        log.error({ err: errorMessage(err) }, 'ssh authentication failed');
        auth.reject(methods);
      });
    };
    if (auth.method === 'password') return decide(auth.password);
    if (auth.method === 'keyboard-interactive') {
      // The token in parts (token-parts.ts): OpenSSH sends at most 1023 bytes of one answer. No
      // title or instructions: OpenSSH prints them on stderr of every connection.
      const parts: string[] = [];
      const ask = (n: number): void => auth.prompt([{ prompt: partPrompt(n), echo: false }], (answers: string[] | Error) => {
        if (!Array.isArray(answers)) return;
        parts.push(answerText(answers[0]));
        if (tokenComplete(parts)) decide(parts.join(''));
        else ask(n + 1);
      });
      ask(1);
      return;
    }
    auth.reject(methods);
  });
  conn.on('ready', () => clearTimeout(authTimer));
  const channelContext = (): ChannelContext => ({
    session: session as Session, logger: log, recordMaxChars: ctx.config.sshRecordMaxChars, refusal, upstream: openUpstream, connectionClosed: connectionClosed.signal,
    count: (outcome) => ctx.metrics.requests.inc({ target: t.target, protocol: 'ssh', outcome }),
  });
  conn.on('session', (accept, reject) => {
    if (ending || channels >= MAX_SESSION_CHANNELS) return reject();
    const ch = accept();
    channels++;
    held.channels++;
    void handleSessionChannel(ch, channelContext()).finally(() => {
      channels--;
      held.channels--;
      if (ending && channels === 0) conn.end();
      if (gone && channels === 0) release();
    });
  });
  handleForwarding(conn, () => ({ session: refusal === undefined ? session : undefined, logger: log, upstream: openUpstream }));
  conn.on('close', () => {
    clearTimeout(authTimer);
    gone = true;
    connectionClosed.abort();
    if (channels === 0) release();
  });
  // Shutdown: the session closes, which closes what still runs on the host and records it.
  return () => {
    void session?.close('the Guarita sidecar is shutting down');
    conn.end();
    return stopped;
  };
}
