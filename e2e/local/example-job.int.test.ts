// The example's agent Job (examples/lgpd-orders/agent-job.yaml) end to end on the local control
// plane, as a cluster would run it: its pod template created through the apiserver (the webhook
// injects the sidecar), the policies with their own service-account identity (TokenReview, no
// IdP), the injected sidecar started from the stored pod spec, and the agent container's own
// script run with its materialised token and injected environment: real psql and wget through the
// sidecar. The DPO approves the held export with kubectl patch; the output passes the same checks
// as on kind (e2e/kind/scenario.ts checkAgentOutput). Only the database and customers API are the
// harness's instead of the example's Deployments (no kubelet runs images here).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { kubectl, loadHarnessState } from '../harness/state.ts';
import { adminApi } from '../support/kube-apply.ts';
import { checkAgentOutput } from '../kind/scenario.ts';
import { EXPORT_SQL } from '../kind/manifests.ts';
import { collect, type Ran } from './agent.ts';
import { approveFirstHeld } from './approver.ts';
import { materialiseContainer } from './kubelet.ts';
import { startStack, type Stack } from './stack.ts';

let stack: Stack | undefined;

beforeAll(async () => {
  stack = await startStack({ agent: 'job', approvalWait: '10s', progress: () => undefined });
}, 240_000);

afterAll(async () => {
  await stack?.stop();
});

/** The agent container of the stored pod, run like the kubelet would: its command, environment and volumes. */
async function runAgent(s: Stack): Promise<Ran> {
  const root = join(loadHarnessState().runDir, `stack-${s.id}`, 'agent');
  const agent = await materialiseContainer(adminApi(), s.pod, 'agent', root);
  // The script names its token file; the volume is materialised under the local root.
  const command = agent.command.map((part) => Object.entries(agent.mounts).reduce((text, [path, local]) => text.replaceAll(path, local), part));
  const [file = 'sh', ...args] = command;
  const env = { PATH: process.env.PATH ?? '', HOME: root, ...agent.env };
  return collect(spawn(file, args, { env, cwd: root }), '');
}

async function approveWhenHeld(s: Stack): Promise<string> {
  const name = await approveFirstHeld(s.namespace, (text) => text === EXPORT_SQL);
  if (name === undefined) throw new Error('unreachable: approveFirstHeld waits until one is held');
  return name;
}

describe('the example\'s agent Job on the local control plane', () => {
  it('reads masked rows, is denied the DELETE, waits for the DPO, exports once, reads the API masked', async () => {
    const s = stack;
    if (s === undefined) throw new Error('the stack did not start');
    expect(s.pod.spec.initContainers?.[0]?.name).toBe('guarita-proxy');
    const [ran, approval] = await Promise.all([runAgent(s), approveWhenHeld(s)]);
    const detail = `agent exited ${ran.code}\n--- stdout ---\n${ran.stdout}\n--- stderr ---\n${ran.stderr}\n--- sidecar ---\n${s.sidecar.log(40)}`;
    expect({ code: ran.code, detail: ran.code === 0 ? '' : detail }).toEqual({ code: 0, detail: '' });
    expect(() => checkAgentOutput(ran.stdout)).not.toThrow();
    const consumed = await kubectl(['get', 'approvalrequest', approval, '-n', s.namespace, '-o', 'jsonpath={.status.phase}'], { user: 'admin' });
    expect(consumed.stdout).toBe('Consumed');
  }, 240_000);
});
