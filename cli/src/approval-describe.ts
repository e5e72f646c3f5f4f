// What `guarita approve`/`deny` show of an ApprovalRequest before deciding it: every field inert
// (inert.ts), since the command and purpose are the agent's text and the rest anyone with write
// access filled in. The command is shown whole, line by line, so no line of it is hidden.
import type { ApprovalRequest } from '../../crds/types.ts';
import { inertLine, inertLines } from './inert.ts';
import type { Paint } from './output.ts';
import { phaseOf } from './approval-requests.ts';

const COMMAND_INDENT = '             ';

/** One line: after the label. More: how many, then every line, so none is hidden. */
function commandLines(text: string): string[] {
  const lines = inertLines(text);
  if (lines.length === 1) return [`  command:   ${lines[0] ?? ''}`];
  return [`  command:   (${lines.length} lines, all shown)`, ...lines.map((l) => `${COMMAND_INDENT}${l}`)];
}

type Execution = NonNullable<NonNullable<ApprovalRequest['status']>['execution']>;

/**
 * status.execution.outcome in words: Unknown (the sidecar never read the upstream's answer: the
 * approved command may have taken effect) says so rather than reading like a result.
 */
export function outcomeWords(outcome: string): string {
  return outcome === 'Unknown' ? 'outcome unknown' : outcome;
}

/** How the approved command ran (status.execution): the outcome, a row count only beside a known one, and why. */
export function executionText(ex: Execution): string {
  const rows = ex.rows === undefined || ex.outcome === 'Unknown' ? '' : `, ${ex.rows} row(s)`;
  const unknown = ex.outcome === 'Unknown' ? ', it may have taken effect' : '';
  return `${outcomeWords(ex.outcome)}${rows}${unknown}${ex.error === undefined ? '' : `: ${ex.error}`}`;
}

/** The list's PHASE cell: the approvals counted, and once Consumed, how the command ran. */
export function phaseCell(r: ApprovalRequest): string {
  const st = r.status;
  const ex = st?.execution;
  const notes = [
    ...(st?.required === undefined ? [] : [`${st.approvals ?? 0}/${st.required}`]),
    ...(ex === undefined ? [] : [outcomeWords(ex.outcome)]),
  ];
  return notes.length === 0 ? phaseOf(r) : `${phaseOf(r)} (${notes.join(', ')})`;
}

/** The request as lines for the approver's terminal. */
export function describeRequest(r: ApprovalRequest, p: Paint): string {
  const s = inertLine;
  const groups = r.spec.requester.groups?.length ? ` (groups: ${r.spec.requester.groups.map(s).join(', ')})` : '';
  const lines = [
    `${p.bold('ApprovalRequest')} ${s(r.metadata.namespace ?? '')}/${s(r.metadata.name)}  (${s(phaseOf(r))})`,
    `  requester: ${s(r.spec.requester.username)}${groups}`,
    `  purpose:   ${s(r.spec.purpose)}`,
    `  policy:    ${s(r.spec.policyRef.name)}, rule ${s(r.spec.rule)}`,
    `  target:    ${s(r.spec.target.name)} (${s(r.spec.target.protocol)}), pod ${s(r.spec.podRef.name)}`,
    `  expires:   ${s(r.spec.expiresAt)}`,
    `  sha256:    ${s(r.spec.command.sha256)}`,
    ...commandLines(r.spec.command.text),
    ...(r.status?.execution === undefined ? [] : [`  executed:  ${s(executionText(r.status.execution))}`]),
  ];
  return `${lines.join('\n')}\n`;
}
