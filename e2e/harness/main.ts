// Runs the harness standalone, for the demo and for a fast test loop:
//   node e2e/harness/main.ts [--components kube,postgres,idp] [--run-dir DIR] [--state-file FILE]
// Prints every coordinate, writes the state file, and runs until Ctrl-C (or SIGTERM). If a
// component dies on its own, it says so, stops the rest and exits 1.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startHarness, type Harness } from './index.ts';
import { connectionUrl, POSTGRES_ROLES } from './psql.ts';
import { ALL_COMPONENTS, HARNESS_STATE_ENV, writeHarnessState, type HarnessComponent, type HarnessState } from './state.ts';
import { logTail } from './supervisor.ts';
import { TEST_USER_NAMES, TEST_USERS } from './users.ts';

function parseComponents(raw: string | undefined): HarnessComponent[] {
  if (raw === undefined) return [...ALL_COMPONENTS];
  const list = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const c of list) {
    if (!(ALL_COMPONENTS as readonly string[]).includes(c)) throw new Error(`unknown component '${c}' (known: ${ALL_COMPONENTS.join(', ')})`);
  }
  return list as HarnessComponent[];
}

function describeKube(state: HarnessState): string[] {
  const kube = state.kube;
  if (kube === undefined) return [];
  return [
    `kube-apiserver  ${kube.apiserverUrl}  (CA ${kube.caFile})`,
    ...TEST_USER_NAMES.map((u) => `  ${u.padEnd(7)} groups [${TEST_USERS[u].groups.join(', ')}]  KUBECONFIG=${kube.kubeconfigs[u]}`),
  ];
}

function describePostgres(state: HarnessState): string[] {
  const pg = state.postgres;
  if (pg === undefined) return [];
  return [`postgres        127.0.0.1:${pg.port}  (socket dir ${pg.socketDir})`, ...POSTGRES_ROLES.map((r) => `  ${r.padEnd(14)} ${connectionUrl(pg, r)}`)];
}

function describeIdp(state: HarnessState): string[] {
  const idp = state.idp;
  if (idp === undefined) return [];
  return [
    `oidc idp        ${idp.issuer}  (token endpoint ${idp.tokenEndpoint}, jwks ${idp.jwksUri})`,
    ...Object.entries(idp.clients).map(([id, c]) => `  ${id.padEnd(17)} secret ${c.secret}  groups [${c.groups.join(', ')}]`),
  ];
}

/** Resolves when a component exits on its own (never, normally). */
function watchForCrash(harness: Harness, isStopping: () => boolean): Promise<string> {
  return new Promise((resolveCrash) => {
    const timer = setInterval(() => {
      if (isStopping()) return clearInterval(timer);
      const dead = harness.state.processes.find((p) => { try { process.kill(p.pid, 0); return false; } catch { return true; } });
      if (dead === undefined) return;
      clearInterval(timer);
      resolveCrash(`${dead.name} exited unexpectedly; last lines of ${dead.logFile}:\n${logTail(dead.logFile)}`);
    }, 2000);
  });
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { components: { type: 'string' }, 'run-dir': { type: 'string' }, 'state-file': { type: 'string' } } });
  const harness = await startHarness({ components: parseComponents(values.components), ...(values['run-dir'] === undefined ? {} : { runDir: values['run-dir'] }) });
  const stateFile = values['state-file'] ?? join(harness.state.runDir, 'state.json');
  writeHarnessState(stateFile, harness.state);
  const lines = [...describeKube(harness.state), ...describePostgres(harness.state), ...describeIdp(harness.state)];
  process.stdout.write(`\n${lines.join('\n')}\n\nlogs: ${harness.state.runDir}/logs\nexport ${HARNESS_STATE_ENV}=${stateFile}\n`);
  if (harness.state.kube !== undefined) process.stdout.write(`export KUBECONFIG=${harness.state.kube.kubeconfigs.admin}\n`);
  process.stdout.write('\nRunning. Press Ctrl-C to stop.\n');

  let stopping = false;
  const signalled = new Promise<string>((resolveSignal) => {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => resolveSignal(sig));
  });
  const reason = await Promise.race([signalled, watchForCrash(harness, () => stopping)]);
  stopping = true;
  const crashed = !reason.startsWith('SIG');
  process.stderr.write(crashed ? `${reason}\n` : `\n${reason} received\n`);
  await harness.stop();
  return crashed ? 1 : 0;
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
