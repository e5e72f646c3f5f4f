// guarita approvals [list] [-n NS | -A] [--pending] [-o json|yaml] [-w]
import { inertError, inertJson, inertPreview } from '../inert.ts';
import type { CliIo } from '../io.ts';
import { COMMON_OPTIONS, outputFormat, parseFlags, UsageError, type OutputFormat } from '../args.ts';
import { loadKube, type KubeAccess } from '../kube.ts';
import { age, renderTable, streamTable, writeStructured, type Column } from '../output.ts';
import { listApprovalRequests, phaseOf } from '../approval-requests.ts';
import { watchApprovalRequests, type ApprovalEvent } from '../approval-watch.ts';
import { phaseCell } from '../approval-describe.ts';
import type { ApprovalRequest } from '../../../crds/types.ts';

const HELP = `usage: guarita approvals [list] [-n NAMESPACE | -A] [--pending] [-o json|yaml] [-w]

Lists ApprovalRequests: commands held by Guarita sidecars until approvers decide.
Decide with 'guarita approve NAME --reason ...' or 'guarita deny NAME --reason ...', which show the
whole command first. COMMAND shows a command's first line: '…' ends a line cut short, and
'⏎… (+N lines)' says how many lines follow it. PHASE counts the approvals and, once Consumed, says
how the command ran: Succeeded, Failed, or 'outcome unknown' (the sidecar never read the answer,
so the command may have taken effect).

  -w, --watch    after the list, stream new and changing requests until Ctrl-C, as 'kubectl get -w'
                 does: table rows, or with -o json one {"type","object"} watch event per line
                 (ADDED, MODIFIED, DELETED). Needs the 'watch' verb on approvalrequests.guarita.io.
                 With --pending, a request that leaves Pending is still shown once (its decision).
  --pending      only requests still waiting for a decision
  -A             all namespaces
`;

const OPTIONS = { ...COMMON_OPTIONS, 'all-namespaces': { type: 'boolean', short: 'A' }, pending: { type: 'boolean' }, watch: { type: 'boolean', short: 'w' } } as const;

function columns(all: boolean): Column<ApprovalRequest>[] {
  return [
    ...(all ? [{ header: 'NAMESPACE', value: (r: ApprovalRequest) => r.metadata.namespace ?? '' }] : []),
    { header: 'NAME', value: (r) => r.metadata.name },
    { header: 'REQUESTER', value: (r) => r.spec.requester.username },
    { header: 'PURPOSE', value: (r) => r.spec.purpose },
    { header: 'POLICY/RULE', value: (r) => `${r.spec.policyRef.name}/${r.spec.rule}` },
    // From the text, not spec.command.preview (kubectl's first line): a command that goes on says so.
    { header: 'COMMAND', value: (r) => inertPreview(r.spec.command.text ?? r.spec.command.preview ?? ''), rendered: true },
    // Once Consumed, how the command ran: 'outcome unknown' when the sidecar never read its answer.
    { header: 'PHASE', value: (r) => phaseCell(r) },
    { header: 'AGE', value: (r) => age(r.metadata.creationTimestamp) },
  ];
}

async function watch(io: CliIo, kube: KubeAccess, all: boolean, pending: boolean, format: OutputFormat): Promise<number> {
  if (format === 'yaml') throw new UsageError('--watch prints a table or, with -o json, one JSON watch event per line; -o yaml cannot be streamed');
  // Ctrl-C, or the reader going away (`| head -1`: EPIPE on the next write) ends the stream cleanly.
  const readerGone = new AbortController();
  const signal = io.interrupt === undefined ? readerGone.signal : AbortSignal.any([io.interrupt, readerGone.signal]);
  const onWriteError = (): void => readerGone.abort();
  io.stdout.on('error', onWriteError);
  const table = streamTable(columns(all));
  const shown = new Set<string>();
  const onEvent = (e: ApprovalEvent): void => {
    const id = `${e.object.metadata.namespace ?? ''}/${e.object.metadata.name}`;
    // --pending: requests waiting for a decision, and the change that ends the wait of one shown.
    if (pending && phaseOf(e.object) !== 'Pending' && !shown.has(id)) return;
    shown.add(id);
    io.stdout.write(format === 'json' ? `${inertJson(e)}\n` : table.row(e.object));
  };
  if (format === 'table') io.stdout.write(table.header());
  try {
    await watchApprovalRequests(kube, { allNamespaces: all, signal, onEvent: (e) => { if (!signal.aborted) onEvent(e); }, onRelist: (reason) => io.stderr.write(`guarita: the watch expired (${inertError(reason)}); listed again\n`) });
  } finally {
    io.stdout.off('error', onWriteError);
  }
  return 0;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, OPTIONS, 'approvals');
  const listing = positionals.length === 0 || (positionals.length === 1 && positionals[0] === 'list');
  if (values.help === true || !listing) {
    (values.help === true ? io.stdout : io.stderr).write(HELP);
    return values.help === true ? 0 : 2;
  }
  const format = outputFormat(values.output);
  const kube = loadKube(values, io.env);
  const all = values['all-namespaces'] === true;
  if (values.watch === true) return watch(io, kube, all, values.pending === true, format);
  return list(io, kube, all, values.pending === true, format);
}

async function list(io: CliIo, kube: KubeAccess, all: boolean, pending: boolean, format: OutputFormat): Promise<number> {
  const items = (await listApprovalRequests(kube, all)).filter((r) => !pending || phaseOf(r) === 'Pending');
  if (format !== 'table') {
    writeStructured(io, format, { items });
    return 0;
  }
  if (items.length === 0) {
    io.stderr.write(`No ApprovalRequests${pending ? ' pending' : ''} ${all ? 'in any namespace' : `in namespace ${kube.namespace}`}.\n`);
    return 0;
  }
  io.stdout.write(renderTable<ApprovalRequest>(items, columns(all)));
  return 0;
}
