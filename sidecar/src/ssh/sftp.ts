// The SFTP subsystem between the agent (ssh2's SFTP server side) and the host (ssh2's SFTP
// client): every operation that names a path is judged (read, write, remove, list, stat, rename,
// mkdir, rmdir, setstat, symlink, readlink) on the path as sent, made absolute against the login
// directory and normalized, and on the path as the host resolves it (realpath: symlinks
// followed), then run on the host and recorded with its path and size. Reads and writes use
// handles the sidecar issued for a judged open; the host's handles never reach the agent. File
// contents are not masked (offsets and sizes must stay exact): the rules decide which files an
// agent may read.
import { posix } from 'node:path';
import ssh2, { type Client, type FileEntry, type SFTPWrapper, type Stats } from 'ssh2';
import type { SftpOperation } from '../../../crds/types.ts';
import type { Authorization, Session } from '../enforcement.ts';
import { errorMessage, type Logger } from '../log.ts';

// ssh2 is CommonJS: named exports come from its default export.
const { OPEN_MODE, STATUS_CODE } = ssh2.utils.sftp;

/** Open handles per SFTP session; more are refused (each holds a host handle). */
const MAX_HANDLES = 256;
/** Largest read the sidecar asks the host for at once (the agent's request may ask for more). */
const MAX_READ = 256 * 1024;

export interface SftpContext {
  session: Session;
  logger: Logger;
  /** The connection's upstream SSH client (opened on first use). */
  upstream(): Promise<Client>;
  refusal: { message: string; exit: number } | undefined;
  /** Counts a judged request by outcome (guarita_sidecar_requests_total, protocol ssh). */
  count(outcome: 'allowed' | 'denied' | 'pending' | 'unavailable'): void;
}

/** The metrics outcome of an authorization. */
export function outcomeOf(auth: Authorization): 'allowed' | 'denied' | 'pending' | 'unavailable' {
  if (auth.verdict === 'allow') return 'allowed';
  if (auth.verdict === 'pending') return 'pending';
  return auth.decision.code === 'Unavailable' || auth.decision.code === 'ApprovalUnavailable' ? 'unavailable' : 'denied';
}

interface OpenHandle { host: Buffer; kind: 'file' | 'dir'; auth?: Extract<Authorization, { verdict: 'allow' }>; bytes: number; started: number; path: string; writable: boolean }

type Allowed = Extract<Authorization, { verdict: 'allow' }>;

/**
 * Opens an SFTP channel to the host. onClose is listened for as ssh2 hands the channel over, not
 * after an await: ssh2 emits an SFTP channel's 'close' synchronously while it parses the host's
 * CHANNEL_CLOSE, which can arrive in the same read as the VERSION (or as a first answer).
 */
function hostSftp(client: Client, onClose?: () => void): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) => client.sftp((err, sftp) => {
    if (err !== undefined) return reject(err);
    sftp.on('close', () => {
      closedHostChannels.add(sftp);
      onClose?.();
    });
    resolve(sftp);
  }));
}

/** Host channels the host has closed: ssh2 drops a request sent on one without ever calling back. */
const closedHostChannels = new WeakSet<SFTPWrapper>();

function statusOf(err: unknown): number {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : STATUS_CODE.FAILURE;
}

function realpathOf(sftp: SFTPWrapper, path: string): Promise<string | undefined> {
  if (closedHostChannels.has(sftp)) return Promise.resolve(undefined);
  return new Promise((resolve) => sftp.realpath(path, (err, r) => resolve(err ? undefined : r)));
}

/** The path as the host resolves it: realpath, or that of its directory for a name that does not exist yet. */
async function resolvedOnHost(sftp: SFTPWrapper, path: string): Promise<string[]> {
  const whole = await realpathOf(sftp, path);
  if (whole !== undefined) return [whole];
  const dir = await realpathOf(sftp, posix.dirname(path));
  return dir === undefined ? [] : [posix.join(dir, posix.basename(path))];
}

/**
 * Where the host resolves a legacy scp path (scp -t/-f PATH, relative to the login directory),
 * through a short-lived SFTP channel: judged like an SFTP path, so a symlink under an allowed
 * directory does not lead scp -O elsewhere.
 */
export async function resolveScpPath(client: Client, path: string): Promise<string[]> {
  const sftp = await hostSftp(client);
  try {
    const home = await realpathOf(sftp, '.');
    if (home === undefined) return [];
    return await resolvedOnHost(sftp, path.startsWith('/') ? path : posix.join(home, path));
  } finally {
    sftp.end();
  }
}

/** Runs the proxy on an accepted sftp channel until either side closes it. */
export function startSftpProxy(agent: SFTPWrapper, ctx: SftpContext): void {
  const handles = new Map<string, OpenHandle>();
  let nextHandle = 0;
  let hostP: Promise<{ sftp: SFTPWrapper; home: string }> | undefined;
  const host = (): Promise<{ sftp: SFTPWrapper; home: string }> => {
    hostP ??= (async () => {
      // The host's close ends the agent's channel, from the moment the host's channel exists: a
      // listener attached after the waits (the channel, then realpath) missed a close that came in
      // the same read as the VERSION or the realpath answer, and ssh2 drops requests on a closed
      // channel without calling back, so every later request of the agent waited forever.
      const sftp = await hostSftp(await ctx.upstream(), () => agent.end());
      try {
        if (closedHostChannels.has(sftp)) throw new Error('the host closed its SFTP channel');
        const home = await new Promise<string>((resolve, reject) => sftp.realpath('.', (err, p) => (err ? reject(err) : resolve(p))));
        return { sftp, home };
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
  const absolute = (home: string, p: string): string => (p.startsWith('/') ? p : posix.join(home, p));

  /** Judges one operation; answers the agent itself when it is not allowed. */
  const judge = async (id: number, operation: SftpOperation, paths: string[]): Promise<{ allowed: Allowed; sftp: SFTPWrapper; paths: string[] } | undefined> => {
    if (ctx.refusal !== undefined) {
      agent.status(id, STATUS_CODE.PERMISSION_DENIED, `guarita: ${ctx.refusal.message}`);
      return undefined;
    }
    const { sftp, home } = await host();
    const abs = paths.map((p) => absolute(home, p));
    const real = (await Promise.all(abs.map((p) => resolvedOnHost(sftp, p)))).flat();
    const [path = '', toPath] = abs;
    const auth = await ctx.session.authorize({ protocol: 'ssh', ssh: { kind: 'sftp', operation, path, ...(toPath === undefined ? {} : { toPath }), resolved: real } });
    ctx.count(outcomeOf(auth));
    if (auth.verdict === 'allow') return { allowed: auth, sftp, paths: abs };
    const message = auth.verdict === 'pending' ? `${auth.message}; retry once it is approved` : auth.message;
    agent.status(id, STATUS_CODE.PERMISSION_DENIED, `guarita: ${message}`);
    return undefined;
  };

  /** Runs a judged operation on the host and records how it went. */
  const run = <T>(id: number, operation: SftpOperation, paths: string[], call: (sftp: SFTPWrapper, paths: string[], done: (err: Error | null | undefined, value?: T) => void) => void, answer: (value: T | undefined) => void, settled?: () => void): void => {
    void (async () => {
      const started = performance.now();
      try {
        const j = await judge(id, operation, paths);
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
      try {
        const j = await judge(id, writes ? 'write' : 'read', [filename]);
        if (j === undefined) return;
        // Read and write: both must be allowed; the write's decision is recorded, the read's too.
        if (writes && (flags & OPEN_MODE.READ) !== 0) {
          const r = await judge(id, 'read', [filename]);
          if (r === undefined) {
            await j.allowed.complete({ result: { error: 'reading was not allowed' }, masked: {}, durationMs: 0 });
            return;
          }
          await r.allowed.complete({ result: {}, masked: {}, durationMs: 0 });
        }
        const hostHandle = await new Promise<Buffer>((resolve, reject) => j.sftp.open(j.paths[0] ?? '', flags, attrs, (err, h) => (err ? reject(err) : resolve(h))));
        agent.handle(id, newHandle({ host: hostHandle, kind: 'file', auth: j.allowed, bytes: 0, started: performance.now(), path: filename, writable: writes }));
      } catch (err) {
        fail(id, err);
      } finally {
        opening--;
      }
    })();
  });
  agent.on('READ', (id: number, handle: Buffer, offset: number, length: number) => {
    const h = handleOf(id, handle);
    if (h === undefined) return;
    void host().then(({ sftp }) => {
      const buf = Buffer.alloc(Math.min(length, MAX_READ));
      sftp.read(h.host, buf, 0, buf.length, offset, (err, n) => {
        if (err) return fail(id, err);
        if (n === 0) return agent.status(id, STATUS_CODE.EOF);
        h.bytes += n;
        agent.data(id, buf.subarray(0, n));
      });
    }, (err: unknown) => fail(id, err));
  });
  agent.on('WRITE', (id: number, handle: Buffer, offset: number, data: Buffer) => {
    const h = handleOf(id, handle);
    if (h === undefined) return;
    void host().then(({ sftp }) => sftp.write(h.host, data, 0, data.length, offset, (err) => {
      if (err) return fail(id, err);
      h.bytes += data.length;
      agent.status(id, STATUS_CODE.OK);
    }), (err: unknown) => fail(id, err));
  });
  agent.on('FSTAT', (id: number, handle: Buffer) => {
    const h = handleOf(id, handle);
    if (h === undefined) return;
    void host().then(({ sftp }) => sftp.fstat(h.host, (err, st) => (err ? fail(id, err) : agent.attrs(id, st))), (err: unknown) => fail(id, err));
  });
  agent.on('FSETSTAT', (id: number, handle: Buffer, attrs) => {
    const h = handleOf(id, handle);
    if (h === undefined) return;
    // Only on a handle opened for writing, and judged as the setstat it is: fsetstat on a handle
    // opened for reading would otherwise truncate (size 0) or chmod a file only reading was allowed.
    if (h.kind !== 'file' || !h.writable) return agent.status(id, STATUS_CODE.PERMISSION_DENIED, 'guarita: fsetstat needs a handle opened for writing');
    run(id, 'setstat', [h.path], (sftp, _paths, done) => sftp.fsetstat(h.host, attrs, done), ok(id));
  });
  agent.on('CLOSE', (id: number, handle: Buffer) => {
    const key = handle.toString('hex');
    const h = handles.get(key);
    if (h === undefined) return agent.status(id, STATUS_CODE.FAILURE, 'guarita: unknown handle');
    handles.delete(key);
    void host().then(({ sftp }) => sftp.close(h.host, (err) => {
      void h.auth?.complete({ result: { bytes: h.bytes, ...(err ? { error: err.message } : {}) }, masked: {}, durationMs: performance.now() - h.started })
        .catch((e: unknown) => ctx.logger.error({ err: errorMessage(e) }, 'cannot record an sftp transfer'));
      if (err) fail(id, err);
      else agent.status(id, STATUS_CODE.OK);
    }), (err: unknown) => fail(id, err));
  });
  agent.on('OPENDIR', (id: number, path: string) => {
    if (overCap(id)) return;
    opening++;
    run<Buffer>(id, 'list', [path], (sftp, [p = ''], done) => sftp.opendir(p, done), (h) => {
      if (h !== undefined) agent.handle(id, newHandle({ host: h, kind: 'dir', bytes: 0, started: performance.now(), path, writable: false }));
    }, () => { opening--; });
  });
  agent.on('READDIR', (id: number, handle: Buffer) => {
    const h = handleOf(id, handle);
    if (h === undefined) return;
    // full: the host's entries as listed, . and .. included (ssh2 drops them otherwise).
    const readdir = (sftp: SFTPWrapper, cb: (err: Error | undefined, list: FileEntry[]) => void): void => (sftp.readdir as unknown as (h: Buffer, o: { full: boolean }, c: typeof cb) => void).call(sftp, h.host, { full: true }, cb);
    // Long names (ls -l lines) are display text: masked. File names are addresses the agent opens by: kept.
    const masked = (list: FileEntry[]): FileEntry[] => list.map((e) => ({ ...e, longname: masker.maskText(e.longname) }));
    void host().then(({ sftp }) => readdir(sftp, (err, list) => (err ? fail(id, err) : agent.name(id, masked(list)))), (err: unknown) => fail(id, err));
  });
  agent.on('REALPATH', (id: number, path: string) => {
    // Path resolution only (sftp asks for "." at start): no file is read, so it is not judged.
    void host().then(({ sftp, home }) => sftp.realpath(absolute(home, path), (err, p) => (err ? fail(id, err) : agent.name(id, [{ filename: p, longname: p, attrs: {} as Stats }]))), (err: unknown) => fail(id, err));
  });
  const statLike = (event: 'STAT' | 'LSTAT'): void => {
    agent.on(event, (id: number, path: string) => run<Stats>(id, 'stat', [path], (sftp, [p = ''], done) => (event === 'STAT' ? sftp.stat(p, done) : sftp.lstat(p, done)), (st) => st && agent.attrs(id, st)));
  };
  statLike('STAT');
  statLike('LSTAT');
  agent.on('REMOVE', (id: number, path: string) => run(id, 'remove', [path], (sftp, [p = ''], done) => sftp.unlink(p, done), ok(id)));
  agent.on('RMDIR', (id: number, path: string) => run(id, 'rmdir', [path], (sftp, [p = ''], done) => sftp.rmdir(p, done), ok(id)));
  agent.on('MKDIR', (id: number, path: string, attrs) => run(id, 'mkdir', [path], (sftp, [p = ''], done) => sftp.mkdir(p, attrs, done), ok(id)));
  agent.on('SETSTAT', (id: number, path: string, attrs) => run(id, 'setstat', [path], (sftp, [p = ''], done) => sftp.setstat(p, attrs, done), ok(id)));
  agent.on('RENAME', (id: number, from: string, to: string) => run(id, 'rename', [from, to], (sftp, [a = '', b = ''], done) => sftp.rename(a, b, done), ok(id)));
  agent.on('READLINK', (id: number, path: string) => run<string>(id, 'readlink', [path], (sftp, [p = ''], done) => sftp.readlink(p, done), (t) => agent.name(id, [{ filename: t ?? '', longname: t ?? '', attrs: {} as Stats }])));
  agent.on('SYMLINK', (id: number, linkPath: string, targetPath: string) => run(id, 'symlink', [linkPath, targetPath], (sftp, [l = '', t = ''], done) => sftp.symlink(t, l, done), ok(id)));
  agent.on('EXTENDED', (id: number) => agent.status(id, STATUS_CODE.OP_UNSUPPORTED, 'guarita: extended SFTP requests are not supported'));
  // The agent's EOF ends the subsystem: exit status 0 (scp checks it; ssh2's SFTP stream has no
  // exit(), so through its protocol object), then our side, so the channel closes.
  agent.on('end', () => {
    const internal = agent as unknown as { _protocol?: { exitStatus?(chan: number, status: number): void }; outgoing?: { id: number; state: string } };
    if (internal.outgoing?.state === 'open') internal._protocol?.exitStatus?.(internal.outgoing.id, 0);
    agent.end();
  });
  agent.on('close', () => {
    for (const h of handles.values()) void h.auth?.complete({ result: { bytes: h.bytes, error: 'closed without CLOSE' }, masked: {}, durationMs: performance.now() - h.started }).catch(() => undefined);
    handles.clear();
    void hostP?.then(({ sftp }) => sftp.end(), () => undefined);
  });
  ctx.session.closed.addEventListener('abort', () => agent.end(), { once: true });
}
