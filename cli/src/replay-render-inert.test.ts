// Round 11: `guarita replay` renders every field of a record (the agent's command, purpose, result
// sample and error; names, rules, reasons, reviews) through inert.ts, for every escape class, and a
// newline in a one-line field cannot start a fake line of replay's own.
import { describe, expect, it } from '@jest/globals';
import type { SessionRecord } from '../../core/recording/store-types.ts';
import { paint } from './output.ts';
import { play, sessionHeader, shownRecord, type Review } from './replay-render.ts';
import { activeIn, ATTACKS } from '../test/terminal-attacks.ts';

const plain = paint({ isTTY: false }, {});
const coloured = paint({ isTTY: true }, {});
const T0 = Date.parse('2026-01-10T12:00:00Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();
// A one-line field that tries to draw a line of replay's own after it.
const FAKE = '\n              ✓ allowed · rule read-only';

function records(x: string): SessionRecord[] {
  const who = { namespace: `ns${x}`, pod: `pod${x}`, policy: `pol${x}`, target: `db${x}`, protocol: 'postgres', sessionId: `s${x}`, subject: `agent${x}`, subjectKind: 'User', groups: [`g${x}`], purpose: `purpose${x}${FAKE}` };
  const common = { ...who, chainId: `c${x}`, hash: 'h', keyId: 'k', sig: 's' };
  return [
    { ...common, seq: 0, type: 'session.start', time: at(0), decision: 'allow', reason: `from${x}${FAKE}` },
    { ...common, seq: 1, type: 'command', time: at(10), command: `DROP TABLE t; /*${x}*/\nSELECT 1`, commandTruncated: true, commandSha256: `sha${x}`, decision: 'allow', rule: `rule${x}${FAKE}`, approvalRequest: `ar${x}`, masked: { [`cpf${x}`]: 1 }, result: { rows: 1, bytes: 2, sample: `row${x}\nrow2${x}`, error: `err${x}${FAKE}`, truncated: true }, channel: 0, approval: { rule: `r${x}`, approvals: 1, required: 1, approverGroups: [`dpo${x}`], decidedAt: `t${x}`, reviews: [{ reviewer: `dana${x}`, decision: 'Approved', reason: `ok${x}${FAKE}`, time: `t${x}`, groups: [`dpo${x}`] }] } },
    { ...common, seq: 2, type: 'command', time: at(20), command: `DELETE${x}`, decision: 'deny', rule: `no${x}`, reason: `denied${x}${FAKE}`, approvalRequest: `ar2${x}` },
    { ...common, seq: 3, type: 'approval.requested', time: at(30), command: `COPY${x}`, decision: 'requireApproval', rule: `need${x}`, approvalRequest: `ar3${x}` },
    { ...common, seq: 4, type: 'approval.consumed', time: at(40), approvalRequest: `ar3${x}`, result: { rows: 3 } },
    { ...common, seq: 5, type: 'command', time: at(50), command: 'COPY', decision: 'allow', rule: 'need', approvalRequest: 'ar-live' },
    { ...common, seq: 6, type: 'session.end', time: at(60), reason: `closed${x}${FAKE}` },
  ] as unknown as SessionRecord[];
}

async function replay(rs: SessionRecord[], p = plain, reviews?: Map<string, Review[]>, tampered?: Set<string>): Promise<string> {
  const out: string[] = [];
  await play(rs, { timing: false, speed: 1, maxIdleMs: 0, ...(reviews === undefined ? {} : { reviews }), ...(tampered === undefined ? {} : { tampered }) }, { write: (s) => out.push(s) }, p, () => Promise.resolve());
  return out.join('');
}

describe('guarita replay: every field of a record, every escape class', () => {
  it.each(Object.entries(ATTACKS))('%s', async (_name, attack) => {
    const rs = records(attack);
    const reviews = new Map<string, Review[]>([['ar-live', [{ reviewer: `eve${attack}`, decision: 'Denied', reason: `no${attack}${FAKE}`, time: `t${attack}`, groups: [`g${attack}`] }]]]);
    for (const p of [plain, coloured]) {
      const text = await replay(rs, p, reviews, new Set([`c${attack}#1`]));
      // Painting adds ESC [ ... m; nothing else may act.
      // eslint-disable-next-line no-control-regex -- the CLI's own colours are removed before looking
      expect(activeIn(text.replace(/\u001b\[[0-9;]*m/g, ''))).toEqual([]);
      // A newline in a one-line field is ⏎: it cannot start a line of replay's own.
      expect(text.split('\n').filter((l) => /^\s+✓ allowed · rule read-only/.test(l))).toEqual([]);
      expect(text).toContain('DROP TABLE t');
      expect(text).toContain('⚠ record c');
    }
  });

  it('keeps the command\'s and the sample\'s own lines, each shown inert, and a record\'s marks are the CLI\'s', async () => {
    const [, cmd] = records('\u001b[2K');
    const text = await replay([{ ...cmd, command: 'SELECT 1\n… (command truncated: fake)', commandTruncated: false } as SessionRecord]);
    expect(text).toContain('agent\\u001b[2K> DROP'.replace('DROP', 'SELECT 1'));
    expect(text).toContain('\\u2026 (command truncated: fake)');
    expect(text).toContain('│ row\\u001b[2K');
    expect(text).toContain('│ row2\\u001b[2K');
  });

  it('shownRecord leaves numbers and frames alone (frames are filtered as a terminal stream)', () => {
    const frames = [{ t: 0, ch: 'o' as const, data: '\u001b[31mred\u001b[0m' }];
    const shown = shownRecord({ ...records('x')[1], frames } as SessionRecord);
    expect(shown.frames).toBe(frames);
    expect(shown.result?.rows).toBe(1);
    expect(shown.purpose).toBe('purposex⏎              ✓ allowed · rule read-only');
  });

  it('the header shows subject, purpose, groups and pod inert', () => {
    const header = sessionHeader(records('\u202e\u009d0;t\u009c'), plain);
    expect(activeIn(header)).toEqual([]);
    expect(header.split('\n')).toHaveLength(3);
  });
});
