// The SFTP channel one upstream connection resolves exec paths over (exec operands, legacy scp
// paths). Opening an SFTP channel makes sshd fork and exec sftp-server, which cost more than the
// resolution itself; agents that keep one connection and run many execs (ControlMaster, ssh2,
// paramiko, Ansible) paid it per exec. The channel is opened on the first resolution, kept for the
// connection's life, reopened after the host closes it, and never shared: one per upstream
// Client, which serves one agent connection (one session). It holds one of the host's MaxSessions
// slots while open (docs/ssh.md).
//
// Bounds, each failing closed (the path is unresolved): at most MAX_IN_FLIGHT requests
// outstanding on it (more are refused at once, not queued); a channel that does not open, or a
// request unanswered, within the resolution timeout (the channel is then dropped and ended, so a
// hung sftp-server holds nothing past it; the next resolution opens another); a channel the host
// closes mid-resolution (ssh2 fails its pending requests; later ones are refused as closed).
//
// The login directory is not taken from this channel's "." (sftp-server's working directory is
// the one it started in, and a long-lived channel would keep an old one if what the login
// directory resolves to changes): it is asked through the host's home-directory extension and
// resolved now, or, on a host without it, over a short-lived channel of its own, as each exec's
// shell starts there.
import type { Client, SFTPWrapper } from 'ssh2';
import { ask, ResolutionRefused, type HostPathCalls, type Resolution, type ResolveOptions } from './host-paths.ts';

/** Requests outstanding on one resolution channel, at most (an exec resolves one at a time; 32 session channels per connection). */
export const MAX_IN_FLIGHT = 64;

type Callback<T> = (err: Error | null | undefined, value: T) => void;

/** One open channel, with its own count of requests in flight. */
interface OpenChannel { sftp: SFTPWrapper; inFlight: number; closed: boolean }

/** What a resolution gets: calls on the channel and their options, or why there is no channel. */
export type Acquired = { calls: HostPathCalls; options: ResolveOptions; loginDirectory(): Promise<Resolution> } | { why: string };

const channels = new WeakMap<Client, ResolutionChannel>();

/** The resolution channel of an upstream connection (created on first use, closed with it). */
export function resolutionChannelOf(client: Client): ResolutionChannel {
  let channel = channels.get(client);
  if (channel === undefined) {
    const created = new ResolutionChannel(client);
    client.once('close', () => created.close());
    channels.set(client, created);
    channel = created;
  }
  return channel;
}

/** Why no channel opened, in fixed words (not the host's own). */
function openFailure(err: unknown): string {
  return err instanceof OpenTimeout ? err.message : 'the host has no SFTP subsystem to resolve paths with (or refused the channel: its MaxSessions reached)';
}

class OpenTimeout extends Error {}

/** An SFTP channel as opened, and whether the host has closed it since (listened for from the moment ssh2 hands it over). */
export interface OpenedSftp { sftp: SFTPWrapper; closed: boolean }

/**
 * Opens an SFTP channel, or rejects: the host refused it (no subsystem, MaxSessions reached) or, with `timeoutMs`, did
 * not answer in time. `onClose` runs when the host closes it, also when that happens as it opens.
 */
export function openSftp(client: Client, timeoutMs?: number, onClose?: () => void): Promise<OpenedSftp> {
  return new Promise((resolve, reject) => {
    let late = false;
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
      late = true;
      reject(new OpenTimeout(`the host did not open an SFTP channel within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    timer?.unref();
    try {
      client.sftp((err, sftp) => {
        clearTimeout(timer);
        if (late) {
          // Given up on: not kept (it would hold a MaxSessions slot nobody uses).
          if (err === undefined) sftp.end();
          return;
        }
        if (err !== undefined) return reject(err);
        // Listened for as ssh2 hands the channel over, not after an await: ssh2 emits 'close'
        // synchronously while it parses the host's CHANNEL_CLOSE, which can come in the same read
        // as the VERSION; missed, the channel was kept as open, and ssh2 drops requests on a closed
        // channel without calling back (every resolution waited out the timeout).
        const opened: OpenedSftp = { sftp, closed: false };
        sftp.once('close', () => {
          opened.closed = true;
          onClose?.();
        });
        resolve(opened);
      });
    } catch (err) {
      clearTimeout(timer);
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

export class ResolutionChannel {
  readonly #client: Client;
  #current: Promise<OpenChannel> | undefined;
  #ended = false;
  /** Channels opened so far (tests and the rig count them). */
  opened = 0;

  constructor(client: Client) {
    this.#client = client;
  }

  /** The open channel (opened or reopened now if need be), or why there is none. */
  async acquire(timeoutMs: number): Promise<Acquired> {
    if (this.#ended) return { why: 'the connection to the host has ended' };
    let current = this.#current;
    if (current !== undefined) {
      const was = await current.catch(() => undefined);
      // Closed by the host (or dropped) since: forgotten, and another opened.
      if (was === undefined || was.closed) {
        if (this.#current === current) this.#current = undefined;
        current = undefined;
      }
    }
    current ??= this.#current ?? this.#open(timeoutMs);
    let open: OpenChannel;
    try {
      open = await current;
    } catch (err) {
      return { why: openFailure(err) };
    }
    const options: ResolveOptions = { timeoutMs, closed: () => open.closed, onTimeout: () => this.#drop(open) };
    return { calls: guarded(open), options, loginDirectory: () => this.#loginDirectory(open, options) };
  }

  #open(timeoutMs: number): Promise<OpenChannel> {
    const opening = openSftp(this.#client, timeoutMs).then(({ sftp, closed }) => {
      const open: OpenChannel = { sftp, inFlight: 0, closed };
      this.opened++;
      sftp.on('close', () => {
        open.closed = true;
        if (this.#current === opening) this.#current = undefined;
      });
      // Closed before this turn (with its VERSION): not the current channel; the next acquire opens another.
      if (closed && this.#current === opening) this.#current = undefined;
      if (this.#ended) this.#drop(open);
      return open;
    });
    this.#current = opening;
    opening.catch(() => {
      if (this.#current === opening) this.#current = undefined;
    });
    return opening;
  }

  /** Ends a channel that a request outlived (or the connection): its pending requests fail, the next resolution opens another. */
  #drop(open: OpenChannel): void {
    if (open.closed) return;
    open.closed = true;
    open.sftp.end();
  }

  /**
   * Where the host's shell starts an exec, now: the user's home as the host's home-directory
   * extension names it (sshd chdirs there for each channel; a long-lived sftp-server stays in the
   * directory it started in), realpath'd now; on a host without the extension, realpath(".") over
   * a short-lived channel of its own. (ssh2's expand-path@openssh.com request is malformed, and
   * OpenSSH's sftp-server closes the channel on it.)
   */
  async #loginDirectory(open: OpenChannel, options: ResolveOptions): Promise<Resolution> {
    const user = (this.#client as unknown as { config?: { username?: unknown } }).config?.username;
    const extensions = (open.sftp as unknown as { _extensions?: Record<string, string> })._extensions ?? {};
    if (typeof user !== 'string' || user === '' || extensions['home-directory'] !== '1') return freshLoginDirectory(this.#client, options.timeoutMs);
    const home = absolute(await ask<string>(options, (cb) => guard(open, (c: Callback<string>) => (open.sftp as SFTPWrapper & { ext_home_dir(user: string, cb: Callback<string>): void }).ext_home_dir(user, c), cb)));
    if ('why' in home) return home;
    // A home that does not resolve (sshd then starts the shell in /) is not guessed: unresolved.
    const real = absolute(await ask<string>(options, (cb) => guard(open, (c: Callback<string>) => open.sftp.realpath(home.real[0] ?? '', c), cb)));
    if ('why' in real) return real;
    // Nor one sshd cannot chdir into: realpath answers for a file (/dev/null, a home replaced by a
    // file or a symlink to one) and for a directory without search permission, while the shell
    // then starts in sshd's own directory (/), where `cat secret/x` reads /secret/x. stat of
    // HOME/. succeeds exactly when chdir(HOME) would (a directory the user may search).
    const entered = await ask<{ isDirectory(): boolean }>(options, (cb) => guard(open, (c: Callback<{ isDirectory(): boolean }>) => open.sftp.stat(`${real.real[0] ?? ''}/.`, c), cb));
    if (!entered.ok) return { why: `the login directory cannot be entered (${entered.why}): the host's shell starts elsewhere` };
    return entered.value.isDirectory() ? real : { why: 'the login directory is not a directory: the host\'s shell starts elsewhere' };
  }

  /**
   * Frees the host's session slot the channel holds (sshd's MaxSessions counts it as a session):
   * ends the open channel and waits for the host's close, at most waitMs. Resolutions still on it
   * fail closed (unresolved); the next one opens another channel. False when none was open.
   */
  async release(waitMs: number): Promise<boolean> {
    const current = this.#current;
    if (current === undefined) return false;
    const open = await current.catch(() => undefined);
    if (open === undefined || open.closed) return false;
    if (this.#current === current) this.#current = undefined;
    const closed = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      timer.unref();
      open.sftp.once('close', () => { clearTimeout(timer); resolve(); });
    });
    this.#drop(open);
    await closed;
    return true;
  }

  /** The connection ended: the channel goes with it, and none is opened again. */
  close(): void {
    this.#ended = true;
    void this.#current?.then((open) => this.#drop(open), () => undefined);
    this.#current = undefined;
  }
}

/** realpath(".") over a short-lived channel of its own: sshd starts it in the login directory, as each exec's shell. */
async function freshLoginDirectory(client: Client, timeoutMs: number): Promise<Resolution> {
  let fresh: OpenedSftp;
  try {
    fresh = await openSftp(client, timeoutMs);
  } catch (err) {
    return { why: openFailure(err) };
  }
  try {
    return absolute(await ask<string>({ timeoutMs, closed: () => fresh.closed }, (cb) => fresh.sftp.realpath('.', cb)));
  } finally {
    fresh.sftp.end();
  }
}

function absolute(home: Awaited<ReturnType<typeof ask<string>>>): Resolution {
  if (!home.ok) return { why: home.why };
  return typeof home.value === 'string' && home.value.startsWith('/') ? { real: [home.value] } : { why: 'the host answered a path that is not absolute' };
}

/** One call counted against the channel's bound: refused (thrown, ask() answers why) past MAX_IN_FLIGHT. */
function guard<T>(open: OpenChannel, call: (cb: Callback<T>) => void, cb: Callback<T>): void {
  if (open.inFlight >= MAX_IN_FLIGHT) throw new ResolutionRefused(`more than ${MAX_IN_FLIGHT} path resolutions are in flight on this connection`);
  open.inFlight++;
  let settled = false;
  call((err, value) => {
    if (!settled) {
      settled = true;
      open.inFlight--;
    }
    cb(err, value);
  });
}

/** The channel's calls, each counted in flight until its answer. */
function guarded(open: OpenChannel): HostPathCalls {
  return {
    realpath: (path, cb) => guard(open, (c) => open.sftp.realpath(path, c), cb),
    lstat: (path, cb) => guard(open, (c) => open.sftp.lstat(path, c), cb),
    stat: (path, cb) => guard(open, (c) => open.sftp.stat(path, c), cb),
  };
}

/** How long a released channel's close is waited for before the session channel is asked again. */
const RELEASE_WAIT_MS = 2_000;

/**
 * Opens a session channel on the host (an exec, a shell, the agent's SFTP) with the connection's
 * resolution channel out of its way: the host refusing it (sshd's MaxSessions reached, the kept
 * resolution channel holding a slot) releases the resolution channel and asks once more. Before
 * 8ffc5bc resolution channels were closed before the command's channel opened; kept, one took the
 * only slot under MaxSessions 1 and every exec that needed resolution was refused.
 */
export async function openWithSlot<T>(client: Client, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (err) {
    const channel = channels.get(client);
    if (channel === undefined || !(await channel.release(RELEASE_WAIT_MS))) throw err;
    return open();
  }
}
