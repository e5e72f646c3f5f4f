// For the SSH integration tests that run the sidecar in this process (evidence-round12b-attacks.int,
// ssh-round12c-attacks.int, ssh-terminal-escapes.int): the real OpenSSH sshd (e2e/harness/sshd.ts), the
// harness IdP for the agent's token and the harness kube-apiserver for one AccessPolicy of the test's,
// the real sidecar started in this process (so a test can reach its listeners, enforcer and spool, and
// hook the spool's faults); the agent's side is a raw ssh2 client; records are read from the spool's
// segment files.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'ssh2';
import { freePorts } from '../../e2e/harness/ports.ts';
import { startSshd, type SshdHandle } from '../../e2e/harness/sshd.ts';
import { getToken } from '../../e2e/harness/state.ts';
import { apply } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/log.ts';
import { startSidecar, type RunningSidecar, type StartOptions } from '../src/sidecar.ts';
import { connectSshAgent, sshAccessPolicy } from './ssh-scenario.ts';
import { spoolDirRecords } from './spool-read.ts';
import { mountCredentials, NO_OPERATOR, sidecarEnv, sidecarFixture, type SidecarFixture, type TargetSpec } from './support.ts';

/** A spool record as the SSH tests read it. */
export type SshSpoolRecord = Record<string, unknown> & { type?: string; command?: string; result?: Record<string, unknown>; decision?: string; channel?: number };

function started<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the in-process SSH scenario's ${what} is not started`);
  return value;
}

/**
 * One SSH target on the harness, the sidecar in this process: namespace `<tag>-<id>`, work directory
 * `<tmp>/<tag>-…` (with an empty `data` directory for the test's files). Made at module level; `start`
 * in beforeAll, `stop` in afterAll (it stops whatever a failed start left running).
 */
export class InProcessSshScenario {
  readonly tag: string;
  readonly policyName: string;
  /** The AccessPolicy's one purpose, the agent's user name. */
  readonly purpose: string;
  readonly ns: string;
  #work: string | undefined;
  #sshd: SshdHandle | undefined;
  #fx: SidecarFixture | undefined;
  #sidecar: RunningSidecar | undefined;
  #listenPort = 0;
  #token = '';
  /** With `failingSpool` started: while true, every spool write fails (as EIO would) — the spool's own fault hook. */
  failWrites = false;

  constructor(tag: string, policyName: string, purpose: string) {
    this.tag = tag;
    this.policyName = policyName;
    this.purpose = purpose;
    this.ns = `${tag}-${suffix()}`;
  }

  get work(): string { return started(this.#work, 'work directory'); }
  get sshd(): SshdHandle { return started(this.#sshd, 'sshd'); }
  get fx(): SidecarFixture { return started(this.#fx, 'sidecar fixture'); }
  get sidecar(): RunningSidecar { return started(this.#sidecar, 'sidecar'); }
  /** The sidecar's SSH listener on 127.0.0.1. */
  get listenPort(): number { return this.#listenPort; }
  /** The agent's IdP token (client support-agent, audience guarita). */
  get token(): string { return this.#token; }

  /**
   * The sshd (its state under the work directory), the namespace, the credentials Secret and the
   * AccessPolicy (this target, the purpose, `rules`, partial masking), then the sidecar in this
   * process with the credentials mounted (`env` added to its environment, `options` to its start),
   * and the agent's token. With `failingSpool`, the spool's fault hook fails every write while `failWrites`.
   */
  async start(o: { rules: unknown[]; env?: Record<string, string>; failingSpool?: boolean }): Promise<void> {
    this.#work = mkdtempSync(join(tmpdir(), `${this.tag}-`));
    mkdirSync(join(this.#work, 'data'));
    this.#sshd = await startSshd(join(this.#work, 'sshd'));
    await installCrds();
    await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: this.ns } }]);
    const [listenPort = 0, adminPort = 0] = await freePorts(2);
    this.#listenPort = listenPort;
    const fx = await sidecarFixture(this.ns);
    this.#fx = fx;
    const name = this.policyName;
    const credentials = { username: this.#sshd.user, 'ssh-privatekey': this.#sshd.clientKey, known_hosts: this.#sshd.knownHosts };
    mountCredentials(fx, name, credentials);
    await apply([
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${name}-credentials`, namespace: this.ns }, stringData: credentials },
      sshAccessPolicy({ namespace: this.ns, name, sshdPort: this.#sshd.port, listenPort }, { purposes: [this.purpose], rules: o.rules, masking: { style: 'partial' } }),
    ]);
    const targets = [{ policy: name, target: name, protocol: 'ssh', listenPort } as unknown as TargetSpec];
    const config = loadConfig(sidecarEnv(fx, { targets, operatorUrl: NO_OPERATOR, env: { GUARITA_SSH_DIR: join(fx.dir, 'ssh'), ...o.env } }, adminPort));
    const options: StartOptions = o.failingSpool === true ? { spoolFaults: { beforeWrite: () => { if (this.failWrites) throw new Error('EIO: injected write failure'); } } } : {};
    this.#sidecar = await startSidecar(config, silentLogger(), options);
    await this.#sidecar.ready;
    this.#token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
  }

  async stop(): Promise<void> {
    this.failWrites = false;
    await this.#sidecar?.shutdown('test done');
    await this.#sshd?.stop();
  }

  /** The agent: a raw ssh2 client on the sidecar's listener, authenticated with its token, the purpose as the user name. */
  connectAgent(): Promise<Client> {
    return connectSshAgent(this.#listenPort, this.purpose, this.#token);
  }

  /** Runs `command` over a new connection; its stdout as the agent receives it (UTF-8), or its stderr when it printed nothing. */
  async run(command: string): Promise<string> {
    const c = await this.connectAgent();
    try {
      return await new Promise<string>((resolve, reject) => c.exec(command, (err, ch) => {
        if (err) return reject(err);
        let out = '';
        ch.on('data', (d: Buffer) => { out += d.toString('utf8'); });
        let stderr = '';
        ch.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
        ch.on('close', () => resolve(out === '' ? `(no output; stderr: ${stderr})` : out));
      }));
    } finally {
      c.end();
    }
  }

  /** Every record the sidecar's spool holds (its segments, each read up to its padding). */
  spoolRecords(): SshSpoolRecord[] {
    return spoolDirRecords<SshSpoolRecord>(this.fx.spoolDir, { untilNul: true });
  }

  /** Waits until the spool takes writes again. */
  async spoolWritable(): Promise<void> {
    await eventually('the spool takes writes again', () => Promise.resolve(this.sidecar.spool.health().ok ? true : undefined), 10_000, 200);
  }
}

/** Starts `command` on a new exec channel of `c`; resolves once the sidecar accepted the channel (the output is not read). */
export function startExec(c: Client, command: string): Promise<void> {
  return new Promise<void>((resolve, reject) => c.exec(command, (err) => (err ? reject(err) : resolve())));
}

/** The agent's ssh is killed: its TCP connection goes away without a channel close. */
export function dropConnection(c: Client): void {
  (c as unknown as { _sock: { destroy(): void } })._sock.destroy();
}
