// Shared by `guarita approve` and `guarita deny`: show what is being decided, then append the review.
import type { CliIo } from './io.ts';
import { COMMON_OPTIONS, outputFormat, parseFlags, UsageError } from './args.ts';
import { loadKube } from './kube.ts';
import { paint, writeStructured } from './output.ts';
import { appendReview, getApprovalRequest, kubectlPatchCommand, phaseOf, type Decision } from './approval-requests.ts';
import type { ApprovalRequest } from '../../crds/types.ts';

function help(verb: string, decision: Decision): string {
  return `usage: guarita ${verb} NAME --reason "..." [-n NAMESPACE] [-o json|yaml]

${decision === 'Approved' ? 'Approves' : 'Denies'} an ApprovalRequest as you (your kubeconfig identity). The admission webhook
records your authenticated name; you must be in one of the rule's approver groups and not the requester.
${decision === 'Denied' ? 'One denial ends the request.\n' : 'The sidecar runs the command once when enough approvals are counted.\n'}
Equivalent kubectl command:
  ${kubectlPatchCommand('NAME', 'NAMESPACE', decision, 'REASON')}
`;
}

function describe(r: ApprovalRequest, io: CliIo): void {
  const p = paint(io.stderr, io.env);
  const lines = [
    `${p.bold('ApprovalRequest')} ${r.metadata.namespace ?? ''}/${r.metadata.name}  (${phaseOf(r)})`,
    `  requester: ${r.spec.requester.username}${r.spec.requester.groups?.length ? ` (groups: ${r.spec.requester.groups.join(', ')})` : ''}`,
    `  purpose:   ${r.spec.purpose}`,
    `  policy:    ${r.spec.policyRef.name}, rule ${r.spec.rule}`,
    `  target:    ${r.spec.target.name} (${r.spec.target.protocol}), pod ${r.spec.podRef.name}`,
    `  expires:   ${r.spec.expiresAt}`,
    `  command:   ${r.spec.command.text.split('\n').join('\n             ')}`,
  ];
  io.stderr.write(`${lines.join('\n')}\n`);
}

export async function decide(argv: string[], io: CliIo, verb: string, decision: Decision): Promise<number> {
  const { values, positionals } = parseFlags(argv, { ...COMMON_OPTIONS, reason: { type: 'string', short: 'r' } }, verb);
  if (values.help === true) {
    io.stdout.write(help(verb, decision));
    return 0;
  }
  const name = positionals[0];
  if (name === undefined) throw new UsageError(`guarita ${verb}: name the ApprovalRequest (see 'guarita approvals list')`);
  if (values.reason === undefined || values.reason.trim() === '') throw new UsageError(`guarita ${verb}: --reason is required; it is kept in the audit trail`);
  const format = outputFormat(values.output);
  const kube = loadKube(values, io.env);
  const request = await getApprovalRequest(kube, name);
  describe(request, io);
  const phase = phaseOf(request);
  if (phase !== 'Pending') throw new UsageError(`ApprovalRequest ${name} is already ${phase}; nothing to decide`);
  const updated = await appendReview(kube, request, decision, values.reason);
  if (format !== 'table') writeStructured(io, format, updated);
  else io.stdout.write(`approvalrequest.guarita.io/${name} ${decision === 'Approved' ? 'approved' : 'denied'} by you; reason recorded\n`);
  return 0;
}
