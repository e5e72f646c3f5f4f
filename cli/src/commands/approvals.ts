// guarita approvals list [-n NS | -A] [--pending] [-o json|yaml]
import type { CliIo } from '../io.ts';
import { COMMON_OPTIONS, outputFormat, parseFlags } from '../args.ts';
import { loadKube } from '../kube.ts';
import { age, renderTable, writeStructured } from '../output.ts';
import { listApprovalRequests, phaseOf } from '../approval-requests.ts';
import type { ApprovalRequest } from '../../../crds/types.ts';

const HELP = `usage: guarita approvals list [-n NAMESPACE | -A] [--pending] [-o json|yaml]

Lists ApprovalRequests: commands held by Guarita sidecars until approvers decide.
Decide with 'guarita approve NAME --reason ...' or 'guarita deny NAME --reason ...'.
`;

export async function run(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, { ...COMMON_OPTIONS, 'all-namespaces': { type: 'boolean', short: 'A' }, pending: { type: 'boolean' } }, 'approvals');
  if (values.help === true || positionals[0] !== 'list') {
    (values.help === true ? io.stdout : io.stderr).write(HELP);
    return values.help === true ? 0 : 2;
  }
  const format = outputFormat(values.output);
  const kube = loadKube(values, io.env);
  const all = values['all-namespaces'] === true;
  const items = (await listApprovalRequests(kube, all)).filter((r) => values.pending !== true || phaseOf(r) === 'Pending');
  if (format !== 'table') {
    writeStructured(io, format, { items });
    return 0;
  }
  if (items.length === 0) {
    io.stderr.write(`No ApprovalRequests${values.pending === true ? ' pending' : ''} ${all ? 'in any namespace' : `in namespace ${kube.namespace}`}.\n`);
    return 0;
  }
  io.stdout.write(renderTable<ApprovalRequest>(items, [
    ...(all ? [{ header: 'NAMESPACE', value: (r: ApprovalRequest) => r.metadata.namespace ?? '' }] : []),
    { header: 'NAME', value: (r) => r.metadata.name },
    { header: 'REQUESTER', value: (r) => r.spec.requester.username },
    { header: 'PURPOSE', value: (r) => r.spec.purpose },
    { header: 'POLICY/RULE', value: (r) => `${r.spec.policyRef.name}/${r.spec.rule}` },
    { header: 'COMMAND', value: (r) => r.spec.command.preview },
    { header: 'PHASE', value: (r) => phaseOf(r) + (r.status?.required !== undefined ? ` (${r.status.approvals ?? 0}/${r.status.required})` : '') },
    { header: 'AGE', value: (r) => age(r.metadata.creationTimestamp) },
  ]));
  return 0;
}
