// Acting as the DPO: dana approves (kubectl patch, her own kubeconfig) the first ApprovalRequest an
// agent's held command created, as the example's runbook tells her to.
import type { ApprovalRequest } from '../../crds/types.ts';
import { kubectl } from '../harness/state.ts';
import type { Ran } from './agent.ts';

/**
 * Polls the namespace's ApprovalRequests every 500 ms while `stillWaiting()` says so; approves the
 * first whose command `matches` and returns its name, or undefined once waiting stopped.
 */
export async function approveFirstHeld(namespace: string, matches: (commandText: string) => boolean, stillWaiting: () => boolean = () => true): Promise<string | undefined> {
  while (stillWaiting()) {
    const list = await kubectl(['get', 'approvalrequests', '-n', namespace, '-o', 'json'], { user: 'admin' });
    const held = (JSON.parse(list.stdout) as { items: ApprovalRequest[] }).items.find((r) => matches(r.spec.command.text));
    if (held !== undefined) {
      const patch = JSON.stringify([{ op: 'add', path: '/spec/reviews/-', value: { decision: 'Approved', reason: 'ticket 4711' } }]);
      const approved = await kubectl(['patch', 'approvalrequest', held.metadata.name, '-n', namespace, '--type=json', '-p', patch], { user: 'dana' });
      if (approved.code !== 0) throw new Error(`dana's approval failed: ${approved.stderr}`);
      return held.metadata.name;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return undefined;
}

/**
 * Runs an agent while acting as the DPO beside it: approves the first ApprovalRequest whose command
 * `matches` (`held` names it for the failure message), polling until the agent ends (or 4 min).
 * Returns the agent's run and the approved request's name, or why none was approved.
 */
export async function runApprovingHeld(namespace: string, matches: (commandText: string) => boolean, held: string, run: () => Promise<Ran>): Promise<{ ran: Ran; approval: string }> {
  let done = false;
  let polls = 0;
  const running = run().finally(() => { done = true; });
  const approving = approveFirstHeld(namespace, matches, () => polls++ < 480 && !done)
    .then((name) => name ?? `${held} created no ApprovalRequest before the agent ended (or in 4 min)`, (err: unknown) => String(err));
  const [ran, approval] = await Promise.all([running, approving]);
  return { ran, approval };
}
