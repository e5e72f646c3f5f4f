// Acting as the DPO: dana approves (kubectl patch, her own kubeconfig) the first ApprovalRequest an
// agent's held command created, as the example's runbook tells her to.
import type { ApprovalRequest } from '../../crds/types.ts';
import { kubectl } from '../harness/state.ts';

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
