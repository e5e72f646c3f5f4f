// A throwaway OpenSSH server (Debian's openssh-server): sshd -D on a free loopback port with its
// own host key, config, pid file and authorized key under a directory of the caller, UsePAM no,
// public-key login of the current user only. Unprivileged when the harness is (sshd then serves
// only its own user); as root it needs the privilege-separation directory /run/sshd. Started per
// test file (it starts in milliseconds), not in the shared harness: each suite gets its own
// host key and can break it (the wrong-host-key test) without touching the others.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { runChecked } from './exec.ts';
import { freePort } from './ports.ts';
import { supervise, waitUntilReady, type Supervised } from './supervisor.ts';

export const SSHD = '/usr/sbin/sshd';

export interface SshdHandle {
  host: string;
  port: number;
  /** The login user (the current user). */
  user: string;
  /** The client's private key (OpenSSH format) and its file. */
  clientKey: string;
  clientKeyFile: string;
  /** known_hosts line for 127.0.0.1:port with the server's host key. */
  knownHosts: string;
  process: Supervised;
  stop(): Promise<void>;
}

async function keygen(file: string, comment: string): Promise<void> {
  await runChecked('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
}

function banner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.setTimeout(2000);
    s.once('data', (d: Buffer) => { resolve(d.toString('latin1').startsWith('SSH-2.0-')); s.destroy(); });
    s.once('error', () => resolve(false));
    s.once('timeout', () => { resolve(false); s.destroy(); });
  });
}

/** Starts sshd under `dir` (created); stop() ends it. */
/** `maxSessions`: sshd's MaxSessions (sessions per connection; 50 unless a test needs the host's bound). */
export async function startSshd(dir: string, logFile = join(dir, 'sshd.log'), opts: { maxSessions?: number } = {}): Promise<SshdHandle> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const hostKeyFile = join(dir, 'ssh_host_ed25519_key');
  const clientKeyFile = join(dir, 'client_key');
  await keygen(hostKeyFile, 'guarita-harness-sshd');
  await keygen(clientKeyFile, 'guarita-harness-client');
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${clientKeyFile}.pub`), { mode: 0o600 });
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(config, [
    '# Written by the Guarita test harness.',
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${hostKeyFile}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin prohibit-password',
    'StrictModes no',
    'PrintMotd no',
    'PrintLastLog no',
    'AllowTcpForwarding yes',
    'Subsystem sftp internal-sftp',
    'LogLevel VERBOSE',
    'MaxStartups 300:30:600',
    `MaxSessions ${opts.maxSessions ?? 50}`,
    // Debian's bash sources ~/.bashrc when sshd runs it (SHLVL < 2): the machine user's startup
    // files (pyenv rehash and its lock, a slow PATH) are not the test's; SHLVL=1 skips them.
    'SetEnv SHLVL=1',
    // Accepts every variable a client sends, so a sidecar that forwarded the agent's env requests would be caught.
    'AcceptEnv *',
    '',
  ].join('\n'), { mode: 0o600 });
  const proc = supervise({ name: 'sshd', command: SSHD, args: ['-D', '-e', '-f', config], logFile, stopSignal: 'SIGTERM', graceSeconds: 5 });
  await waitUntilReady(proc, 'sshd banner', () => banner(port), { timeoutMs: 15_000, intervalMs: 50 });
  const hostPub = readFileSync(`${hostKeyFile}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  return {
    host: '127.0.0.1', port, user: userInfo().username,
    clientKey: readFileSync(clientKeyFile, 'utf8'), clientKeyFile,
    knownHosts: `[127.0.0.1]:${port} ${hostPub}\n`,
    process: proc,
    stop: () => proc.stop(),
  };
}
