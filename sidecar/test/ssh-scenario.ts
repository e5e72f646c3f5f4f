// For the SSH integration tests (ssh-round10*.int): the real OpenSSH server (e2e/harness/sshd.ts,
// internal-sftp), the real operator and the real sidecar process in front of that server, one
// AccessPolicy of the test's, and the agent's side: a raw ssh2 client authenticated with an IdP
// token (the purpose as the user name), OpenSSH's scp through the published ssh_config, the
// sidecar's resident memory, and SFTP packets written by hand.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2, { type Client, type ClientChannel, type SFTPWrapper } from 'ssh2';
import { freePorts } from '../../e2e/harness/ports.ts';
import { startSshd, type SshdHandle } from '../../e2e/harness/sshd.ts';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { apply, grantSessionReaders } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { operatorFixture, startOperator, waitServing, type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { mountCredentials, sidecarFixture, startSidecarProcess, type SidecarFixture, type SidecarProcess, type TargetSpec } from './support.ts';

/** What a test's AccessPolicy says beyond the target, the IdP and the subjects (group support). */
export interface SshPolicySpec {
  purposes: string[];
  rules: unknown[];
  masking?: Record<string, unknown>;
}

/**
 * The host's files under `work`: SECRET (`work`/secret) with a customer's contract, cliente-`cpf`/docs/contrato.txt
 * (`cpf=<cpf>`), and an empty SCRATCH (`work`/scratch).
 */
export function hostTree(work: string, cpf: string): { secret: string; scratch: string } {
  const secret = join(work, 'secret');
  const scratch = join(work, 'scratch');
  mkdirSync(join(secret, `cliente-${cpf}`, 'docs'), { recursive: true });
  mkdirSync(scratch, { recursive: true });
  writeFileSync(join(secret, `cliente-${cpf}`, 'docs', 'contrato.txt'), `cpf=${cpf}\n`);
  return { secret, scratch };
}

/**
 * The round 10 review's policy (ssh-round10-attacks.int, ssh-round10b-attacks.int): SECRET denied to every SFTP
 * operation and to every command naming it; under `purpose`, SCRATCH readable and writable over SFTP; under `ops`, a
 * remote forward to 127.0.0.1 (when `tunnels`) and every other exec (allow-the-rest after the deny). Partial masking.
 */
export function reviewPolicy(o: { secret: string; scratch: string; purpose: string; ops: string; tunnels: boolean }): SshPolicySpec {
  return {
    purposes: [o.purpose, o.ops],
    rules: [
      { name: 'secret-files', match: { ssh: { paths: [`${o.secret}/**`] } }, action: 'deny' },
      { name: 'secret-commands', match: { ssh: { commands: [`* ${o.secret}/*`] } }, action: 'deny' },
      { name: 'scratch-files', purposes: [o.purpose], match: { ssh: { requests: ['sftp'], operations: ['read', 'write', 'stat', 'list'], paths: [`${o.scratch}/**`] } }, action: 'allow' },
      ...(o.tunnels ? [{ name: 'tunnels', purposes: [o.ops], match: { ssh: { requests: ['remoteForward'], destinations: ['127.0.0.1:*'] } }, action: 'allow' }] : []),
      { name: 'ops-rest', purposes: [o.ops], match: { ssh: { requests: ['exec'] } }, action: 'allow' },
    ],
    masking: { style: 'partial' },
  };
}

/**
 * The AccessPolicy `name` in `namespace`: an SSH target (the sshd on 127.0.0.1:`sshdPort`, its credentials Secret
 * `name`-credentials) on the sidecar's `listenPort`, the harness IdP, group support, `spec`.
 */
export function sshAccessPolicy(o: { namespace: string; name: string; sshdPort: number; listenPort: number }, spec: SshPolicySpec): Record<string, unknown> {
  const { name } = o;
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name, namespace: o.namespace },
    spec: {
      podSelector: { matchLabels: { app: 'support-agent' } },
      target: { name, protocol: 'ssh', endpoint: `127.0.0.1:${o.sshdPort}`, listenPort: o.listenPort, credentialsSecretRef: { name: `${name}-credentials` } },
      identity: { oidc: { issuer: requireIdp().issuer, audiences: ['guarita'] } },
      subjects: [{ kind: 'Group', name: 'support' }],
      purposes: spec.purposes.map((p) => ({ name: p })),
      rules: spec.rules,
      ...(spec.masking === undefined ? {} : { masking: spec.masking }),
    },
  };
}

/** The agent: a raw ssh2 client on the sidecar's listener 127.0.0.1:`port`, authenticated with `token`, `purpose` as the user name. */
export function connectSshAgent(port: number, purpose: string, token: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('error', reject);
    c.on('ready', () => resolve(c));
    c.connect({ host: '127.0.0.1', port, username: purpose, password: token, hostVerifier: () => true, readyTimeout: 30_000 });
  });
}

function started<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the SSH scenario's ${what} is not started`);
  return value;
}

/**
 * One SSH target on the harness: namespaces `sc-<tag>-<id>` (the policy's) and `sc-<tag>op-<id>`
 * (the operator's). Made at module level; `start` in beforeAll, `stop` in afterAll (it stops
 * whatever a failed start left running).
 */
export class SshScenario {
  readonly id = suffix();
  readonly ns: string;
  readonly opNs: string;
  readonly policyName: string;
  #op: OperatorProcess | undefined;
  #sshd: SshdHandle | undefined;
  #fx: SidecarFixture | undefined;
  #sidecar: SidecarProcess | undefined;
  #work: string | undefined;
  #listenPort = 0;
  #token = '';
  #agentEnv: NodeJS.ProcessEnv | undefined;

  constructor(tag: string, policyName: string) {
    this.ns = `sc-${tag}-${this.id}`;
    this.opNs = `sc-${tag}op-${this.id}`;
    this.policyName = policyName;
  }

  get op(): OperatorProcess { return started(this.#op, 'operator'); }
  get sshd(): SshdHandle { return started(this.#sshd, 'sshd'); }
  get fx(): SidecarFixture { return started(this.#fx, 'sidecar fixture'); }
  get sidecar(): SidecarProcess { return started(this.#sidecar, 'sidecar'); }
  /** The sidecar's SSH listener on 127.0.0.1. */
  get listenPort(): number { return this.#listenPort; }
  /** The agent's IdP token (client support-agent, audience guarita). */
  get token(): string { return this.#token; }

  /** The AccessPolicy: this target (the sshd on 127.0.0.1, its credentials Secret), the harness IdP, group support, `spec`. */
  policy(spec: SshPolicySpec): Record<string, unknown> {
    return sshAccessPolicy({ namespace: this.ns, name: this.policyName, sshdPort: this.sshd.port, listenPort: this.#listenPort }, spec);
  }

  /**
   * The sshd (its state under `work`/sshd), the operator watching the namespace (audrey reads its
   * sessions), the credentials Secret and the policy `spec`, then the sidecar process with the
   * credentials mounted, and the agent's token.
   */
  async start(work: string, spec: SshPolicySpec): Promise<void> {
    this.#work = work;
    this.#sshd = await startSshd(join(work, 'sshd'));
    await installCrds();
    const opFx = await operatorFixture(this.opNs);
    await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: this.ns } }]);
    await grantSessionReaders(this.ns, { kind: 'User', name: 'audrey' });
    this.#op = await startOperator({ ...opFx, watchNamespaces: [this.ns] });
    await waitServing(this.#op);
    const credentials = { username: this.#sshd.user, 'ssh-privatekey': this.#sshd.clientKey, known_hosts: this.#sshd.knownHosts };
    [this.#listenPort = 0] = await freePorts(1);
    const name = this.policyName;
    await apply([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${name}-credentials`, namespace: this.ns }, stringData: credentials }, this.policy(spec)]);
    this.#fx = await sidecarFixture(this.ns);
    mountCredentials(this.#fx, name, credentials);
    this.#sidecar = await startSidecarProcess(this.#fx, {
      targets: [{ policy: name, target: name, protocol: 'ssh', listenPort: this.#listenPort } as unknown as TargetSpec], operatorUrl: this.#op.url,
      env: { GUARITA_SSH_DIR: join(this.#fx.dir, 'ssh') },
    });
    this.#token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
  }

  async stop(): Promise<void> {
    await this.#sidecar?.stop();
    await Promise.all([this.#op?.stop(), this.#sshd?.stop()]);
  }

  /** The agent: a raw ssh2 client, authenticated with its token, the purpose as the user name. */
  connectAgent(purpose: string): Promise<Client> {
    return connectSshAgent(this.#listenPort, purpose, this.#token);
  }

  /** Runs `command` under `purpose` on a connection of its own, writes `stdin` and closes it; stdout, stderr and the exit status. */
  async execWithInput(purpose: string, command: string, stdin: string): Promise<{ code: unknown; stdout: string; stderr: string }> {
    const c = await this.connectAgent(purpose);
    try {
      return await new Promise((resolve, reject) => c.exec(command, (err, ch) => {
        if (err) return reject(err);
        let stdout = '';
        let stderr = '';
        let code: unknown;
        ch.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
        ch.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
        ch.on('exit', (x: unknown) => { code = x; });
        ch.on('close', () => resolve({ code, stdout, stderr }));
        ch.end(stdin);
      }));
    } finally {
      c.end();
    }
  }

  /**
   * Runs OpenSSH's scp as the agent: the ssh_config the sidecar publishes for the target, the
   * token through SSH_ASKPASS (a token file and an askpass script in the work directory, HOME the
   * work directory); killed after 60 s.
   */
  scp(args: string[]): Promise<{ code: number | null; stderr: string }> {
    const sshConfig = join(this.fx.dir, 'ssh', this.policyName, 'ssh_config');
    const env = this.#openSshEnv();
    return new Promise((resolve) => {
      const child = spawn('scp', ['-F', sshConfig, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('close', (code) => { clearTimeout(timer); resolve({ code, stderr }); });
    });
  }

  #openSshEnv(): NodeJS.ProcessEnv {
    if (this.#agentEnv !== undefined) return this.#agentEnv;
    const work = started(this.#work, 'work directory');
    const tokenFile = join(work, 'token');
    writeFileSync(tokenFile, this.#token, { mode: 0o600 });
    const askpass = join(work, 'askpass.sh');
    writeFileSync(askpass, `#!/bin/sh\nexec cat ${tokenFile}\n`, { mode: 0o700 });
    this.#agentEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' };
    return this.#agentEnv;
  }

  /** The sidecar process's resident memory, in MiB. */
  async rssMiB(): Promise<number> {
    const status = readFileSync(`/proc/${await this.sidecar.pid()}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  }

  /** The highest RSS seen while polling for `ms`. */
  async peakRss(ms: number): Promise<number> {
    let peak = 0;
    const until = Date.now() + ms;
    while (Date.now() < until) {
      peak = Math.max(peak, await this.rssMiB());
      await new Promise((r) => setTimeout(r, 250));
    }
    return peak;
  }
}

/** An SFTP session opened on the agent's connection. */
export function sftpOf(c: Client): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) => c.sftp((err, s) => (err ? reject(err) : resolve(s))));
}

/** The agent asks the host to listen on 127.0.0.1:`port` (ssh -R); resolves once the sidecar accepted, or with the refusal. */
export function forwardIn(c: Client, port: number): Promise<Error | undefined> {
  return new Promise((resolve) => c.forwardIn('127.0.0.1', port, (err) => resolve(err ?? undefined)));
}

// ---- a raw SFTP session on a subsystem channel: packets written by hand ------------------------------

export function sftpPacket(type: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length + 1, 0);
  head[4] = type;
  return Buffer.concat([head, body]);
}
export const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0, 0); return b; };
export const u64 = (n: number): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n), 0); return b; };
export const str = (v: string | Buffer): Buffer => { const b = Buffer.isBuffer(v) ? v : Buffer.from(v); return Buffer.concat([u32(b.length), b]); };

/** SSH_FXP_READ `id` of `length` bytes at `offset` of `handle`. */
export const sftpRead = (id: number, handle: Buffer, offset: number, length: number): Buffer => sftpPacket(5, u32(id), str(handle), u64(offset), u32(length));

/** Opens `path` for reading over a raw SFTP channel; resolves with the channel (paused: nothing more is read) and the handle. */
export function rawOpen(c: Client, path: string): Promise<{ ch: ClientChannel; handle: Buffer }> {
  return new Promise((resolve, reject) => c.subsys('sftp', (err, ch) => {
    if (err) return reject(err);
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0);
        const type = buf[4];
        const payload = buf.subarray(5, 4 + len);
        buf = buf.subarray(4 + len);
        if (type === 2) ch.write(sftpPacket(3, u32(1), str(path), u32(1 /* READ */), u32(0)));
        else if (type === 102) {
          ch.off('data', onData);
          ch.pause();
          resolve({ ch, handle: Buffer.from(payload.subarray(4 + 4, 4 + 4 + payload.readUInt32BE(4))) });
        } else if (type === 101) reject(new Error(`open refused: ${payload.toString('latin1')}`));
      }
    };
    ch.on('data', onData);
    ch.write(sftpPacket(1, u32(3)));
  }));
}
