// The SFTP subsystem between the agent (ssh2's SFTP server side) and the host (ssh2's SFTP
// client): every operation that names a path is judged (read, write, remove, list, stat, rename,
// mkdir, rmdir, setstat, symlink, readlink) on the path as sent, made absolute against the login
// directory and normalized, and on the path as the host resolves it (host-paths.ts: realpath,
// symlinks followed; a path the host cannot resolve is said to be unresolved, and the policy
// fails closed on it), then run on the host and recorded with its path and size. Reads and writes use
// handles the sidecar issued for a judged open; the host's handles never reach the agent. File
// contents are not masked (offsets and sizes must stay exact): the rules decide which files an
// agent may read.
import { posix } from 'node:path';
import ssh2, { type Client, type FileEntry, type InputAttributes, type SFTPWrapper, type Stats } from 'ssh2';
import { sshCommandText, type UnresolvedPath } from '../../../core/policy/ssh.ts';
import type { SftpOperation } from '../../../crds/types.ts';
import type { Authorization, Session } from '../enforcement.ts';
import { sha256Hex } from '../enforcer.ts';
import { errorMessage, type Logger } from '../log.ts';
import { channelIdOf } from './channel-id.ts';
import { noteFrame } from './frames.ts';
import { isDirectory, resolveFollowing, resolveName, type HostPathCalls, type Resolution, type ResolveOptions } from './host-paths.ts';
import { openSftp, openWithSlot, resolutionChannelOf } from './resolution-channel.ts';
import { boundSftpIntake, MAX_READ, type SftpInternals } from './sftp-intake.ts';
import { absoluteSftpPath, namedPaths, namesLoginDirectory, type NamedPath } from './sftp-paths.ts';

// ssh2 is CommonJS: named exports come from its default export.
const { OPEN_MODE, STATUS_CODE } = ssh2.utils.sftp;

/** Open handles per SFTP session; more are refused (each holds a host handle). */
const MAX_HANDLES = 256;
/** How long the host's answer to one path resolution is waited for; past it the path is unresolved. */
const RESOLVE_TIMEOUT_MS = 10_000;

export interface SftpContext {
  session: Session;
  logger: Logger;
  /** The connection's upstream SSH client (opened on first use). */
  upstream(): Promise<Client>;
  refusal: { message: string; exit: number } | undefined;
  /** Counts a judged request by outcome (guarita_sidecar_requests_total, protocol ssh). */
  count(outcome: 'allowed' | 'denied' | 'pending' | 'unavailable'): void;
  /** How long one path resolution on the host is waited for (RESOLVE_TIMEOUT_MS by default). */
  resolveTimeoutMs?: number;
}

/** The metrics outcome of an authorization. */
export function outcomeOf(auth: Authorization): 'allowed' | 'denied' | 'pending' | 'unavailable' {
  if (auth.verdict === 'allow') return 'allowed';
  if (auth.verdict === 'pending') return 'pending';
  return auth.decision.code === 'Unavailable' || auth.decision.code === 'ApprovalUnavailable' ? 'unavailable' : 'denied';
}

/**
 * `judgedUnder`: the policy mark (Session.policyMark) the open was judged under; `operations`:
 * what the open was allowed as (read, write or both; list for a directory), judged again under a
 * newer policy before the handle is used (`recheck`: that judgement while it runs).
 */
interface OpenHandle {
  host: Buffer; kind: 'file' | 'dir'; bytes: number; started: number; path: string; writable: boolean;
  /** A file handle's open, as recorded (its command record's SHA-256): the note of its end goes with it. */
  opened?: { commandSha256: string };
  judgedUnder: object | undefined; operations: SftpOperation[]; recheck?: Promise<string | undefined>;
}

type Allowed = Extract<Authorization, { verdict: 'allow' }>;

/** An operation the policy allowed, on the host's SFTP channel, with its paths as sent and its command's SHA-256 (as recorded). */
interface Judged { allowed: Allowed; sftp: SFTPWrapper; paths: string[]; commandSha256: string }

/** The host's SFTP channel behind the agent's, the login directory it started in, and whether the host has closed it. */
interface HostSftp { sftp: SFTPWrapper; home: string; closed: () => boolean }

function statusOf(err: unknown): number {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : STATUS_CODE.FAILURE;
}

/** What the policy is told about the paths of a request: where the host resolves them, and which it could not. */
export interface PathFacts { resolved: string[]; unresolved: UnresolvedPath[] }

/** Resolves each named path on the host; `mask` shows a path in the policy's reason (it may carry personal data). */
async function pathFacts(sftp: SFTPWrapper, paths: readonly NamedPath[], mask: (text: string) => string, o: ResolveOptions): Promise<PathFacts> {
  const facts: PathFacts = { resolved: [], unresolved: [] };
  for (const p of paths) {
    const r = p.follows ? await resolveFollowing(sftp, p.ask, o) : await resolveName(sftp, p.ask, o);
    if ('why' in r) facts.unresolved.push({ shown: mask(p.sent), why: r.why });
    else facts.resolved.push(...r.real);
  }
  return facts;
}

/** Legacy scp's transfer (core/policy/ssh-command.ts legacyScp). */
interface LegacyScp { operation: 'read' | 'write'; paths: string[]; recursive: boolean; toDirectory: boolean }

const BELOW = 'legacy scp reads or writes the files below it under names only the transfer carries (scp without -O judges each file)';

/**
 * Where the host resolves legacy scp's paths (scp -t/-f PATH, relative to the login directory),
 * over the connection's resolution channel (resolution-channel.ts): judged like SFTP paths, so a symlink under an allowed
 * directory does not lead scp -O elsewhere. What cannot be resolved is unresolved (the policy then
 * fails closed), and so are the names below a directory target, a -d target or a -r transfer.
 */
export async function resolveScpPaths(client: Client, scp: LegacyScp, mask: (text: string) => string, timeoutMs = RESOLVE_TIMEOUT_MS): Promise<PathFacts> {
  const channel = await resolutionChannelOf(client).acquire(timeoutMs);
  if ('why' in channel) return { resolved: [], unresolved: scp.paths.map((p) => ({ shown: mask(p), why: channel.why })) };
  const home = scp.paths.every((p) => p.startsWith('/')) ? undefined : await channel.loginDirectory();
  const facts: PathFacts = { resolved: [], unresolved: [] };
  for (const p of scp.paths) {
    const r = await scpPathFacts(channel.calls, scp, p, home, channel.options);
    facts.resolved.push(...r.resolved);
    facts.unresolved.push(...r.whys.map((why) => ({ shown: mask(p), why })));
  }
  return facts;
}

/** A legacy scp path made absolute against the login directory, or why it cannot be. */
function scpAbsolute(p: string, home: Resolution | undefined): { abs: string } | { why: string } {
  if (p.startsWith('/')) return { abs: p };
  if (home === undefined) return { why: 'the host did not tell its login directory' };
  return 'why' in home ? { why: `the host did not tell its login directory: ${home.why}` } : { abs: `${home.real[0] ?? ''}/${p}` };
}

/** One legacy scp path: where the host resolves it, and why what it reaches is not known, if it is not. */
async function scpPathFacts(sftp: HostPathCalls, scp: LegacyScp, p: string, home: Resolution | undefined, o: ResolveOptions): Promise<{ resolved: string[]; whys: string[] }> {
  const a = scpAbsolute(p, home);
  if ('why' in a) return { resolved: [], whys: [a.why] };
  const r = await resolveFollowing(sftp, a.abs, o);
  if ('why' in r) return { resolved: [], whys: [r.why] };
  if (scp.recursive || scp.toDirectory) return { resolved: r.real, whys: [BELOW] };
  if (scp.operation === 'read') return { resolved: r.real, whys: [] };
  // A directory target: the sink writes a file below it, named by the transfer, not the command.
  const dir = await isDirectory(sftp, r.real[0] ?? a.abs, o);
  if (dir === true) return { resolved: r.real, whys: [`it is a directory: ${BELOW}`] };
  return { resolved: r.real, whys: typeof dir === 'object' ? [dir.why] : [] };
}

/** Path arguments of one exec resolved at most; more are unresolved (the policy fails closed on them if its globs judge arguments). */
const MAX_ARGUMENT_PATHS = 32;

/**
 * Where the host resolves the path arguments of an exec (`cat /data/link`), over the connection's resolution
 * SFTP channel: an argument a symlink leads elsewhere is judged there too, and one the host cannot
 * resolve is unresolved. Relative arguments are taken from the login directory (where the host's
 * shell runs the command).
 */
export interface ArgumentFacts { argumentPaths: Record<string, string>; unresolved: UnresolvedPath[]; loginDirectory?: string; programUnresolved?: boolean }

/** `program`: the command's program word; when it is among `args` and not resolved, that is said (programUnresolved). */
export async function resolveArgumentPaths(client: Client, args: readonly string[], mask: (text: string) => string, timeoutMs = RESOLVE_TIMEOUT_MS, program?: string): Promise<ArgumentFacts> {
  const out: ArgumentFacts = { argumentPaths: {}, unresolved: [] };
  const unresolved = (a: string, why: string): void => {
    out.unresolved.push({ shown: mask(a), why });
    if (a === program) out.programUnresolved = true;
  };
  const channel = await resolutionChannelOf(client).acquire(timeoutMs);
  if ('why' in channel) {
    for (const a of args) unresolved(a, channel.why);
    return out;
  }
  const home = args.every((a) => a.startsWith('/')) ? undefined : await channel.loginDirectory();
  // Deny and approval globs on absolute paths see relative arguments where the login directory puts them.
  Object.assign(out, loginDirectoryOf(home));
  for (const [i, a] of args.entries()) {
    const abs = i < MAX_ARGUMENT_PATHS ? scpAbsolute(a, home) : { why: `more than ${MAX_ARGUMENT_PATHS} path arguments` };
    const r = 'why' in abs ? abs : await resolveFollowing(channel.calls, abs.abs, channel.options);
    if ('why' in r) unresolved(a, r.why);
    else if (ledElsewhere(abs, r.real[0])) out.argumentPaths[a] = r.real[0];
  }
  return out;
}

function loginDirectoryOf(home: Resolution | undefined): { loginDirectory?: string } {
  const dir = home !== undefined && 'real' in home ? home.real[0] : undefined;
  return dir === undefined ? {} : { loginDirectory: dir };
}

/** A resolved argument a symlink led elsewhere than its own (lexical) path. */
function ledElsewhere(abs: { abs: string } | { why: string }, real: string | undefined): real is string {
  return 'abs' in abs && real !== undefined && real !== posix.resolve(abs.abs);
}

/** Runs the proxy on an accepted sftp channel until either side closes it. */
export function startSftpProxy(agent: SFTPWrapper, ctx: SftpContext): void {
  const channel = channelIdOf(agent);
  const channelStarted = performance.now();
  // Installed before the agent's first packet: requests and bytes in flight are bounded (sftp-intake.ts).
  const intake = boundSftpIntake(agent as unknown as SftpInternals);
  const handles = new Map<string, OpenHandle>();
  let nextHandle = 0;
  let hostP: Promise<HostSftp> | undefined;
  const host = (): Promise<HostSftp> => {
    hostP ??= (async () => {
      // The host's close ends the agent's channel, from the moment the host's channel exists: a
      // listener attached after the waits (the channel, then realpath) missed a close that came in
      // the same read as the VERSION or the realpath answer, and ssh2 drops requests on a closed
      // channel without calling back, so every later request of the agent waited forever.
      const client = await ctx.upstream();
      // The host's session slots (MaxSessions): the connection's kept resolution channel makes way.
      const opened = await openWithSlot(client, () => openSftp(client, undefined, () => agent.end()));
      const { sftp } = opened;
      try {
        if (opened.closed) throw new Error('the host closed its SFTP channel');
        const home = await new Promise<string>((resolve, reject) => sftp.realpath('.', (err, p) => (err ? reject(err) : resolve(p))));
        return { sftp, home, closed: () => opened.closed };
      } catch (err) {
        // No login directory, no proxy: the host's channel is ended (its close ends the agent's).
        sftp.end();
        throw err;
      }
    })();
    return hostP;
  };
  // The host's error text can name a file (and the personal data in its name): masked like output.
  const masker = ctx.session.newMaskSession();
  const fail = (id: number, err: unknown): void => { agent.status(id, statusOf(err), masker.maskText(errorMessage(err))); };
  /** A name answered to the agent (realpath, readlink): the path kept (the agent opens by it), its display text masked, as listings are. */
  const answerName = (id: number, name: string): void => { agent.name(id, [{ filename: name, longname: masker.maskText(name), attrs: {} as Stats }]); };

  /**
   * Judges one operation; answers the agent itself when it is not allowed. Each path is made
   * absolute against the login directory and resolved on the host (following a final symlink or
   * not, as the operation does); a symlink's target (`linkTarget`) is relative to the link's
   * directory, as the host reads it.
   */
  const decide = async (operation: SftpOperation, paths: string[], o: { follows: boolean; linkTarget?: string } = { follows: true }): Promise<Judged | { refused: string }> => {
    if (ctx.refusal !== undefined) return { refused: `guarita: ${ctx.refusal.message}` };
    const { sftp, home, closed } = await host();
    const named = namedPaths(home, paths, o);
    // A path with control characters is refused by the policy as sent: the host is not asked about it.
    // eslint-disable-next-line no-control-regex -- control characters are what is refused
    const facts = named.some((p) => /[\u0000-\u001f]/.test(p.ask)) ? { resolved: [], unresolved: [] } : await pathFacts(sftp, named, (t) => masker.maskText(t), { timeoutMs: ctx.resolveTimeoutMs ?? RESOLVE_TIMEOUT_MS, closed });
    const [path = '', toPath] = named.map((p) => p.sent);
    const request = { kind: 'sftp', operation, path, ...(toPath === undefined ? {} : { toPath }), ...facts } as const;
    const auth = await ctx.session.authorize({ protocol: 'ssh', ssh: request }, { channel });
    ctx.count(outcomeOf(auth));
    if (auth.verdict === 'allow') return { allowed: auth, sftp, paths: named.slice(0, paths.length).map((p) => p.sent), commandSha256: sha256Hex(sshCommandText(request)) };
    return { refused: `guarita: ${auth.verdict === 'pending' ? `${auth.message}; retry once it is approved` : auth.message}` };
  };
  /** decide(), answering the agent itself when the operation is not allowed. */
  const judge = async (id: number, operation: SftpOperation, paths: string[], o: { follows: boolean; linkTarget?: string } = { follows: true }): Promise<Judged | undefined> => {
    const d = await decide(operation, paths, o);
    if ('allowed' in d) return d;
    agent.status(id, STATUS_CODE.PERMISSION_DENIED, d.refused);
    return undefined;
  };

  /** Runs a judged operation on the host and records how it went. */
  const run = <T>(id: number, operation: SftpOperation, paths: string[], call: (sftp: SFTPWrapper, paths: string[], done: (err: Error | null | undefined, value?: T) => void) => void, answer: (value: T | undefined) => void, settled?: () => void, how: { follows: boolean; linkTarget?: string } = { follows: true }): void => {
    void (async () => {
      const started = performance.now();
      try {
        const j = await judge(id, operation, paths, how);
        if (j === undefined) return;
        const value = await new Promise<T | undefined>((resolve, reject) => call(j.sftp, j.paths, (err, v) => (err ? reject(err) : resolve(v))));
        await j.allowed.complete({ result: {}, masked: {}, durationMs: performance.now() - started });
        answer(value);
      } catch (err) {
        fail(id, err);
      } finally {
        settled?.();
      }
    })();
  };
  const ok = (id: number) => (): void => { agent.status(id, STATUS_CODE.OK); };
  const newHandle = (h: OpenHandle): Buffer => {
    const id = Buffer.alloc(4);
    id.writeUInt32BE(nextHandle++ >>> 0);
    handles.set(id.toString('hex'), h);
    return id;
  };
  const handleOf = (id: number, b: Buffer): OpenHandle | undefined => {
    const h = handles.get(b.toString('hex'));
    if (h === undefined) agent.status(id, STATUS_CODE.FAILURE, 'guarita: unknown handle');
    return h;
  };

  /**
   * An open handle outlives the decision that opened it: once the policy in force is not the one
   * it was judged under (a rule changed, the policy was replaced or deleted), its open is judged
   * again, as what it was allowed as, before the handle is used. Refused: the handle is closed on
   * the host and forgotten, and the request is denied. Concurrent requests share one judgement.
   */
  const recheck = async (h: OpenHandle): Promise<string | undefined> => {
    const mark = ctx.session.policyMark?.();
    for (const operation of h.operations) {
      const d = await decide(operation, [h.path]);
      if ('refused' in d) return d.refused;
      await d.allowed.complete({ result: {}, masked: {}, durationMs: 0 });
    }
    h.judgedUnder = mark;
    return undefined;
  };
  /** The handle, judged again first when the policy changed since it was (answers the agent itself when not usable). */
  const usable = async (id: number, b: Buffer): Promise<OpenHandle | undefined> => {
    const h = handleOf(id, b);
    if (h === undefined || ctx.session.policyMark === undefined || ctx.session.policyMark() === h.judgedUnder) return h;
    const key = b.toString('hex');
    let refused: string | undefined;
    try {
      h.recheck ??= recheck(h).finally(() => { h.recheck = undefined; });
      refused = await h.recheck;
    } catch (err) {
      refused = `guarita: the handle could not be judged again under the policy in force (${errorMessage(err)})`;
    }
    if (refused === undefined) return h;
    if (handles.get(key) === h) {
      handles.delete(key);
      void host().then(({ sftp }) => sftp.close(h.host, () => undefined), () => undefined);
      void noteEnd(h, 'closed: the policy in force no longer allows it').catch((e: unknown) => ctx.logger.error({ err: errorMessage(e) }, 'cannot record the end of an sftp transfer'));
    }
    agent.status(id, STATUS_CODE.PERMISSION_DENIED, `${refused} (the policy changed since this handle was opened; it is closed)`);
    return undefined;
  };

  // Opens being judged count against the cap too: checked on the handles alone, a burst of opens
  // sent before any was answered all passed (issue 23 review).
  let opening = 0;
  const overCap = (id: number): boolean => {
    if (handles.size + opening < MAX_HANDLES) return false;
    agent.status(id, STATUS_CODE.FAILURE, `guarita: more than ${MAX_HANDLES} open handles`);
    return true;
  };
  agent.on('OPEN', (id: number, filename: string, flags: number, attrs) => {
    if (overCap(id)) return;
    opening++;
    void (async () => {
      const writes = (flags & (OPEN_MODE.WRITE | OPEN_MODE.APPEND | OPEN_MODE.CREAT | OPEN_MODE.TRUNC)) !== 0;
      const operations: SftpOperation[] = writes ? ((flags & OPEN_MODE.READ) !== 0 ? ['write', 'read'] : ['write']) : ['read'];
      // Taken before judging: a policy that changes during the judgement makes the first use judge again.
      const judgedUnder = ctx.session.policyMark?.();
      try {
        const [first = 'read', alsoRead] = operations;
        const j = await judge(id, first, [filename]);
        if (j === undefined) return;
        // Read and write: both must be allowed; the write's decision is recorded, the read's too.
        if (alsoRead !== undefined) {
          const r = await judge(id, alsoRead, [filename]);
          if (r === undefined) {
            await j.allowed.complete({ result: { error: 'reading was not allowed' }, masked: {}, durationMs: 0 });
            return;
          }
          await r.allowed.complete({ result: {}, masked: {}, durationMs: 0 });
        }
        const handle = await openRecorded(j, flags, attrs);
        if ('refused' in handle) return agent.status(id, STATUS_CODE.FAILURE, handle.refused);
        agent.handle(id, newHandle({ host: handle.host, kind: 'file', opened: { commandSha256: j.commandSha256 }, bytes: 0, started: performance.now(), path: filename, writable: writes, judgedUnder, operations }));
      } catch (err) {
        fail(id, err);
      } finally {
        opening--;
      }
    })();
  });
  /**
   * Opens the judged file on the host and records the open before the agent gets a handle (round
   * 12b review: the open's record waited for CLOSE, so a transfer whose CLOSE record failed, or a
   * sidecar that died mid-transfer, left no record at all). The host's refusal is recorded as the
   * open's outcome; a record that cannot be written closes the host's handle and refuses the open.
   */
  const openRecorded = async (j: Judged, flags: number, attrs: InputAttributes): Promise<{ host: Buffer } | { refused: string }> => {
    const started = performance.now();
    let host: Buffer;
    try {
      host = await new Promise<Buffer>((resolve, reject) => j.sftp.open(j.paths[0] ?? '', flags, attrs, (err, h) => (err ? reject(err) : resolve(h))));
    } catch (err) {
      await j.allowed.complete({ result: { error: masker.maskText(errorMessage(err)) }, masked: {}, durationMs: performance.now() - started });
      throw err;
    }
    try {
      await j.allowed.complete({ result: {}, masked: {}, durationMs: performance.now() - started });
      return { host };
    } catch (err) {
      j.sftp.close(host, () => undefined);
      return { refused: `guarita: the open cannot be recorded, so it is refused: ${errorMessage(err)}` };
    }
  };
  /**
   * The end of a file handle, recorded with the open's command (channel and SHA-256) as a note (a frame of its own kind, frames.ts) on
   * the channel's stream: what was transferred (bytes), and how it ended. CLOSE is answered only once
   * it is written; a failure answers CLOSE with FAILURE.
   */
  const noteEnd = (h: OpenHandle, error?: string): Promise<unknown> => {
    if (h.opened === undefined || ctx.session.recordStream === undefined) return Promise.resolve();
    const text = `sftp ${h.operations.join('+')} ${masker.maskText(h.path)} closed: ${h.bytes} bytes in ${Math.round(performance.now() - h.started)} ms${error === undefined ? '' : `; ${masker.maskText(error)}`}`;
    return ctx.session.recordStream([noteFrame(Math.max(0, Math.round(performance.now() - channelStarted)), text)], { channel, commandSha256: h.opened.commandSha256 });
  };
  agent.on('READ', (id: number, handle: Buffer, offset: number, length: number) => {
    void usable(id, handle).then((h) => h && host().then(({ sftp }) => {
      const buf = Buffer.alloc(Math.min(length, MAX_READ));
      sftp.read(h.host, buf, 0, buf.length, offset, (err, n) => {
        if (err) return fail(id, err);
        if (n === 0) return agent.status(id, STATUS_CODE.EOF);
        h.bytes += n;
        agent.data(id, buf.subarray(0, n));
      });
    }), (err: unknown) => fail(id, err));
  });
  agent.on('WRITE', (id: number, handle: Buffer, offset: number, data: Buffer) => {
    void usable(id, handle).then((h) => h && host().then(({ sftp }) => sftp.write(h.host, data, 0, data.length, offset, (err) => {
      if (err) return fail(id, err);
      h.bytes += data.length;
      agent.status(id, STATUS_CODE.OK);
    })), (err: unknown) => fail(id, err));
  });
  agent.on('FSTAT', (id: number, handle: Buffer) => {
    void usable(id, handle).then((h) => h && host().then(({ sftp }) => sftp.fstat(h.host, (err, st) => (err ? fail(id, err) : agent.attrs(id, st)))), (err: unknown) => fail(id, err));
  });
  agent.on('FSETSTAT', (id: number, handle: Buffer, attrs) => {
    void usable(id, handle).then((h) => {
      if (h === undefined) return;
      // Only on a handle opened for writing, and judged as the setstat it is: fsetstat on a handle
      // opened for reading would otherwise truncate (size 0) or chmod a file only reading was allowed.
      if (h.kind !== 'file' || !h.writable) return agent.status(id, STATUS_CODE.PERMISSION_DENIED, 'guarita: fsetstat needs a handle opened for writing');
      run(id, 'setstat', [h.path], (sftp, _paths, done) => sftp.fsetstat(h.host, attrs, done), ok(id));
    }, (err: unknown) => fail(id, err));
  });
  agent.on('CLOSE', (id: number, handle: Buffer) => {
    const key = handle.toString('hex');
    const h = handles.get(key);
    if (h === undefined) return agent.status(id, STATUS_CODE.FAILURE, 'guarita: unknown handle');
    handles.delete(key);
    void host().then(({ sftp }) => sftp.close(h.host, (err) => {
      // Answered once its record is written (round 12b review: OK went out while the record failed).
      noteEnd(h, err ? err.message : undefined).then(() => (err ? fail(id, err) : agent.status(id, STATUS_CODE.OK)), (e: unknown) => {
        ctx.logger.error({ err: errorMessage(e) }, 'cannot record the end of an sftp transfer: CLOSE fails');
        agent.status(id, STATUS_CODE.FAILURE, `guarita: the transfer's end cannot be recorded: ${errorMessage(e)}`);
      });
    }), (err: unknown) => fail(id, err));
  });
  agent.on('OPENDIR', (id: number, path: string) => {
    if (overCap(id)) return;
    opening++;
    const judgedUnder = ctx.session.policyMark?.();
    run<Buffer>(id, 'list', [path], (sftp, [p = ''], done) => sftp.opendir(p, done), (h) => {
      if (h !== undefined) agent.handle(id, newHandle({ host: h, kind: 'dir', bytes: 0, started: performance.now(), path, writable: false, judgedUnder, operations: ['list'] }));
    }, () => { opening--; });
  });
  agent.on('READDIR', (id: number, handle: Buffer) => {
    void usable(id, handle).then((h) => h && readdirOn(id, h), (err: unknown) => fail(id, err));
  });
  const readdirOn = (id: number, h: OpenHandle): void => {
    // full: the host's entries as listed, . and .. included (ssh2 drops them otherwise).
    const readdir = (sftp: SFTPWrapper, cb: (err: Error | undefined, list: FileEntry[]) => void): void => (sftp.readdir as unknown as (h: Buffer, o: { full: boolean }, c: typeof cb) => void).call(sftp, h.host, { full: true }, cb);
    // Long names (ls -l lines) are display text: masked. File names are addresses the agent opens by: kept.
    const masked = (list: FileEntry[]): FileEntry[] => list.map((e) => ({ ...e, longname: masker.maskText(e.longname) }));
    void host().then(({ sftp }) => readdir(sftp, (err, list) => (err ? fail(id, err) : agent.name(id, masked(list)))), (err: unknown) => fail(id, err));
  };
  agent.on('REALPATH', (id: number, path: string) => {
    // Path resolution: the login directory (sftp asks for "." at start) is answered unjudged, from
    // what the host said of it, without asking again. Any other path, one that folds to the login
    // directory through a `..` included (the host takes `link/..` from the link's target:
    // sftp-paths.ts), is judged as the stat it amounts to (a stat follows links as realpath does)
    // before the host is asked that same path: unjudged, realpath named a link's target in a
    // denied tree (where readlink is denied; the target's name can carry personal data) and told
    // whether a name there exists (round 5, and round 10 for the folding spellings).
    void (async () => {
      try {
        const { home } = await host();
        if (namesLoginDirectory(absoluteSftpPath(home, path), home)) return answerName(id, home);
        run<string>(id, 'stat', [path], (sftp, [p = ''], done) => sftp.realpath(p, done), (real) => answerName(id, real ?? ''));
      } catch (err) {
        fail(id, err);
      }
    })();
  });
  // Operations on the name itself do not follow a final symlink: judged where its directory resolves, plus the name.
  const onName = { follows: false };
  const statLike = (event: 'STAT' | 'LSTAT'): void => {
    agent.on(event, (id: number, path: string) => run<Stats>(id, 'stat', [path], (sftp, [p = ''], done) => (event === 'STAT' ? sftp.stat(p, done) : sftp.lstat(p, done)), (st) => st && agent.attrs(id, st), undefined, { follows: event === 'STAT' }));
  };
  statLike('STAT');
  statLike('LSTAT');
  agent.on('REMOVE', (id: number, path: string) => run(id, 'remove', [path], (sftp, [p = ''], done) => sftp.unlink(p, done), ok(id), undefined, onName));
  agent.on('RMDIR', (id: number, path: string) => run(id, 'rmdir', [path], (sftp, [p = ''], done) => sftp.rmdir(p, done), ok(id), undefined, onName));
  agent.on('MKDIR', (id: number, path: string, attrs) => run(id, 'mkdir', [path], (sftp, [p = ''], done) => sftp.mkdir(p, attrs, done), ok(id), undefined, onName));
  agent.on('SETSTAT', (id: number, path: string, attrs) => run(id, 'setstat', [path], (sftp, [p = ''], done) => sftp.setstat(p, attrs, done), ok(id)));
  agent.on('RENAME', (id: number, from: string, to: string) => run(id, 'rename', [from, to], (sftp, [a = '', b = ''], done) => sftp.rename(a, b, done), ok(id), undefined, onName));
  agent.on('READLINK', (id: number, path: string) => run<string>(id, 'readlink', [path], (sftp, [p = ''], done) => sftp.readlink(p, done), (t) => answerName(id, t ?? ''), undefined, onName));
  // The link is created as the agent wrote its target (a relative target stays relative); the
  // target is judged where the host would resolve it from the link's directory.
  agent.on('SYMLINK', (id: number, linkPath: string, targetPath: string) => run(id, 'symlink', [linkPath], (sftp, [l = ''], done) => sftp.symlink(targetPath, l, done), ok(id), undefined, { follows: false, linkTarget: targetPath }));
  agent.on('EXTENDED', (id: number) => agent.status(id, STATUS_CODE.OP_UNSUPPORTED, 'guarita: extended SFTP requests are not supported'));
  // The agent's EOF ends the subsystem: exit status 0 (scp checks it; ssh2's SFTP stream has no
  // exit(), so through its protocol object), then our side, so the channel closes.
  agent.on('end', () => {
    const internal = agent as unknown as { _protocol?: { exitStatus?(chan: number, status: number): void }; outgoing?: { id: number; state: string } };
    if (internal.outgoing?.state === 'open') internal._protocol?.exitStatus?.(internal.outgoing.id, 0);
    agent.end();
  });
  agent.on('close', () => {
    intake.dispose();
    for (const h of handles.values()) void noteEnd(h, 'the agent left without CLOSE').catch((e: unknown) => ctx.logger.error({ err: errorMessage(e) }, 'cannot record the end of an sftp transfer'));
    handles.clear();
    void hostP?.then(({ sftp }) => sftp.end(), () => undefined);
  });
  ctx.session.closed.addEventListener('abort', () => agent.end(), { once: true });
}
