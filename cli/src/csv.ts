// The CSV audit export: one row per command record (who, what, when, purpose, decision, approval,
// result size, masked counts, the reviews signed into an approved command's record, whether the
// command text was cut and the SHA-256 of the whole command), RFC 4180 quoting. Columns added later
// go last, so a spreadsheet or script reading the earlier ones by position keeps working. Command
// texts come from AI agents, so a cell that a spreadsheet would run as a formula (=, +, -, @, tab,
// CR first) is prefixed with an apostrophe.
import type { SessionRecord } from '../../core/recording/store-types.ts';
import { maskedCounts } from './replay-render.ts';

export const CSV_COLUMNS = [
  'time', 'namespace', 'policy', 'target', 'session', 'subject', 'groups', 'purpose', 'command', 'decision', 'rule',
  'approvalRequest', 'rows', 'bytes', 'masked', 'record', 'reviews', 'commandTruncated', 'commandSha256', 'bytesIn',
] as const;

/**
 * The rows cell. A command the target received but whose answer the sidecar never read (the agent
 * left first; any protocol) has no count: the cell says "outcome unknown" rather than staying
 * empty, which a spreadsheet sums as 0 and a reader takes for "nothing happened".
 */
function rowsCell(r: SessionRecord): string | number | undefined {
  return r.result?.outcomeUnknown === true ? 'outcome unknown' : r.result?.rows;
}

/** An approved command's reviews from its signed record: "dana [dpo] Approved 2026-...: reason; ...". */
function reviewsCell(r: SessionRecord): string | undefined {
  const reviews = r.approval?.reviews;
  if (reviews === undefined) return undefined;
  return reviews.map((v) => `${v.reviewer}${v.groups.length === 0 ? '' : ` [${v.groups.join(' ')}]`} ${v.decision} ${v.time}: ${v.reason}`).join('; ');
}

const FORMULA = /^[=+\-@\t\r]/;

/**
 * One cell. Records are the sidecar's, and ingest checks only the fields the store needs: a value
 * of another type than the schema's (an array, an object) is written as its JSON, never through
 * String() (an object's own toString member made String() throw, ending the export), and only
 * numbers skip the formula defence (String(['=1+1']) is "=1+1").
 */
export function csvCell(value: unknown): string {
  if (value === undefined || value === null) return '';
  let text = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : (JSON.stringify(value) ?? '');
  if (typeof value !== 'number' && FORMULA.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(cells: readonly unknown[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}

export function csvHeader(): string {
  return csvLine(CSV_COLUMNS);
}

/** The row of a command record; undefined for other record types (session start/end, approvals). */
export function commandRow(r: SessionRecord): string | undefined {
  if (r.type !== 'command') return undefined;
  const row: Record<(typeof CSV_COLUMNS)[number], string | number | undefined> = {
    time: r.time, namespace: r.namespace, policy: r.policy, target: r.target, session: r.sessionId, subject: r.subject,
    groups: Array.isArray(r.groups) ? (r.groups as unknown[]).map((g) => (typeof g === 'string' ? g : JSON.stringify(g) ?? '')).join(';') : '', purpose: r.purpose, command: r.command, decision: r.decision, rule: r.rule,
    approvalRequest: r.approvalRequest, rows: rowsCell(r), bytes: r.result?.bytes, masked: maskedCounts(r.masked, ';'),
    record: `${r.chainId}#${r.seq}`, reviews: reviewsCell(r),
    // As in JSON lines: a record of a command longer than 64 KiB holds only its masked text's first
    // 64 KiB; the row must say the cell is not the whole command (core/masking/prefix.ts).
    commandTruncated: r.commandTruncated === true ? 'true' : 'false', commandSha256: r.commandSha256,
    // What the agent sent (SSH exec, shell and scp channels since round 10); added last, as columns are.
    bytesIn: r.result?.bytesIn,
  };
  return csvLine(CSV_COLUMNS.map((c) => row[c]));
}
