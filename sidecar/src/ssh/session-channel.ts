// One SSH "session" channel of an agent: pty and window changes, then one exec, shell or
// subsystem request, judged under the policy in force (per request, not per connection). An
// allowed exec or shell runs on a channel of the upstream connection; what the host prints is
// masked before the agent sees it, and stdin and output are recorded as masked, timed frames.
// Agent forwarding, X11 and environment variables are refused (they would reach past the policy:
// the agent's key on the host, a display channel, LD_PRELOAD or PATH for the host's shell).
import type { Client, ClientChannel, PseudoTtyInfo, ServerChannel, Session as SshSession } from 'ssh2';
import { legacyScp, parseCommandLine, pathOperands } from '../../../core/policy/ssh-command.ts';
import type { Authorization, Session } from '../enforcement.ts';
import { errorMessage, type Logger } from '../log.ts';
import { sha256Hex } from '../enforcer.ts';
import { FrameRecorder } from './frames.ts';
import { openWithSlot } from './resolution-channel.ts';
import { channelIdOf } from './channel-id.ts';
import { agentSocketOf, drainGate, socketFull, type Drains, type SocketBacklog } from './agent-socket.ts';
import { outcomeOf, resolveArgumentPaths, resolveScpPaths, startSftpProxy, type ArgumentFacts, type PathFacts, type SftpContext } from './sftp.ts';
import { TerminalMasker } from './terminal-masker.ts';
import { ABANDONED_EXEC_MS, endResult, recordThenAnswer, type ChannelEnd, type HostExit } from './exec-end.ts';
import { watchHostSide, type HostEnd, type HostSide } from './host-side.ts';

/** Exit statuses the agent's ssh returns for the sidecar's own answers (docs/ssh.md). */
export const EXIT = { denied: 126, pending: 75, unavailable: 69 } as const;

/** Output of a quiet stream is shown after this long (the masker's held tail ends at a word). */
const IDLE_FLUSH_MS = 30;

export interface ChannelContext extends SftpContext {
  session: Session;
  logger: Logger;
  /** The most characters of one channel recorded as frames. */
  recordMaxChars: number;
  /** Aborted when the agent's connection has closed (its session channels are then closed too). */
  connectionClosed?: AbortSignal;
  /** Why the connection refuses every request (a session that could not be opened), if it does. */
  refusal: { message: string; exit: number } | undefined;
}

type Request = { kind: 'exec'; command: string } | { kind: 'shell' };
/** Legacy scp's direction (scp -t: the agent uploads; scp -f: the host sends), undefined for another exec or a shell. */
type Transfer = 'upload' | 'download' | undefined;
/** The agent's pty-req, as ssh2 hands it over. */
type PtyRequest = PseudoTtyInfo & { term?: string };
/** A terminal size change, applied to the host's channel and recorded. */
type Resize = (info: { cols: number; rows: number; width: number; height: number }) => void;

/** A request with what the host said of its paths, or that it was not asked (resolution skipped). */
type ResolvedRequest = Request & Partial<PathFacts> & Partial<ArgumentFacts> & { resolution?: 'skipped' };

function answerAndClose(stream: ServerChannel, message: string, status: number): void {
  stream.stderr.write(`guarita: ${message.replace(/\r?\n/g, ' ')}\r\n`);
  stream.exit(status);
  stream.end();
}

/**
 * Handles the requests of one session channel until it runs something or is refused. Resolves once
 * the agent's channel has closed and what ran on it has ended and been recorded: an exec the agent
 * left is still read from the host for a while (exec-end.ts), and the connection keeps counting it.
 */
export function handleSessionChannel(ch: SshSession, ctx: ChannelContext): Promise<void> {
  let pty: PtyRequest | undefined;
  let started = false;
  let work: Promise<void> = Promise.resolve();
  const resizes: PseudoTtyInfo[] = [];
  let resize: Resize | undefined;
  let signal: ((name: string) => void) | undefined;
  // ssh2 emits a session channel's 'close' only on the agent's CHANNEL_CLOSE, not when its connection
  // dies (the exec's own stream does close then): the connection's close counts as the channel's.
  const agentClosed = new Promise<void>((resolve) => {
    ch.once('close', () => resolve());
    if (ctx.connectionClosed?.aborted === true) resolve();
    ctx.connectionClosed?.addEventListener('abort', () => resolve(), { once: true });
  });
  ch.on('pty', (accept, _reject, info) => {
    pty = info;
    accept?.();
  });
  ch.on('window-change', (accept, _reject, info) => {
    accept?.();
    if (resize === undefined) resizes.push({ ...info, modes: {} });
    else resize(info);
  });
  ch.on('env', (_accept, reject) => reject?.());
  ch.on('auth-agent', (_accept, reject) => reject?.());
  ch.on('x11', (_accept, reject) => reject?.());
  const once = (run: () => Promise<void> | void): void => {
    if (started) return;
    started = true;
    work = Promise.resolve(run()).catch((err: unknown) => ctx.logger.error({ err: errorMessage(err) }, 'ssh channel request failed'));
  };
  const onStart = (r: Resize, s: (name: string) => void): void => { resize = r; signal = s; resizes.forEach(r); };
  ch.on('exec', (accept, _reject, info) => once(() => runRequest(accept(), { kind: 'exec', command: info.command }, ctx, pty, onStart)));
  ch.on('shell', (accept) => once(() => runRequest(accept(), { kind: 'shell' }, ctx, pty, onStart)));
  ch.on('signal', (accept, _reject, info) => {
    accept?.();
    signal?.(info.name);
  });
  // ssh2 answers the sftp subsystem here; other subsystems are refused (no rule can name them).
  ch.on('sftp', (accept) => once(() => startSftpProxy(accept(), ctx)));
  ch.on('subsystem', (_accept, reject) => reject());
  return agentClosed.then(() => work);
}

/**
 * The request to judge, with its paths as the host resolves them: legacy scp (scp -t/-f PATH)
 * judged like an SFTP path, another exec with its path arguments (a symlink on the host can lead
 * `cat /data/link` elsewhere). What the host cannot resolve is said (the policy fails closed on
 * it), shown masked. A command without path arguments does not ask the host.
 */
async function withPathsResolved(req: Request, ctx: ChannelContext): Promise<ResolvedRequest> {
  if (req.kind !== 'exec') return req;
  const parsed = parseCommandLine(req.command);
  if (!parsed.ok) return req;
  const masker = ctx.session.newMaskSession();
  const mask = (t: string): string => masker.maskText(t);
  const scp = legacyScp(parsed.words);
  const args = scp === undefined ? pathOperands(parsed.words) : scp.paths;
  if (args.length === 0) return req;
  // No rule that can apply to the request judges its paths: the host is not asked. The policy
  // deciding may be newer than the one consulted here; it then treats every operand as unresolved.
  if (ctx.session.sshResolutionMatters?.(req) === false) return { ...req, resolution: 'skipped' };
  let client: Client;
  try {
    client = await ctx.upstream();
  } catch (err) {
    // Unreachable: the paths are unresolved (still judged and recorded); a rule that does not
    // judge them lets the request through to the same error, answered as unavailable.
    return { ...req, ...unreachable(args, err, mask, scp === undefined ? parsed.words[0] : undefined) };
  }
  if (scp !== undefined) return { ...req, ...(await resolveScpPaths(client, scp, mask, ctx.resolveTimeoutMs)) };
  return { ...req, ...(await resolveArgumentPaths(client, args, mask, ctx.resolveTimeoutMs, parsed.words[0])) };
}

/** Every path unresolved, the host being unreachable; `program`: the command's program word, said unresolved when among them. */
function unreachable(args: readonly string[], err: unknown, mask: (t: string) => string, program: string | undefined): Partial<ArgumentFacts> {
  const unresolved = args.map((a) => ({ shown: mask(a), why: `the host could not be reached to resolve it (${errorMessage(err)})` }));
  return { unresolved, ...(program !== undefined && args.includes(program) ? { programUnresolved: true } : {}) };
}

/**
 * Judges the request with its paths as the host resolves them; answers the agent itself (and
 * returns undefined) when it may not run, also when an approval was waited for and the host now
 * resolves the paths otherwise than when the request was judged.
 */
async function judgeRequest(stream: ServerChannel, req: Request, ctx: ChannelContext, signal: AbortSignal): Promise<Extract<Authorization, { verdict: 'allow' }> | undefined> {
  let auth: Authorization;
  let judged: ResolvedRequest;
  let waited = false;
  try {
    judged = await withPathsResolved(req, ctx);
    auth = await ctx.session.authorize({ protocol: 'ssh', ssh: judged }, {
      signal, channel: channelIdOf(stream),
      onApprovalPending: (name, message) => {
        waited = true;
        if (stream.writable) stream.stderr.write(`guarita: ${message.replace(/\r?\n/g, ' ')} (ApprovalRequest ${name}); waiting for the decision\r\n`);
      },
    });
  } catch (err) {
    answerAndClose(stream, `the request cannot be recorded, so it is refused: ${errorMessage(err)}`, EXIT.unavailable);
    return undefined;
  }
  ctx.count(outcomeOf(auth));
  if (auth.verdict !== 'allow') {
    const answer = verdictExit(auth);
    answerAndClose(stream, answer.message, answer.exit);
    return undefined;
  }
  if (waited && await pathsMovedSince(judged, req, ctx)) {
    const why = 'the paths of the approved command changed while it waited for approval (a symlink on the host now leads elsewhere): run it again to have it judged where they lead now';
    try {
      await auth.complete({ result: { error: why }, masked: {}, durationMs: 0 });
      answerAndClose(stream, `denied: ${why}`, EXIT.denied);
    } catch (err) {
      answerAndClose(stream, `the request cannot be recorded, so it is refused: ${errorMessage(err)}`, EXIT.unavailable);
    }
    return undefined;
  }
  return auth;
}

/**
 * Whether the host now resolves the request's paths otherwise than when it was judged: an approval
 * wait can last minutes, and a link swapped meanwhile would lead the approved command elsewhere.
 */
async function pathsMovedSince(judged: ResolvedRequest, req: Request, ctx: ChannelContext): Promise<boolean> {
  if (req.kind !== 'exec') return false;
  // Skipped before and now needed (the policy changed during the wait) counts as moved: refused, run again.
  const facts = (r: ResolvedRequest): string => JSON.stringify([r.resolution ?? '', r.resolved ?? [], r.argumentPaths ?? {}, r.loginDirectory ?? '', (r.unresolved ?? []).map((u) => u.shown)]);
  return facts(await withPathsResolved(req, ctx)) !== facts(judged);
}

function verdictExit(auth: Exclude<Authorization, { verdict: 'allow' }>): { message: string; exit: number } {
  if (auth.verdict === 'pending') return { message: `${auth.message}; run the same command again once it is approved`, exit: EXIT.pending };
  const unavailable = auth.decision.code === 'Unavailable' || auth.decision.code === 'ApprovalUnavailable';
  return { message: auth.message, exit: unavailable ? EXIT.unavailable : EXIT.denied };
}

async function runRequest(stream: ServerChannel, req: Request, ctx: ChannelContext, pty: PseudoTtyInfo | undefined, onStart: (resize: Resize, signal: (name: string) => void) => void): Promise<void> {
  stream.pause();
  if (ctx.refusal !== undefined) {
    answerAndClose(stream, ctx.refusal.message, ctx.refusal.exit);
    return;
  }
  const session = ctx.session;
  const abandon = new AbortController();
  stream.once('close', () => abandon.abort());
  const auth = await judgeRequest(stream, req, ctx, abandon.signal);
  if (auth === undefined) return;
  const transfer = transferOf(req);
  let upstream: ClientChannel;
  let exit: HostExit;
  const hostPty = terminalFor(stream, req, pty, ctx);
  try {
    const client = await ctx.upstream();
    ({ channel: upstream, exit } = await openWithSlot(client, () => openUpstream(client, req, hostPty)));
  } catch (err) {
    await auth.complete({ result: { error: errorMessage(err) }, masked: {}, durationMs: 0 }).catch(() => undefined);
    answerAndClose(stream, errorMessage(err), EXIT.unavailable);
    return;
  }
  // From here to pump, no await: a command that ends at once may close the channel soon.
  const side = watchHostSide(upstream);
  onStart((info) => {
    if (hostPty !== undefined) upstream.setWindow(info.rows, info.cols, info.height, info.width);
    recorder.add('r', `${info.cols}x${info.rows}`);
  }, (name) => void signalRecorded(recorder, upstream, name));
  const started = performance.now();
  const commandSha256 = sha256Hex(req.kind === 'exec' ? req.command : 'shell');
  const recorder = new FrameRecorder({
    startedAt: started, maxChars: ctx.recordMaxChars,
    write: (frames) => session.recordStream?.(frames, { channel: channelIdOf(stream), commandSha256 }) ?? Promise.resolve(),
    onFailure: (err) => {
      ctx.logger.error({ err: errorMessage(err), sessionId: session.id }, 'cannot record the SSH stream: closing the channel');
      if (stream.writable) answerAndClose(stream, 'the session cannot be recorded, so it is closed', EXIT.unavailable);
      side.close();
    },
  });
  if (pty !== undefined) recorder.add('r', `${pty.cols}x${pty.rows}`);
  await pump(stream, upstream, { ctx, recorder, transfer, started, auth, exit, side });
}

/** Signal names the host is sent (RFC 4254 names without "SIG"); another is neither sent nor recorded. */
const SIGNAL_NAME = /^[A-Z][A-Z0-9]{0,15}$/;

/** The note recorded for the agent's signal `name`. */
export function signalNote(name: string): string {
  return `the agent sent the signal ${name} to the command`;
}

/**
 * The agent's signal reaches the host once it is recorded (a note on the channel's stream, written
 * first): a signal can end or change what the command does, and it reached the host unrecorded
 * (round 12b review). The note is a frame of its own kind (frames.ts), so output the command prints
 * cannot pass for it (round 12c review). A record that cannot be written closes the channel
 * (FrameRecorder's onFailure), and a channel past its notes' bound (MAX_NOTES) records none: either
 * way the signal is not sent.
 */
export function signalRecorded(recorder: FrameRecorder, host: Pick<ClientChannel, 'signal'>, name: string): Promise<void> {
  if (!SIGNAL_NAME.test(name)) return Promise.resolve();
  if (!recorder.note(signalNote(name))) return Promise.resolve();
  return recorder.flush().then(() => {
    if (!recorder.failed) host.signal(name);
  });
}

/** Legacy scp (scp -t/-f) is a file transfer judged as sftp write/read: its bytes are the scp protocol, passed unmasked. */
function transferOf(req: Request): Transfer {
  const parsed = req.kind === 'exec' ? parseCommandLine(req.command) : undefined;
  const scp = parsed?.ok === true ? legacyScp(parsed.words) : undefined;
  if (scp === undefined) return undefined;
  return scp.operation === 'write' ? 'upload' : 'download';
}

/**
 * The terminal the host's side gets. A shell gets the agent's (the shell itself was judged). An
 * exec gets it only when the policy allows this session an interactive shell outright: under a
 * terminal, an allowed program that pages its output (git log, journalctl, systemctl status)
 * opens less, whose `!command` runs anything unjudged (round 8 review). Otherwise the command runs
 * as from a pipe, where those programs do not page, and the agent is told why.
 */
function terminalFor(stream: ServerChannel, req: Request, pty: PtyRequest | undefined, ctx: ChannelContext): PtyRequest | undefined {
  if (pty === undefined || req.kind === 'shell' || ctx.session.sshAllowsShell?.() === true) return pty;
  if (stream.writable) stream.stderr.write('guarita: the command runs without a terminal: the policy allows no interactive shell, and a program that pages its output under a terminal would be one\r\n');
  return undefined;
}

/**
 * Opens the exec or shell on the host, listening for its exit from the start: a command that ends
 * at once (`true`) can have its exit-status, EOF and close arrive in the same read as the request's
 * success, and ssh2 emits 'exit' while parsing that read, before an awaiting caller resumes. A
 * listener attached later misses it and the agent's channel closes without an exit status (the
 * agent's ssh exits 255, saying nothing).
 */
function openUpstream(client: import('ssh2').Client, req: Request, pty: PtyRequest | undefined): Promise<{ channel: ClientChannel; exit: HostExit }> {
  const window = pty === undefined ? false : { rows: pty.rows, cols: pty.cols, height: pty.height, width: pty.width, term: pty.term ?? 'xterm', modes: pty.modes };
  return new Promise((resolve, reject) => {
    const done = (err: Error | undefined, ch: ClientChannel): void => {
      if (err !== undefined) {
        reject(new Error(`the SSH host refused the ${req.kind}: ${err.message}`));
        return;
      }
      const exit: HostExit = {};
      ch.on('exit', (code: number | null, signal?: string) => {
        if (code === null) exit.signal = signal ?? 'KILL';
        else exit.code = code;
      });
      resolve({ channel: ch, exit });
    };
    if (req.kind === 'exec') client.exec(req.command, window === false ? {} : { pty: window }, done);
    else client.shell(window, done);
  });
}

interface PumpOptions { ctx: ChannelContext; recorder: FrameRecorder; transfer: Transfer; started: number; auth: Extract<Authorization, { verdict: 'allow' }>; exit: HostExit; side: HostSide }

/** What backpressure uses of the host's streams. */
interface Pausable { pause(): unknown; resume(): unknown }

/**
 * Backpressure toward the agent: when either of the agent's streams (stdout, stderr) is full, both
 * of the host's are paused, and resumed once both have drained. ssh2 shares one channel window
 * between the host's stdout and stderr and opens it again as either stream is read: pausing only
 * the stream whose agent side was full left the other flowing, and a host writing to stderr for an
 * agent that did not read was queued in the sidecar without bound (round 10 review). Paused, each
 * of the host's streams buffers one window at most before ssh2 stops opening it. The agent's
 * socket counts as a third stream (agent-socket.ts): an agent can grant a window it never reads.
 */
export function agentBackpressure(agent: Drains & { stderr: Drains }, host: Pausable & { stderr: Pausable }, socket?: SocketBacklog): (target: 'o' | 'e', written: boolean) => void {
  const block = drainGate(() => { host.pause(); host.stderr.pause(); }, () => { host.resume(); host.stderr.resume(); });
  return (target, written) => {
    if (!written) block(target, target === 'o' ? agent : agent.stderr);
    // The agent's socket too (agent-socket.ts): an agent granting a huge window never fills a stream.
    if (socketFull(socket)) block('socket', socket!);
  };
}

/**
 * The channel's byte counts as recorded: `bytes`, what the record is of (a legacy scp upload's
 * data, which the agent sends, as an SFTP write records what it wrote; otherwise what the host
 * sent: output, or a download), and `bytesIn`, what the agent sent the host (stdin, an upload).
 * Before, an scp -t upload was recorded with the host's acknowledgements only (3 bytes).
 */
export function channelBytes(transfer: Transfer, bytesOut: number, bytesIn: number): { bytes: number; bytesIn: number } {
  return { bytes: transfer === 'upload' ? bytesIn : bytesOut, bytesIn };
}

/**
 * The agent left (its channel closed, or its connection went) while the host's side is open: the
 * command goes on on the host, so the host gets EOF, and its output and exit status are read, not
 * relayed, until the host's side closes or ABANDONED_EXEC_MS pass (then the sidecar closes it and,
 * after HOST_CLOSE_GRACE_MS at most, stops waiting for it: `gaveUp`, host-side.ts). Output read
 * meanwhile is masked and recorded as usual up to the channel's recording bound, then only counted;
 * none is held for the agent. The connection stays counted (index.ts) until then, no longer.
 */
function readAfterAgentLeft(host: ClientChannel, side: HostSide, state: { gaveUp: boolean }): () => void {
  host.end();
  // Backpressure may have paused the host for an agent that will never drain.
  host.resume();
  host.stderr.resume();
  const timer = setTimeout(() => {
    state.gaveUp = true;
    side.close();
  }, ABANDONED_EXEC_MS);
  timer.unref();
  return () => clearTimeout(timer);
}

/**
 * The host's side is over for the record: what it still buffers is read (output the agent was not
 * reading goes out before the end), or, when the sidecar stopped waiting for a close it asked for
 * (host-side.ts), nothing more is: the host's command may run on, and what it prints later belongs
 * to no record (the record says its outcome was not read).
 */
function hostEnded(host: ClientChannel, how: HostEnd, onOut: (c: Buffer) => void, onErr: (c: Buffer) => void): void {
  if (how === 'abandoned') {
    host.removeListener('data', onOut);
    host.stderr.removeListener('data', onErr);
    // Not read again: at most one channel window is buffered, then the host's writes wait.
    host.pause();
    host.stderr.pause();
    return;
  }
  for (let c = host.read() as Buffer | null; c !== null; c = host.read() as Buffer | null) onOut(c);
  for (let c = host.stderr.read() as Buffer | null; c !== null; c = host.stderr.read() as Buffer | null) onErr(c);
}

/** Copies both ways with backpressure, masking and recording, until the host's side closes (or is given up: host-side.ts); records, then answers the agent. */
function pump(agent: ServerChannel, host: ClientChannel, o: PumpOptions): Promise<void> {
  const { ctx, recorder } = o;
  const maskSession = ctx.session.newMaskSession();
  const out = new TerminalMasker(maskSession);
  const err = new TerminalMasker(maskSession);
  // What the agent types reaches the host as typed; its record is masked like the output.
  const typed = new TerminalMasker(ctx.session.newMaskSession());
  let bytesOut = 0;
  let bytesIn = 0;
  let idle: NodeJS.Timeout | undefined;
  const state = { left: false, gaveUp: false, hostClosed: false, revokedAt: undefined as string | undefined };
  const side = o.side;
  let stopReading = (): void => undefined;
  // The agent stopped reading: stop reading the host (its window fills, the host's process blocks).
  const written = agentBackpressure(agent, host, agentSocketOf(agent));
  const toAgent = (target: 'o' | 'e', data: string | Buffer): void => {
    if (state.left) return;
    written(target, target === 'o' ? agent.write(data) : agent.stderr.write(data));
  };
  const send = (target: 'o' | 'e', text: string): void => {
    if (text === '') return;
    recorder.add(target, text);
    toAgent(target, text);
  };
  const armIdle = (): void => {
    clearTimeout(idle);
    idle = setTimeout(() => {
      send('o', out.flushIdle());
      send('e', err.flushIdle());
      recorder.add('i', typed.flushIdle());
    }, IDLE_FLUSH_MS);
    idle.unref();
  };
  const fromHost = (target: 'o' | 'e', masker: TerminalMasker) => (chunk: Buffer): void => {
    bytesOut += chunk.length;
    // Past the recording bound with nobody to show it to: only counted (no masking work for output nobody sees).
    if (o.transfer !== undefined || (state.left && recorder.truncated)) {
      toAgent(target, chunk);
      return;
    }
    send(target, masker.push(chunk));
    armIdle();
  };
  const onOut = fromHost('o', out);
  const onErr = fromHost('e', err);
  host.on('data', onOut);
  host.stderr.on('data', onErr);
  agent.on('data', (chunk: Buffer) => {
    if (state.hostClosed) return;
    bytesIn += chunk.length;
    if (o.transfer === undefined) {
      recorder.add('i', typed.push(chunk));
      armIdle();
    }
    if (!host.write(chunk)) {
      agent.pause();
      host.once('drain', () => agent.resume());
    }
  });
  // The agent's EOF goes to the host as sent (sshd decides what it means for a pty).
  agent.on('end', () => host.end());
  agent.on('close', () => {
    if (state.hostClosed || state.left) return;
    state.left = true;
    stopReading = readAfterAgentLeft(host, side, state);
  });
  const exit = o.exit;
  // End after what is queued has gone out (close() alone would drop it), then close the channel.
  const closed = (): void => {
    if (!agent.writable) {
      agent.close();
      return;
    }
    const fallback = setTimeout(() => agent.close(), 2000);
    fallback.unref();
    agent.once('finish', () => { clearTimeout(fallback); agent.close(); });
    agent.end();
  };
  const revoked = (): void => {
    state.revokedAt = errorMessage(ctx.session.closed.reason);
    if (agent.writable) agent.stderr.write(`\r\nguarita: ${state.revokedAt}\r\n`);
    side.close();
  };
  ctx.session.closed.addEventListener('abort', revoked, { once: true });
  agent.resume();
  return new Promise((resolve) => {
    void side.ended.then((how: HostEnd) => {
      state.hostClosed = true;
      stopReading();
      hostEnded(host, how, onOut, onErr);
      clearTimeout(idle);
      ctx.session.closed.removeEventListener('abort', revoked);
      if (o.transfer === undefined) {
        send('o', out.end());
        send('e', err.end());
        recorder.add('i', typed.end());
      }
      void (async () => {
        // The record first (its stream records, then the command's, durable as the policy says), then the answer.
        const end: ChannelEnd = { exit, bytes: channelBytes(o.transfer, bytesOut, bytesIn), truncated: recorder.truncated, agentLeft: state.left, gaveUp: state.gaveUp, ...(state.revokedAt === undefined ? {} : { revoked: state.revokedAt }) };
        const failure = await recordThenAnswer(agent, end, async () => {
          await recorder.flush();
          await o.auth.complete({ result: endResult({ ...end, truncated: recorder.truncated }), masked: maskSession.counts(), durationMs: performance.now() - o.started });
        });
        if (failure !== undefined) ctx.logger.error({ err: errorMessage(failure), sessionId: ctx.session.id }, 'cannot record the end of an SSH channel: the agent is answered unavailable (69)');
        closed();
        ctx.logger.debug({ sessionId: ctx.session.id, bytesOut, bytesIn, agentLeft: state.left }, 'ssh channel closed');
        resolve();
      })();
    });
  });
}
