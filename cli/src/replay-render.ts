// How `guarita replay` shows a recorded session: one block per record (who ran what, the decision
// and rule, the masked result sample, approvals), paced by the recorded times like `tsh play`.
// Pure apart from the injected writer and sleep, so tests can play sessions instantly.
// Signed is not inert: a record's text is the agent's (its command, declared purpose, the rows it
// read back, errors echoing its input), so every record is rendered through inert.ts first
// (shownRecord); terminal stream frames through safeTerminalText. The sidecar's notes on a stream
// (frames of kind `n`: a signal the agent sent, an SFTP transfer's end) are shown on lines of their
// own behind NOTE_MARK, which nothing recorded from the agent or the host is shown with (it is
// replaced in their text), and listed again after the session, where no output follows them.
import type { SessionRecord } from '../../core/recording/store-types.ts';
import { inert, inertLine, inertLines, safeTerminalText } from './inert.ts';
import type { Paint } from './output.ts';
import { humanBytes, humanDuration } from './time.ts';

export interface PlayOptions {
  /** Wait between records as recorded (divided by speed); false prints everything at once. */
  timing: boolean;
  speed: number;
  /** Pauses longer than this are shortened to it (and labelled); 0 keeps every pause. */
  maxIdleMs: number;
  /** Records whose hash or signature failed (by chainId#seq), marked in the output. */
  tampered?: ReadonlySet<string>;
  /** Counted reviews of the ApprovalRequests the session names (from the apiserver, if readable). */
  reviews?: ReadonlyMap<string, readonly Review[]>;
}

export interface Review { reviewer: string; decision: string; reason: string; time: string; groups?: readonly string[] }

const INDENT = '              ';

/**
 * The mark of the sidecar's notes. Output, commands and results are shown with it replaced
 * (noteMarkFree), so a line starting with it after a time stamp is the sidecar's (round 12c review:
 * a command printed `[guarita: the agent sent the signal KILL …]` and replay showed the sidecar's
 * note).
 */
export const NOTE_MARK = '⚑';
/** What NOTE_MARK becomes in recorded text (the agent's or the host's). */
const NOTE_MARK_SHOWN_AS = '?';

/** `text` with the note mark replaced: recorded text never shows it. */
export function noteMarkFree(text: string): string {
  return text.replaceAll(NOTE_MARK, NOTE_MARK_SHOWN_AS);
}

/**
 * The record as replay may show it: every string inert on one line (a newline as ⏎), but the
 * command and the result sample, whose newlines replay lays out as lines of their own, each inert.
 * Frames stay as recorded: playFrames filters them as a terminal stream.
 */
export function shownRecord(r: SessionRecord): SessionRecord {
  const { frames, command, result, ...rest } = r;
  const sample = result?.sample;
  return {
    ...inert(rest, inertLine),
    ...(frames === undefined ? {} : { frames }),
    ...(command === undefined ? {} : { command: inertLines(String(command)).join('\n') }),
    ...(result === undefined ? {} : { result: { ...inert(result, inertLine), ...(sample === undefined ? {} : { sample: inertLines(String(sample)).join('\n') }) } }),
  };
}

function shownReviews(reviews: ReadonlyMap<string, readonly Review[]> | undefined): ReadonlyMap<string, readonly Review[]> | undefined {
  return reviews === undefined ? undefined : new Map([...reviews].map(([k, v]) => [k, inert(v, inertLine)]));
}

function timeOf(r: SessionRecord): number {
  const t = Date.parse(r.time);
  return Number.isNaN(t) ? 0 : t;
}

/** Records in the order they happened (stable for equal times: chain order). */
export function chronological(records: readonly SessionRecord[]): SessionRecord[] {
  return records.map((r, i) => ({ r, i, t: timeOf(r) })).sort((a, b) => a.t - b.t || a.i - b.i).map((x) => x.r);
}

export function elapsed(ms: number): string {
  const total = Math.max(0, Math.round(ms));
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const s = Math.floor((total % 60_000) / 1000);
  const mmss = `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(total % 1000).padStart(3, '0')}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function maskedCounts(masked: Record<string, number> | undefined, sep = ', '): string {
  return Object.entries(masked ?? {}).filter(([, n]) => n > 0).sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k}=${n}`).join(sep);
}

export function sessionHeader(records: readonly SessionRecord[], p: Paint): string {
  if (records[0] === undefined) return '';
  const first = shownRecord(records[0]);
  const last = shownRecord(records[records.length - 1] ?? records[0]);
  const groups = Array.isArray(first.groups) && first.groups.length > 0 ? `; groups ${first.groups.join(', ')}` : '';
  const span = timeOf(last) - timeOf(first);
  return [
    `${p.bold(`Session ${first.sessionId}`)}  policy ${first.policy}  target ${first.target} (${first.protocol})  namespace ${first.namespace}`,
    `Subject ${first.subject} (${first.subjectKind}${groups})  purpose ${first.purpose ?? '(none declared)'}  pod ${first.pod}`,
    `Recorded ${first.time} .. ${last.time} (${humanDuration(span)}), ${plural(records.length, 'record')}`,
  ].join('\n');
}

/**
 * The result's sizes: HTTP status, rows, bytes back and (SSH channels) bytes the agent sent. A
 * command the target received but whose answer the sidecar never read (the agent left first) says
 * "outcome unknown" where its status or row count would be: any count it carries is not one.
 */
function sizeParts(res: SessionRecord['result']): string[] {
  if (res === undefined) return [];
  if (res.outcomeUnknown === true) {
    return ['outcome unknown', ...(res.bytes === undefined || res.bytes === 0 ? [] : [`${humanBytes(res.bytes)} read`]), ...(res.bytesIn === undefined ? [] : [`${humanBytes(res.bytesIn)} sent`])];
  }
  return [
    ...(res.status === undefined ? [] : [`HTTP ${res.status}`]),
    ...(res.rows === undefined ? [] : [plural(res.rows, 'row')]),
    ...(res.bytes === undefined ? [] : [humanBytes(res.bytes)]),
    ...(res.bytesIn === undefined ? [] : [`${humanBytes(res.bytesIn)} sent`]),
  ];
}

function resultParts(r: SessionRecord): string[] {
  const parts = sizeParts(r.result);
  if (r.durationMs !== undefined) parts.push(`${r.durationMs} ms`);
  const masked = maskedCounts(r.masked);
  if (masked !== '') parts.push(`masked ${masked}`);
  return parts;
}

function ruleText(r: SessionRecord): string {
  return r.rule === undefined ? '' : ` · rule ${r.rule}`;
}

function decisionLine(r: SessionRecord, p: Paint): string {
  const reason = r.reason === undefined ? '' : ` · ${r.reason}`;
  const request = r.approvalRequest === undefined ? '' : ` · ApprovalRequest ${r.approvalRequest}`;
  if (r.decision === 'deny') return p.red(`✗ denied${ruleText(r)}${request}${reason}`);
  if (r.decision === 'requireApproval') return p.yellow(`⏸ held for approval${ruleText(r)}${request}${reason}`);
  const approved = r.approvalRequest === undefined ? '' : ` · approved by ApprovalRequest ${r.approvalRequest}`;
  return [p.green(`✓ allowed${ruleText(r)}${approved}`), ...resultParts(r)].join(' · ');
}

function sampleLines(r: SessionRecord, p: Paint): string[] {
  const lines: string[] = [];
  if (r.result?.error !== undefined) lines.push(p.red(`! error: ${r.result.error}`));
  const sample = r.result?.sample;
  if (sample !== undefined && sample !== '') lines.push(...sample.replace(/\n+$/, '').split('\n').map((l) => p.dim(`│ ${l}`)));
  if (r.result?.truncated === true) lines.push(p.dim('│ … (sample truncated)'));
  return lines;
}

function commandLines(r: SessionRecord, p: Paint): string[] {
  const text = (r.command ?? '').split('\n');
  // SSH: which exec, shell or SFTP session of the connection the command came on (its terminal's banner names the same channel).
  const channel = r.channel === undefined ? '' : ` ${p.dim(`[channel ${r.channel}]`)}`;
  const lines = [`${p.bold(`${r.subject}>`)} ${text[0] ?? ''}${channel}`, ...text.slice(1).map((l) => `${' '.repeat(r.subject.length + 2)}${l}`)];
  // The sidecar records at most the first 64 KiB of a command's masked text (docs/recording.md).
  if (r.commandTruncated === true) lines.push(p.dim(`… (command truncated: the record keeps the first 64 KiB of its masked text; SHA-256 of the whole command ${r.commandSha256 ?? '?'})`));
  return lines;
}

/**
 * The reviews of an approved command: from the signed record when it carries them (they outlive the
 * ApprovalRequest), else from the apiserver when the request still exists and may be read.
 */
function reviewLines(r: SessionRecord, p: Paint, reviews: ReadonlyMap<string, readonly Review[]> | undefined): string[] {
  if (r.approvalRequest === undefined || r.decision === 'requireApproval' || r.type !== 'command') return [];
  const list: readonly Review[] = r.approval?.reviews ?? reviews?.get(r.approvalRequest) ?? [];
  return list.map((v) => {
    const groups = v.groups === undefined || v.groups.length === 0 ? '' : ` (groups ${v.groups.join(', ')})`;
    const line = `${v.decision === 'Approved' ? '✓' : '✗'} ${v.decision.toLowerCase()} by ${v.reviewer}${groups} at ${v.time}: "${v.reason}"`;
    return v.decision === 'Approved' ? p.green(line) : p.red(line);
  });
}

/** What the signed record says the approval required: rule, approvals counted of required, approver groups. */
function approvalTerms(r: SessionRecord): string {
  const a = r.approval;
  if (a === undefined) return '';
  const groups = a.approverGroups === undefined || a.approverGroups.length === 0 ? '' : ` from ${a.approverGroups.join(', ')}`;
  const decided = a.decidedAt === undefined ? '' : `, decided ${a.decidedAt}`;
  return ` · rule ${a.rule}: ${a.approvals} of ${plural(a.required, 'required approval')}${groups}${decided}`;
}

/** The lines of one record (the first carries the elapsed-time stamp). */
export function renderRecord(record: SessionRecord, startMs: number, p: Paint, reviews?: ReadonlyMap<string, readonly Review[]>): string[] {
  const r = shownRecord(record);
  const body = recordBody(r, p, shownReviews(reviews)).map(noteMarkFree);
  const stamp = p.dim(`[+${elapsed(timeOf(r) - startMs)}]`);
  return body.map((l, i) => (i === 0 ? `${stamp} ${l}` : `${INDENT}${l}`));
}

function sessionStart(r: SessionRecord, p: Paint): string {
  if (r.decision === 'deny') return p.red(`✗ session refused${ruleText(r)}${r.reason === undefined ? '' : `: ${r.reason}`}`);
  return `▶ session started${r.reason === undefined ? '' : ` (${r.reason})`}`;
}

function approvalConsumed(r: SessionRecord, p: Paint): string {
  const rows = r.result?.outcomeUnknown === true ? ' (outcome unknown)' : r.result?.rows === undefined ? '' : ` (${plural(r.result.rows, 'row')})`;
  return `${p.green(`✓ ApprovalRequest ${r.approvalRequest ?? '?'} consumed: the approved command ran once`)}${rows}${approvalTerms(r)}`;
}

function recordBody(r: SessionRecord, p: Paint, reviews: ReadonlyMap<string, readonly Review[]> | undefined): string[] {
  switch (r.type) {
    case 'session.start':
      return [sessionStart(r, p)];
    case 'session.end':
      return [`■ session ended${r.reason === undefined ? '' : `: ${r.reason}`}`];
    case 'approval.requested':
      return [...commandLines(r, p), p.yellow(`⏸ approval required${ruleText(r)} · ApprovalRequest ${r.approvalRequest ?? '?'} created, waiting for approvers`)];
    case 'approval.consumed':
      return [approvalConsumed(r, p)];
    default:
      return [...commandLines(r, p), decisionLine(r, p), ...reviewLines(r, p, reviews), ...sampleLines(r, p)];
  }
}

export interface PlaySink { write(text: string): void }

export { safeTerminalText };

/**
 * When each frame of the session's stream records happened: a frame's `t` counts from its
 * channel's start, which is taken as the first record's time less its last frame's offset (a
 * record is written right after its last frame).
 */
export function frameTimes(ordered: readonly SessionRecord[]): Map<SessionRecord, number[]> {
  const starts = new Map<number, number>();
  const times = new Map<SessionRecord, number[]>();
  for (const r of ordered) {
    if (r.type !== 'stream' || r.frames === undefined) continue;
    const channel = r.channel ?? 0;
    if (!starts.has(channel)) starts.set(channel, timeOf(r) - (r.frames.at(-1)?.t ?? 0));
    const start = starts.get(channel) ?? 0;
    times.set(r, r.frames.map((f) => start + f.t));
  }
  return times;
}

interface Clock { previous: number; start: number; channels: Set<number>; midLine: boolean; notes: string[] }

/** Plays a stream record's output frames at their recorded times (what was typed is echoed by the terminal). */
function channelBanner(channel: number, first: number | undefined, clock: Clock, out: PlaySink, p: Paint): void {
  if (clock.channels.has(channel)) return;
  clock.channels.add(channel);
  out.write(`${clock.midLine ? '\n' : ''}${p.dim(`[+${elapsed((first ?? clock.previous) - clock.start)}]`)} ▶ terminal (channel ${channel}), masked as recorded:\n`);
  clock.midLine = false;
}

/**
 * The line of a sidecar note (a frame of kind `n`) of `channel`, at `t`: the mark, the channel, the
 * note's text inert on one line. Written on a line of its own (SGR reset first when painting, so
 * the output's colours do not carry into it).
 */
export function noteLine(text: string, channel: number, t: number, clock: Pick<Clock, 'start'>, p: Paint): string {
  return `${p.dim(`[+${elapsed(t - clock.start)}]`)} ${p.bold(`${NOTE_MARK} guarita note`)} (channel ${channel}): ${noteMarkFree(inertLine(text))}`;
}

async function playFrames(r: SessionRecord, at: readonly number[], clock: Clock, opts: PlayOptions, out: PlaySink, p: Paint, sleep: (ms: number) => Promise<void>): Promise<void> {
  const channel = Number(r.channel ?? 0);
  channelBanner(channel, at[0], clock, out, p);
  for (const [i, f] of (r.frames ?? []).entries()) {
    if (f.ch !== 'o' && f.ch !== 'e' && f.ch !== 'n') continue;
    const t = at[i] ?? clock.previous;
    if (opts.timing) await pause(Math.max(0, t - clock.previous), opts, out, p, sleep);
    clock.previous = Math.max(clock.previous, t);
    if (f.ch === 'n') playNote(String(f.data), channel, t, clock, out, p);
    else playOutput(f.data, clock, out);
  }
}

function playNote(text: string, channel: number, t: number, clock: Clock, out: PlaySink, p: Paint): void {
  const line = noteLine(text, channel, t, clock, p);
  clock.notes.push(line);
  out.write(`${clock.midLine ? '\n' : ''}${sgrReset(p)}${line}\n`);
  clock.midLine = false;
}

function playOutput(data: string, clock: Clock, out: PlaySink): void {
  const text = noteMarkFree(safeTerminalText(data));
  out.write(text);
  if (text !== '') clock.midLine = !text.endsWith('\n');
}

/** Ends the colours the output left on (SGR 0, as every painted span ends), when painting. */
function sgrReset(p: Paint): string {
  return p.dim('');
}

/**
 * The session's notes again, after everything played: a terminal stream's cursor movement can
 * draw over a note shown while it played, but nothing recorded follows this list.
 */
function notesAfter(clock: Clock, out: PlaySink, p: Paint): void {
  if (clock.notes.length === 0) return;
  out.write(`${clock.midLine ? '\n' : ''}${sgrReset(p)}\n${p.bold(`${NOTE_MARK} The sidecar's notes on this session's terminal streams (recorded as notes, not as output):`)}\n${clock.notes.map((l) => `${INDENT}${l}`).join('\n')}\n`);
  clock.midLine = false;
}

/** Plays the records: header, then each record after the recorded pause (scaled, capped); terminal streams frame by frame. */
export async function play(records: readonly SessionRecord[], opts: PlayOptions, out: PlaySink, p: Paint, sleep: (ms: number) => Promise<void>): Promise<void> {
  const ordered = chronological(records);
  const start = ordered[0] === undefined ? 0 : timeOf(ordered[0]);
  const frames = frameTimes(ordered);
  out.write(`${sessionHeader(ordered, p)}\n\n`);
  const clock: Clock = { previous: start, start, channels: new Set(), midLine: false, notes: [] };
  for (const r of ordered) {
    const mark = opts.tampered?.has(`${r.chainId}#${r.seq}`) === true ? [`${INDENT}${p.red(`⚠ record ${inertLine(`${r.chainId}#${r.seq}`)} fails its hash or signature check: it was altered after recording`)}`] : [];
    const at = frames.get(r);
    if (at !== undefined) {
      await playFrames(r, at, clock, opts, out, p, sleep);
      if (mark.length > 0) out.write(`${clock.midLine ? '\n' : ''}${mark.join('\n')}\n`);
      continue;
    }
    const gap = Math.max(0, timeOf(r) - clock.previous);
    clock.previous = Math.max(clock.previous, timeOf(r));
    if (opts.timing) await pause(gap, opts, out, p, sleep);
    out.write(`${clock.midLine ? '\n' : ''}${[...renderRecord(r, start, p, opts.reviews), ...mark].join('\n')}\n`);
    clock.midLine = false;
  }
  notesAfter(clock, out, p);
}

async function pause(gap: number, opts: PlayOptions, out: PlaySink, p: Paint, sleep: (ms: number) => Promise<void>): Promise<void> {
  const capped = opts.maxIdleMs > 0 && gap > opts.maxIdleMs;
  if (capped) out.write(`${INDENT}${p.dim(`… ${humanDuration(gap)} later`)}\n`);
  const wait = (capped ? opts.maxIdleMs : gap) / opts.speed;
  if (wait >= 1) await sleep(wait);
}
