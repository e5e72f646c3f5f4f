// The README's install block on a real cluster (kind), every line, run by e2e/kind/run.sh with
// GUARITA_KIND_SCENARIO=readme after the image is built and loaded. One substitution, in the helm
// install line, for what a kind cluster is and what CI built:
// - kind's apiserver presents no client certificate to webhooks, so instead of
//   `--set-file webhook.clientAuth.caBundle=...` the webhook takes mode none with the NetworkPolicy
//   admitting the kind network only (as e2e/kind/values.yaml does);
// - the image is the one built and loaded into kind (pullPolicy Never), the store volume small.
// `guarita` is this checkout's cli/bin/guarita. Then the agent's output passes the scenario's
// checks (masked rows, denied DELETE, the export held and run once, the API read masked).
//
//   GUARITA_IMAGE=guarita:e2e node e2e/kind/readme.ts
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../harness/exec.ts';
import { REPO_ROOT } from '../harness/paths.ts';
import { installCommands } from '../support/readme.ts';
import { AGENT, AGENTS_NAMESPACE } from './manifests.ts';
import { checkAgentOutput } from './scenario.ts';

const CLIENT_AUTH = /--set-file webhook\.clientAuth\.caBundle=\S+/;

/** The kind cluster's replacement of the README's webhook client CA, and the image CI built. */
export function kindHelmValues(image: string): string[] {
  const colon = image.lastIndexOf(':');
  const [repository, tag] = colon > 0 ? [image.slice(0, colon), image.slice(colon + 1)] : [image, 'latest'];
  return [
    '--set webhook.clientAuth.mode=none', "--set 'networkPolicy.webhookFrom[0].ipBlock.cidr=172.16.0.0/12'",
    `--set image.repository=${repository}`, `--set image.tag=${tag}`, '--set image.pullPolicy=Never',
    '--set operator.store.persistence.size=1Gi', '--set sidecar.startupTimeout=180s',
  ];
}

/** The README's commands as one bash script for kind, each preceded by a marker naming its line. */
export function kindScript(commands: readonly string[], image: string): string {
  const helm = commands.filter((c) => c.startsWith('helm install ') && CLIENT_AUTH.test(c));
  if (helm.length !== 1) throw new Error('the README install block must have one helm install line with --set-file webhook.clientAuth.caBundle=...');
  return commands.map((c, i) => {
    const line = c.startsWith('helm install ') ? c.replace(CLIENT_AUTH, kindHelmValues(image).join(' ')) : c;
    return `echo "::line ${i}: ${c.slice(0, 60).replace(/["$`\\]/g, '')}" >&2\n${line}`;
  }).join('\n');
}

async function main(): Promise<void> {
  const image = process.env.GUARITA_IMAGE ?? 'guarita:e2e';
  const bin = mkdtempSync(join(tmpdir(), 'guarita-readme-bin-'));
  mkdirSync(bin, { recursive: true });
  symlinkSync(join(REPO_ROOT, 'cli/bin/guarita'), join(bin, 'guarita'));
  const script = kindScript(installCommands(), image);
  // Its own process group: the README's port-forward runs in the background and ends with it.
  const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: REPO_ROOT, detached: true, stdio: 'inherit', env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` } });
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
  } catch { /* already gone */ }
  if (code !== 0) throw new Error(`the README install block failed (exit ${code}) at the line marked last above`);
  const logs = await runCommand('kubectl', ['-n', AGENTS_NAMESPACE, 'logs', `job/${AGENT}`, '-c', 'agent'], { timeoutMs: 60_000 });
  if (logs.code !== 0) throw new Error(`kubectl logs job/${AGENT}: ${logs.stderr}`);
  checkAgentOutput(logs.stdout);
  process.stdout.write('[readme] the README install block passed on kind\n');
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`[readme] FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
