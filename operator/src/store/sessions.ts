// What the store derives from records: per-policy counters (AccessPolicy status.sessions) and the
// per-session summaries the read API lists. Pure: fed one record at a time, at ingest and when the
// store is reopened.
import type { PolicyCounters, SessionFilter, SessionRecord, SessionSummary } from './types.ts';

export function emptyCounters(): PolicyCounters {
  return { total: 0, denied: 0, approvalsRequested: 0 };
}

/** Counted: `command` records (total), those with decision deny (denied), `approval.requested` records. */
export function countRecord(c: PolicyCounters, r: SessionRecord): void {
  if (r.type === 'command') {
    c.total++;
    if (r.decision === 'deny') c.denied++;
  }
  if (r.type === 'approval.requested') c.approvalsRequested++;
  if (c.lastSessionTime === undefined || Date.parse(r.time) > Date.parse(c.lastSessionTime)) c.lastSessionTime = r.time;
}

export function newSummary(r: SessionRecord): SessionSummary {
  return {
    sessionId: r.sessionId, policy: r.policy, target: r.target, subject: r.subject,
    ...(r.purpose === undefined ? {} : { purpose: r.purpose }),
    start: r.time, last: r.time, commands: 0, denied: 0, approvals: 0, records: 0, chainId: r.chainId,
  };
}

function earlier(a: string, b: string): boolean {
  return Date.parse(a) < Date.parse(b);
}

export function addToSummary(s: SessionSummary, r: SessionRecord): void {
  s.records++;
  if (r.type === 'command') s.commands++;
  if (r.type === 'command' && r.decision === 'deny') s.denied++;
  if (r.type === 'approval.requested') s.approvals++;
  if (r.type === 'session.end') s.end = r.time;
  if (earlier(r.time, s.start)) s.start = r.time;
  if (earlier(s.last, r.time)) s.last = r.time;
  if (s.purpose === undefined && r.purpose !== undefined) s.purpose = r.purpose;
}

export function matchesSession(s: SessionSummary, f: SessionFilter): boolean {
  if (f.policy !== undefined && s.policy !== f.policy) return false;
  if (f.subject !== undefined && s.subject !== f.subject) return false;
  if (f.since !== undefined && Date.parse(s.last) < f.since) return false;
  return true;
}
