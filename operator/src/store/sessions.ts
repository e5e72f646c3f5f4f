// What the store derives from records: per-policy counters (AccessPolicy status.sessions) and the
// per-session summaries the read API lists. Pure: fed one record at a time, at ingest and when the
// store is reopened.
import type { PolicyCounters, SessionFilter, SessionRecord, SessionSummary } from './types.ts';

export function emptyCounters(): PolicyCounters {
  return { total: 0, denied: 0, approvalsRequested: 0 };
}

/** Each counters' lastSessionTime as Date.parse gave it, kept until the text changes (a record then costs no parse of it). */
const lastSessionMs = new WeakMap<PolicyCounters, { text: string; ms: number }>();

function lastSessionTimeMs(c: PolicyCounters, text: string): number {
  const known = lastSessionMs.get(c);
  if (known?.text === text) return known.ms;
  const ms = Date.parse(text);
  lastSessionMs.set(c, { text, ms });
  return ms;
}

/** Counted: `command` records (total), those with decision deny (denied), `approval.requested` records. `time`: Date.parse(r.time), parsed once by the caller. */
export function countRecord(c: PolicyCounters, r: SessionRecord, time: number = Date.parse(r.time)): void {
  if (r.type === 'command') {
    c.total++;
    if (r.decision === 'deny') c.denied++;
  }
  if (r.type === 'approval.requested') c.approvalsRequested++;
  if (c.lastSessionTime === undefined || time > lastSessionTimeMs(c, c.lastSessionTime)) c.lastSessionTime = r.time;
}

export function newSummary(r: SessionRecord): SessionSummary {
  return {
    sessionId: r.sessionId, policy: r.policy, target: r.target, subject: r.subject,
    ...(r.purpose === undefined ? {} : { purpose: r.purpose }),
    start: r.time, last: r.time, commands: 0, denied: 0, approvals: 0, records: 0, chainId: r.chainId,
  };
}

/** A summary's start and last as Date.parse gives them, kept beside it so a record costs one parse, not four. */
export interface SummaryBounds { start: number; last: number }

export function summaryBounds(s: SessionSummary): SummaryBounds {
  return { start: Date.parse(s.start), last: Date.parse(s.last) };
}

/** Adds a record to its session's summary; `time` is Date.parse(r.time), `bounds` the summary's (updated with it). */
export function addToSummary(s: SessionSummary, bounds: SummaryBounds, r: SessionRecord, time: number): void {
  s.records++;
  if (r.type === 'command') s.commands++;
  if (r.type === 'command' && r.decision === 'deny') s.denied++;
  if (r.type === 'approval.requested') s.approvals++;
  if (r.type === 'session.end') s.end = r.time;
  if (time < bounds.start) {
    s.start = r.time;
    bounds.start = time;
  }
  if (bounds.last < time) {
    s.last = r.time;
    bounds.last = time;
  }
  if (s.purpose === undefined && r.purpose !== undefined) s.purpose = r.purpose;
}

export function matchesSession(s: SessionSummary, f: SessionFilter): boolean {
  if (f.policy !== undefined && s.policy !== f.policy) return false;
  if (f.subject !== undefined && s.subject !== f.subject) return false;
  if (f.since !== undefined && Date.parse(s.last) < f.since) return false;
  return true;
}
