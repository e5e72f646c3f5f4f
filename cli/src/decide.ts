// Shared by `guarita approve` and `guarita deny`: show what is being decided, then append the review.
import { createInterface } from 'node:readline';
import type { CliIo } from './io.ts';
import { COMMON_OPTIONS, outputFormat, parseFlags, UsageError } from './args.ts';
import { loadKube } from './kube.ts';
import { paint, writeStructured } from './output.ts';
import { describeRequest } from './approval-describe.ts';
import { inertLine } from './inert.ts';
import { appendReview, getApprovalRequest, kubectlPatchCommand, phaseOf, type Decision } from './approval-requests.ts';

function help(verb: string, decision: Decision): string {
  return `usage: guarita ${verb} NAME --reason "..." [--yes] [-n NAMESPACE] [-o json|yaml]

${decision === 'Approved' ? 'Approves' : 'Denies'} an ApprovalRequest as you (your kubeconfig identity). The admission webhook
records your authenticated name; you must be in one of the rule's approver groups and not the requester.
${decision === 'Denied' ? 'One denial ends the request.\n' : 'The sidecar runs the command once when enough approvals are counted.\n'}
The request is shown first, its command whole (control characters as \\u escapes, each newline
as a line). On a terminal you then confirm (y/N); -y, --yes decides without asking. Without a
terminal (scripts) nothing is asked.
Equivalent kubectl command:
  ${kubectlPatchCommand('NAME', 'NAMESPACE', decision, 'REASON')}
`;
}

/**
 * On a terminal (stdin and stderr both TTYs) and without --yes, the approver confirms after reading
 * the whole request: the list row shows only a command's first line. Scripts (no TTY) are not asked.
 */
export async function confirmed(io: CliIo, verb: string, yes: boolean): Promise<boolean> {
  if (yes || (io.stdin as { isTTY?: boolean }).isTTY !== true || io.stderr.isTTY !== true) return true;
  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: false });
  try {
    io.stderr.write(`${verb} this request, command as shown above? [y/N] `);
    const answer = await new Promise<string>((resolve) => {
      rl.once('line', resolve);
      rl.once('close', () => resolve(''));
    });
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

export async function decide(argv: string[], io: CliIo, verb: string, decision: Decision): Promise<number> {
  const { values, positionals } = parseFlags(argv, { ...COMMON_OPTIONS, reason: { type: 'string', short: 'r' }, yes: { type: 'boolean', short: 'y' } }, verb);
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
  io.stderr.write(describeRequest(request, paint(io.stderr, io.env)));
  const phase = phaseOf(request);
  if (phase !== 'Pending') throw new UsageError(`ApprovalRequest ${inertLine(name)} is already ${inertLine(phase)}; nothing to decide`);
  if (!(await confirmed(io, verb === 'approve' ? 'Approve' : 'Deny', values.yes === true))) {
    io.stderr.write(`nothing decided: ApprovalRequest ${inertLine(name)} is still Pending\n`);
    return 1;
  }
  const updated = await appendReview(kube, request, decision, values.reason);
  if (format !== 'table') writeStructured(io, format, updated);
  else io.stdout.write(`approvalrequest.guarita.io/${inertLine(name)} ${decision === 'Approved' ? 'approved' : 'denied'} by you; reason recorded\n`);
  return 0;
}
