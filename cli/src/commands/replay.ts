// guarita replay SESSION [--speed N | --no-timing] [--max-idle 5s] [-o json|yaml]
import { setTimeout as sleep } from 'node:timers/promises';
import type { CliIo } from '../io.ts';
import { COMMON_OPTIONS, outputFormat, parseFlags, UsageError } from '../args.ts';
import { connect, OperatorError, OPERATOR_HELP, OPERATOR_OPTIONS, type OperatorClient } from '../operator-client.ts';
import { paint, writeStructured } from '../output.ts';
import { inertError, inertLine } from '../inert.ts';
import { play, type Review } from '../replay-render.ts';
import { getApprovalRequest } from '../approval-requests.ts';
import type { KubeAccess } from '../kube.ts';
import { parseDurationFlag } from '../time.ts';
import type { ExportVerdict } from '../../../core/recording/export-verify.ts';
import { jsonlLines } from '../jsonl.ts';
import { provenHashes, tamperedRecords } from '../replay-integrity.ts';
import type { SessionRecord } from '../../../core/recording/store-types.ts';

const HELP = `usage: guarita replay SESSION [-n NAMESPACE] [--speed N | --no-timing] [--max-idle 5s] [-o json|yaml]

Plays a recorded session back the way it happened: every command (masked), the decision and the
rule that made it, the masked result sample, approvals requested and consumed. Find sessions with
'guarita sessions list'. You need 'get' on sessions.guarita.io in the namespace; with 'list' too,
every record is checked as an export of the session proves it (its hash, and its proof against a
checkpoint its sidecar signed with its registered key) while playing.

Flags:
  --speed N             play N times faster (default 1; 0.5 is half speed)
  --no-timing           print everything at once (the default when stdout is not a terminal)
  --max-idle D          shorten pauses longer than D to D, labelled with the real pause (default 5s; 0 keeps them)
  -n, --namespace NS    namespace (default: the context's)
  -o, --output FORMAT   json or yaml: the session's records, for scripts
  --kubeconfig FILE, --context NAME

Exit codes: 0 played; 1 a record failed its hash or signature check, or an error; 2 usage error.

${OPERATOR_HELP}`;

const OPTIONS = {
  ...COMMON_OPTIONS, ...OPERATOR_OPTIONS,
  speed: { type: 'string' }, 'no-timing': { type: 'boolean' }, 'max-idle': { type: 'string' },
} as const;

function parseSpeed(value: string | undefined): number {
  if (value === undefined) return 1;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--speed must be a positive number such as 2 or 0.5 (got '${value}')`);
  return n;
}

interface Integrity { checked: boolean; reason?: string; tampered: string[] }

/**
 * Checks the session's records as an export of the session proves them (core/recording/export-verify.ts:
 * each intact and proven against a checkpoint its sidecar signed with its registered key, none
 * missing), and that every record shown is one the export proved. Needs 'list' (exports).
 */
async function integrity(operator: OperatorClient, records: readonly SessionRecord[], sessionId: string): Promise<Integrity> {
  let read: { verdict: ExportVerdict; proven: Set<string> };
  try {
    read = await sessionExport(operator, sessionId);
  } catch (err) {
    if (err instanceof OperatorError && err.status === 403) return { checked: false, reason: 'you may replay but not export recordings, so their proofs were not read', tampered: [] };
    throw err;
  }
  return { checked: true, tampered: tamperedRecords(read.verdict, read.proven, records) };
}

/** The verdict on an export of the session, and the hashes of the records it proved. */
async function sessionExport(operator: OperatorClient, sessionId: string): Promise<{ verdict: ExportVerdict; proven: Set<string> }> {
  return provenHashes(jsonlLines(await operator.stream('/export', { session: sessionId }, `verifying session ${sessionId}`)));
}

function sessionArg(positionals: string[]): string {
  const [sessionId, ...rest] = positionals;
  if (sessionId === undefined || rest.length > 0) throw new UsageError('guarita replay: name one session (find it with \'guarita sessions list\')');
  return sessionId;
}

interface Approvals { reviews: Map<string, Review[]>; notes: string[] }

/** Who approved or denied the session's ApprovalRequests, when the user may read them (best effort). */
async function approvals(kube: KubeAccess, records: readonly SessionRecord[]): Promise<Approvals> {
  // Records that carry the approval evidence (signed) need no lookup: the request may be long deleted.
  const evidenced = new Set(records.filter((r) => r.approval !== undefined).map((r) => r.approvalRequest));
  const names = [...new Set(records.map((r) => r.approvalRequest).filter((n): n is string => n !== undefined && !evidenced.has(n)))];
  const out: Approvals = { reviews: new Map(), notes: [] };
  for (const name of names) {
    try {
      const request = await getApprovalRequest(kube, name);
      out.reviews.set(name, request.status?.reviews ?? []);
    } catch (err) {
      out.notes.push(`reviewers of ApprovalRequest ${inertLine(name)} not shown (${inertLine(inertError(err))})`);
    }
  }
  return out;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, OPTIONS, 'replay');
  if (values.help === true) {
    io.stdout.write(HELP);
    return 0;
  }
  const sessionId = sessionArg(positionals);
  if (values['no-timing'] === true && values.speed !== undefined) throw new UsageError('--speed and --no-timing exclude each other');
  const speed = parseSpeed(values.speed);
  const maxIdleMs = parseDurationFlag(values['max-idle'] ?? '5s', '--max-idle');
  const format = outputFormat(values.output);
  const timing = values['no-timing'] !== true && (io.stdout.isTTY === true || values.speed !== undefined);
  const { kube, operator } = await connect(values, io.env);
  try {
    const { records } = await operator.json<{ records: SessionRecord[] }>(`/sessions/${encodeURIComponent(sessionId)}`, {}, `reading session ${sessionId} in namespace ${operator.namespace}`);
    const check = await integrity(operator, records, sessionId);
    if (format !== 'table') {
      writeStructured(io, format, { sessionId, namespace: operator.namespace, integrity: check, records });
      return check.tampered.length > 0 ? 1 : 0;
    }
    const reviewed = await approvals(kube, records);
    await play(records, { timing, speed, maxIdleMs, tampered: new Set(check.tampered), reviews: reviewed.reviews }, io.stdout, paint(io.stdout, io.env), (ms) => sleep(ms));
    for (const note of reviewed.notes) io.stderr.write(paint(io.stderr, io.env).dim(`${note}\n`));
    return report(io, check, records.length);
  } finally {
    await operator.close();
  }
}

function report(io: CliIo, check: Integrity, total: number): number {
  const p = paint(io.stderr, io.env);
  if (!check.checked) {
    io.stderr.write(p.dim(`\nRecords not checked against their signatures: ${inertLine(check.reason ?? '')}.\n`));
    return 0;
  }
  if (check.tampered.length === 0) {
    io.stderr.write(p.dim(`\n${total} record(s), each intact and proven by its sidecar's checkpoints, signed with its registered key.\n`));
    return 0;
  }
  io.stderr.write(p.red(`\n${check.tampered.length} of ${total} record(s) fail their hash or signature check (${check.tampered.map(inertLine).join(', ')}): the recording was altered. Run 'guarita verify --policy POLICY' for the full check.\n`));
  return 1;
}
