// `npm run demo`: Guarita on its embedded default. Starts the local control plane, PostgreSQL with
// the example's customers, the IdP, the operator, the webhook and the injected sidecar of the
// example agent; prints copy-pasteable next steps and runs until Ctrl-C.
// `npm run demo -- --scripted` runs the LGPD scenario unattended and exits 0 only if every step
// behaved as expected.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startHarness } from '../harness/index.ts';
import { HARNESS_STATE_ENV, writeHarnessState, type HarnessState } from '../harness/state.ts';
import { startStack, type Stack } from './stack.ts';
import { runScenario } from './scenario.ts';
import { agentTokenCommand } from './agent.ts';

function nextSteps(stack: Stack, stateFile: string, kubeconfigs: Record<string, string>): string {
  const kube = stack.pod.metadata.namespace;
  const env = stack.agentEnv;
  const as = (user: string): string => `KUBECONFIG=${kubeconfigs[user] ?? ''}`;
  return `
Guarita is running on the local control plane.

  agent namespace   ${kube}   (pod support-agent, injected with the guarita-proxy sidecar)
  operator          ${stack.operator.url}
  sidecar admin     ${stack.sidecar.adminUrl}/metrics

Act as the support agent (an OIDC token from the local IdP is the password; the purpose travels in PGOPTIONS):
  export PGPASSWORD=$(${agentTokenCommand('support-agent', stateFile)})
  PGOPTIONS='-c guarita.purpose=customer-support' psql "host=${env.PGHOST ?? '127.0.0.1'} port=${env.PGPORT ?? ''} dbname=orders user=agent sslmode=disable" \\
    -c 'SELECT id, nome, cpf, email FROM customers LIMIT 5'          # masked
  ... -c 'DROP TABLE customers'                                       # denied by rule deny-ddl-and-dcl
  ... -c 'COPY customers TO STDOUT'                                   # held for the DPO's approval

  curl -H "Authorization: Bearer $PGPASSWORD" -H 'X-Guarita-Purpose: customer-support' ${env.CUSTOMERS_API_URL ?? ''}/customers/1

Approve as the DPO (dana is in group dpo):
  ${as('dana')} .cache/bin/kubectl get approvalrequests -n ${kube}
  ${as('dana')} cli/bin/guarita approve NAME -n ${kube} --reason 'ticket 4711'

Audit as audrey (group auditors):
  export GUARITA_OPERATOR_URL=${stack.operator.url} GUARITA_OPERATOR_CA=${kubeconfigs.ca ?? ''}
  ${as('audrey')} cli/bin/guarita sessions list -n ${kube}
  ${as('audrey')} cli/bin/guarita verify --policy orders-db -n ${kube}

Kubeconfigs for admin, alice, carl, dana, dave, audrey and eve are listed above; the harness state is ${stateFile}
(export ${HARNESS_STATE_ENV}=${stateFile} to run integration tests against this control plane).
Press Ctrl-C to stop and clean up.
`;
}

function kubeconfigsOf(state: HarnessState): Record<string, string> {
  const kube = state.kube;
  if (kube === undefined) return {};
  for (const [user, file] of Object.entries(kube.kubeconfigs)) process.stdout.write(`  kubeconfig ${user.padEnd(7)} ${file}\n`);
  return { ...kube.kubeconfigs, ca: kube.caFile };
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { scripted: { type: 'boolean', default: false } } });
  const harness = await startHarness();
  const stateFile = join(harness.state.runDir, 'state.json');
  writeHarnessState(stateFile, harness.state);
  process.env[HARNESS_STATE_ENV] = stateFile;
  let stack: Stack | undefined;
  try {
    stack = await startStack({ namespace: 'lgpd-orders', systemNamespace: 'guarita-system', approvalWait: values.scripted ? '30s' : '120s' });
    if (values.scripted) {
      const report = await runScenario(stack, (line) => process.stdout.write(`${line}\n`));
      writeFileSync(join(harness.state.runDir, 'scenario.json'), JSON.stringify(report, null, 2));
      return report.every((s) => s.ok) ? 0 : 1;
    }
    process.stdout.write(nextSteps(stack, stateFile, kubeconfigsOf(harness.state)));
    await new Promise<void>((resolve) => { for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve()); });
    return 0;
  } finally {
    process.stderr.write('stopping ...\n');
    await stack?.stop();
    await harness.stop();
  }
}

if (import.meta.main) {
  main().then((code) => process.exit(code), (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
