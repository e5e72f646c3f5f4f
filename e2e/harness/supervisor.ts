// Long-running components (etcd, kube-apiserver, postgres, the IdP) run under watchdog.sh so
// they die with the Node process that started them, however it dies. Their stdout and stderr
// go straight to a log file (not through a Node pipe, which would break when Node dies), and
// the tail of that file is attached to every failure.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { WATCHDOG } from './paths.ts';

export interface SuperviseOptions {
  /** Component name, used in messages. */
  name: string;
  command: string;
  args: readonly string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Signal for a graceful stop (postgres: SIGINT = fast shutdown). */
  stopSignal?: NodeJS.Signals;
  graceSeconds?: number;
}

export interface Supervised {
  readonly name: string;
  /** The watchdog's pid, which is also the process group of the component. */
  readonly pid: number;
  readonly logFile: string;
  /** Set once the watchdog (and so the component) has exited. */
  readonly exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  stop(): Promise<void>;
}

/** The last lines of a log file, for error messages. */
export function logTail(logFile: string, lines = 40): string {
  try {
    const text = readFileSync(logFile, 'utf8').trimEnd();
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => child.once('exit', () => done()));
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

class SupervisedProcess implements Supervised {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  exit: Supervised['exit'] = undefined;
  readonly #child: ChildProcess;
  readonly #graceSeconds: number;

  constructor(opts: SuperviseOptions, child: ChildProcess) {
    if (child.pid === undefined) throw new Error(`${opts.name}: could not start ${WATCHDOG}`);
    this.name = opts.name;
    this.pid = child.pid;
    this.logFile = opts.logFile;
    this.#child = child;
    this.#graceSeconds = opts.graceSeconds ?? 5;
    child.once('exit', (code, signal) => {
      this.exit = { code, signal };
    });
  }

  async stop(): Promise<void> {
    if (this.exit !== undefined) return;
    // The watchdog forwards the stop signal, waits its grace and SIGKILLs the group; we only
    // step in if the watchdog itself is stuck.
    try {
      process.kill(this.pid, 'SIGTERM');
    } catch {
      return;
    }
    const exited = waitForExit(this.#child);
    // The timer is cancelled once the watchdog exits: a pending timer would keep Jest alive.
    const cancel = new AbortController();
    const deadline = sleep((this.#graceSeconds + 3) * 1000, 'timeout' as const, { signal: cancel.signal }).catch(() => 'cancelled' as const);
    const outcome = await Promise.race([exited.then(() => 'exited' as const), deadline]);
    cancel.abort();
    if (outcome === 'timeout') {
      killGroup(this.pid, 'SIGKILL');
      await exited;
    }
  }
}

export function supervise(opts: SuperviseOptions): Supervised {
  const log = openSync(opts.logFile, 'a');
  try {
    const child = spawn('bash', [WATCHDOG, String(process.pid), opts.command, ...opts.args], {
      cwd: opts.cwd,
      env: {
        ...(opts.env ?? process.env),
        WATCHDOG_STOP_SIGNAL: (opts.stopSignal ?? 'SIGTERM').replace(/^SIG/, ''),
        WATCHDOG_GRACE_SECONDS: String(opts.graceSeconds ?? 5),
      },
      // Own session and process group: a Ctrl-C on the terminal reaches only Node, which then
      // stops components in order; the watchdog handles the case where Node cannot.
      detached: true,
      stdio: ['ignore', log, log],
    });
    // The component must not keep Node's event loop alive (Jest waits for open handles).
    child.unref();
    return new SupervisedProcess(opts, child);
  } finally {
    closeSync(log);
  }
}

export interface ReadyOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

function describeExit(proc: Supervised): string {
  const e = proc.exit;
  if (e === undefined) return 'running';
  return e.signal === null ? `exited with code ${e.code}` : `killed by ${e.signal}`;
}

/**
 * Polls `probe` until it returns true. Fails early when the component exits, and on timeout;
 * both errors carry the tail of the component's log, which is usually the actual reason.
 */
export async function waitUntilReady(proc: Supervised, what: string, probe: () => Promise<boolean>, opts: ReadyOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (proc.exit !== undefined) {
      throw new Error(`${proc.name} ${describeExit(proc)} before ${what}; last lines of ${proc.logFile}:\n${logTail(proc.logFile)}`);
    }
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    await sleep(opts.intervalMs ?? 200);
  }
  const reason = lastError === '' ? '' : ` (last probe error: ${lastError})`;
  throw new Error(`${proc.name} not ${what} after ${timeoutMs / 1000}s${reason}; last lines of ${proc.logFile}:\n${logTail(proc.logFile)}`);
}
