import { describe, expect, it } from '@jest/globals';
import { countRecord, emptyCounters } from './sessions.ts';
import type { SessionRecord } from './types.ts';

const at = (time: string, over: Partial<SessionRecord> = {}): SessionRecord => ({ type: 'command', decision: 'allow', time, ...over }) as SessionRecord;

describe('countRecord', () => {
  it('keeps the newest record time as lastSessionTime, whatever the order and notation, also after it was set elsewhere (retention)', () => {
    const c = emptyCounters();
    countRecord(c, at('2026-01-01T00:00:02.000Z'));
    countRecord(c, at('2026-01-01T00:00:01.000Z'));
    expect(c.lastSessionTime).toBe('2026-01-01T00:00:02.000Z');
    // The same instant as 00:00:03Z, written with an offset.
    countRecord(c, at('2026-01-01T01:00:03+01:00'));
    expect(c.lastSessionTime).toBe('2026-01-01T01:00:03+01:00');
    countRecord(c, at('2026-01-01T00:00:02.500Z'));
    expect(c.lastSessionTime).toBe('2026-01-01T01:00:03+01:00');
    // A retention recount sets it to an earlier time: the next record compares against that one.
    c.lastSessionTime = '2025-12-31T00:00:00.000Z';
    countRecord(c, at('2026-01-01T00:00:00.000Z'));
    expect(c.lastSessionTime).toBe('2026-01-01T00:00:00.000Z');
  });

  it('counts commands, denials and approval requests', () => {
    const c = emptyCounters();
    for (const r of [at('2026-01-01T00:00:00Z'), at('2026-01-01T00:00:00Z', { decision: 'deny' }), at('2026-01-01T00:00:00Z', { type: 'approval.requested' }), at('2026-01-01T00:00:00Z', { type: 'session.start' })]) countRecord(c, r);
    expect(c).toMatchObject({ total: 2, denied: 1, approvalsRequested: 1 });
  });
});
