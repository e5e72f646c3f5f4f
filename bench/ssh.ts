// SSH path benchmark: the real OpenSSH client against the harness-style sshd straight vs through
// the real sidecar process (the agent's service-account token verified per connection, the live
// AccessPolicy, the command judged, output masked and recorded as stream frames), same sshd,
// same run, alternated in rounds so drift moves both sides alike.
//   - ssh.execAddedP50Ms: one `ssh host true` (a new connection each: key exchange,
//     authentication, exec), p50 proxied − direct;
//   - ssh.execPathAddedP50Ms: one `ssh host cat FILE` the same way: a path argument the sidecar
//     resolves on the host (an SFTP channel, realpath) before judging the command;
//   - ssh.throughputRatio: `cat` of a 100 MB text file (--quick: 20 MB) to /dev/null, MB/s
//     proxied ÷ direct.
//   node bench/ssh.ts [--quick]   (uses $GUARITA_HARNESS_STATE, or starts a harness)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureHarness } from '../e2e/harness/index.ts';
import { freePorts } from '../e2e/harness/ports.ts';
import { startSshd, type SshdHandle } from '../e2e/harness/sshd.ts';
import { apply, createServiceAccount, serviceAccountToken } from '../e2e/support/kube-apply.ts';
import { installCrds } from '../e2e/support/kubectl.ts';
import { mountCredentials, NO_OPERATOR, sidecarFixture, startSidecarProcess, type SidecarProcess, type TargetSpec } from '../sidecar/test/support.ts';
import { alternated, percentile, sidecarNodeOptions } from './support.ts';

const PURPOSE = 'diagnostics';
const TARGET = 'orders-host';

interface Side { args: string[]; env: NodeJS.ProcessEnv }

function run(side: Side, command: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('ssh', [...side.args, command], { env: side.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`ssh ${command}: exit ${code}: ${stderr.trim()}`))));
  });
}

async function execP50(side: Side, count: number, command = 'true'): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) samples.push(await run(side, command));
  samples.sort((a, b) => a - b);
  return percentile(samples, 50);
}

async function catMBps(side: Side, file: string, mb: number): Promise<number> {
  return mb / ((await run(side, `cat ${file}`)) / 1000);
}

async function setUp(work: string, sshd: SshdHandle): Promise<{ direct: Side; proxied: Side; sidecar: SidecarProcess }> {
  const ns = `bench-ssh-${process.pid}`;
  await installCrds();
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  await createServiceAccount(ns, 'support-agent');
  const credentials = { username: sshd.user, 'ssh-privatekey': sshd.clientKey, known_hosts: sshd.knownHosts };
  const [listenPort = 0] = await freePorts(1);
  await apply([
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${TARGET}-credentials`, namespace: ns }, stringData: credentials },
    {
      apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: TARGET, namespace: ns },
      spec: {
        podSelector: { matchLabels: { app: 'support-agent' } },
        target: { name: TARGET, protocol: 'ssh', endpoint: `127.0.0.1:${sshd.port}`, listenPort, credentialsSecretRef: { name: `${TARGET}-credentials` } },
        identity: { serviceAccounts: { audiences: ['guarita'] } },
        subjects: [{ kind: 'ServiceAccount', name: 'support-agent', namespace: ns }],
        purposes: [{ name: PURPOSE }],
        rules: [{ name: 'diagnostics', match: { ssh: { commands: ['true', 'cat *'] } }, action: 'allow' }],
        masking: { style: 'partial' },
      },
    },
  ]);
  const fx = await sidecarFixture(ns);
  mountCredentials(fx, TARGET, credentials);
  const sshDir = join(fx.dir, 'ssh');
  // No operator in this run: records stay in the spool (recorded all the same). Every connection
  // is a new session with a TokenReview: the per-source limit is raised for the benchmark.
  const sidecar = await startSidecarProcess(fx, {
    targets: [{ policy: TARGET, target: TARGET, protocol: 'ssh', listenPort } as unknown as TargetSpec],
    operatorUrl: NO_OPERATOR,
    env: { GUARITA_LOG_LEVEL: 'warn', GUARITA_SSH_DIR: sshDir, GUARITA_TOKENREVIEW_BURST: '100000', GUARITA_TOKENREVIEW_PER_MINUTE: '1000000', ...sidecarNodeOptions() },
  });
  const tokenFile = join(work, 'token');
  writeFileSync(tokenFile, await serviceAccountToken(ns, 'support-agent', 'guarita', 7200), { mode: 0o600 });
  const askpass = join(work, 'askpass.sh');
  writeFileSync(askpass, `#!/bin/sh\nexec cat ${tokenFile}\n`, { mode: 0o700 });
  const knownHosts = join(work, 'known_hosts');
  writeFileSync(knownHosts, sshd.knownHosts);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work };
  return {
    sidecar,
    direct: { env, args: ['-i', sshd.clientKeyFile, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-p', String(sshd.port), `${sshd.user}@127.0.0.1`] },
    proxied: { env: { ...env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force' }, args: ['-F', join(sshDir, TARGET, 'ssh_config'), `${PURPOSE}@${TARGET}`] },
  };
}

export async function benchSsh(opts: { quick: boolean }): Promise<Record<string, number>> {
  const work = mkdtempSync(join(tmpdir(), 'guarita-bench-ssh-'));
  const sshd = await startSshd(join(work, 'sshd'));
  const mb = opts.quick ? 20 : 100;
  const file = join(work, 'big.txt');
  const small = join(work, 'small.txt');
  writeFileSync(small, 'pedido 12345 status enviado\n');
  // Text the masker scans in full (no identifiers in it, so the output keeps its size).
  const line = 'pedido 12345 status enviado transportadora ok 2026-12-05 lote a\n';
  writeFileSync(file, line.repeat(Math.ceil((mb * 1024 * 1024) / line.length)));
  const { direct, proxied, sidecar } = await setUp(work, sshd);
  const rounds = opts.quick ? 3 : 5;
  const count = opts.quick ? 5 : 15;
  try {
    // Warm both paths (the sidecar's first TokenReview and upstream connection, the page cache).
    await run(direct, 'true');
    await run(proxied, 'true');
    const latency = await alternated(rounds, () => execP50(direct, count), () => execP50(proxied, count));
    const pathLatency = await alternated(rounds, () => execP50(direct, count, `cat ${small}`), () => execP50(proxied, count, `cat ${small}`));
    const throughput = await alternated(opts.quick ? 2 : 3, () => catMBps(direct, file, mb), () => catMBps(proxied, file, mb));
    return {
      'ssh.directExecP50Ms': latency.baseline, 'ssh.proxyExecP50Ms': latency.measured, 'ssh.execAddedP50Ms': latency.measured - latency.baseline,
      'ssh.directExecPathP50Ms': pathLatency.baseline, 'ssh.proxyExecPathP50Ms': pathLatency.measured, 'ssh.execPathAddedP50Ms': pathLatency.measured - pathLatency.baseline,
      'ssh.directCatMBps': throughput.baseline, 'ssh.proxyCatMBps': throughput.measured, 'ssh.throughputRatio': throughput.ratio,
    };
  } finally {
    await sidecar.stop();
    await sshd.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  const harness = await ensureHarness();
  try {
    process.stdout.write(`${JSON.stringify(await benchSsh({ quick: values.quick }), null, 2)}\n`);
  } finally {
    await harness?.stop();
  }
}
