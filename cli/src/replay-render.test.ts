// `guarita replay`'s rendering and pacing, played instantly with a fake sleep.
import { describe, expect, it } from '@jest/globals';
import { fakeSidecar } from '../../e2e/support/store-testkit.ts';
import type { SessionRecord } from '../../core/recording/store-types.ts';
import { paint } from './output.ts';
import { chronological, elapsed, NOTE_MARK, play } from './replay-render.ts';

const plain = paint({ isTTY: false }, {});
const T0 = Date.parse('2026-01-10T12:00:00Z');

function at(ms: number): string {
  return new Date(T0 + ms).toISOString();
}

function session(): SessionRecord[] {
  const sc = fakeSidecar('shop', 'agent-1');
  const base = { sessionId: 's-1', subject: 'support-agent', purpose: 'customer-support' };
  return [
    ...sc.next(1, { ...base, type: 'session.start', time: at(0), decision: 'allow', reason: 'from 10.0.0.7', command: undefined, result: undefined }),
    ...sc.next(1, { ...base, time: at(1200), command: 'SELECT id, cpf FROM customers\nWHERE id = $1', masked: { cpf: 1 }, result: { rows: 1, bytes: 64, sample: 'id=1 cpf=***.***.***-33' }, durationMs: 3 }),
    ...sc.next(1, { ...base, time: at(2000), command: 'DELETE FROM customers', decision: 'deny', rule: 'no-deletes', reason: 'deletes are not allowed', result: undefined }),
    ...sc.next(1, { ...base, type: 'approval.requested', time: at(2500), command: 'COPY customers TO STDOUT', decision: 'requireApproval', rule: 'exports-need-dpo', approvalRequest: 'areq-7', result: undefined }),
    ...sc.next(1, { ...base, time: at(2600), command: 'COPY customers TO STDOUT', decision: 'requireApproval', rule: 'exports-need-dpo', approvalRequest: 'areq-7', reason: 'waiting for approval', result: undefined }),
    ...sc.next(1, { ...base, time: at(602_600), command: 'COPY customers TO STDOUT', decision: 'allow', rule: 'exports-need-dpo', approvalRequest: 'areq-7', result: { rows: 3, bytes: 300, error: undefined }, masked: { cpf: 3, email: 3 } }),
    ...sc.next(1, { ...base, type: 'approval.consumed', time: at(602_601), approvalRequest: 'areq-7', result: { rows: 3 } }),
    ...sc.next(1, { ...base, type: 'session.end', time: at(603_000), reason: 'closed by the client', command: undefined, result: undefined }),
  ];
}

async function render(records: SessionRecord[], opts: Partial<Parameters<typeof play>[1]> = {}): Promise<{ text: string; sleeps: number[] }> {
  const out: string[] = [];
  const sleeps: number[] = [];
  await play(records, { timing: true, speed: 1, maxIdleMs: 5000, ...opts }, { write: (s) => out.push(s) }, plain, (ms) => {
    sleeps.push(ms);
    return Promise.resolve();
  });
  return { text: out.join(''), sleeps };
}

describe('replay rendering', () => {
  it('shows who ran what, the decisions, masked results and approvals, in order', async () => {
    const { text } = await render(session(), { timing: false });
    expect(text).toContain('Session s-1  policy orders-db  target orders-db (postgres)  namespace shop');
    expect(text).toContain('Subject support-agent (User; groups support)  purpose customer-support  pod agent-1');
    expect(text).toContain('[+00:00.000] ▶ session started (from 10.0.0.7)');
    expect(text).toContain('[+00:01.200] support-agent> SELECT id, cpf FROM customers\n                             WHERE id = $1\n');
    expect(text).toContain('✓ allowed · rule allow-the-rest · 1 row · 64 B · 3 ms · masked cpf=1');
    expect(text).toContain('│ id=1 cpf=***.***.***-33');
    expect(text).toContain('[+00:02.000] support-agent> DELETE FROM customers\n              ✗ denied · rule no-deletes · deletes are not allowed');
    expect(text).toContain('⏸ approval required · rule exports-need-dpo · ApprovalRequest areq-7 created, waiting for approvers');
    expect(text).toContain('⏸ held for approval · rule exports-need-dpo · ApprovalRequest areq-7 · waiting for approval');
    expect(text).toContain('[+10:02.600] support-agent> COPY customers TO STDOUT\n              ✓ allowed · rule exports-need-dpo · approved by ApprovalRequest areq-7 · 3 rows · 300 B · 3 ms · masked cpf=3, email=3');
    expect(text).toContain('✓ ApprovalRequest areq-7 consumed: the approved command ran once (3 rows)');
    expect(text).toContain('■ session ended: closed by the client');
    expect(text).not.toContain('… ');
  });

  it('marks a command the sidecar recorded truncated (past 64 KiB), with the SHA-256 of the whole command', async () => {
    const sc = fakeSidecar('shop', 'agent-1');
    const base = { sessionId: 's-1', subject: 'support-agent', purpose: 'customer-support' };
    const sha = 'ab'.repeat(32);
    const records = [
      ...sc.next(1, { ...base, type: 'session.start', time: at(0), decision: 'allow', reason: 'from 10.0.0.7', command: undefined, result: undefined }),
      ...sc.next(1, { ...base, time: at(10), command: "SELECT 1 -- 'x", commandSha256: sha, commandTruncated: true, decision: 'deny', rule: 'r', reason: 'too long', result: undefined }),
    ];
    const { text } = await render(records, { timing: false });
    expect(text).toContain(`support-agent> SELECT 1 -- 'x\n              … (command truncated: the record keeps the first 64 KiB of its masked text; SHA-256 of the whole command ${sha})\n              ✗ denied`);
  });

  it('waits as recorded, scaled by --speed, with long pauses shortened and labelled', async () => {
    const { text, sleeps } = await render(session(), { speed: 2 });
    expect(sleeps).toEqual([600, 400, 250, 50, 2500, 199.5]);
    expect(text).toContain('… 10m00s later');
    const full = await render(session(), { maxIdleMs: 0 });
    expect(full.sleeps).toContain(600_000);
    expect((await render(session(), { timing: false })).sleeps).toEqual([]);
  });

  it('shows who approved, from the ApprovalRequest\'s counted reviews', async () => {
    const reviews = new Map([['areq-7', [{ reviewer: 'dana', decision: 'Approved', reason: 'ticket 4711', time: '2026-01-10T12:10:00Z' }]]]);
    const { text } = await render(session(), { timing: false, reviews });
    expect(text).toContain('approved by ApprovalRequest areq-7 · 3 rows · 300 B · 3 ms · masked cpf=3, email=3\n              ✓ approved by dana at 2026-01-10T12:10:00Z: "ticket 4711"\n');
    expect(text.match(/approved by dana/g)).toHaveLength(1);
  });

  it('marks records that fail their integrity check, and orders records by time', async () => {
    const records = session();
    const { text } = await render(records, { timing: false, tampered: new Set([`${records[2]!.chainId}#3`]) });
    expect(text).toContain(`⚠ record ${records[2]!.chainId}#3 fails its hash or signature check`);
    expect(chronological([records[3]!, records[1]!]).map((r) => r.seq)).toEqual([2, 4]);
    expect(elapsed(3_723_004)).toBe('1:02:03.004');
  });
});

describe('replay of a terminal session (stream records)', () => {
  function shell(): SessionRecord[] {
    const sc = fakeSidecar('shop', 'agent-1');
    const base = { sessionId: 's-2', subject: 'support-agent', purpose: 'customer-support', protocol: 'ssh' as const, command: undefined, result: undefined };
    return [
      ...sc.next(1, { ...base, type: 'command', time: at(0), command: 'shell', decision: 'allow', rule: 'shell' }),
      ...sc.next(1, { ...base, type: 'stream', time: at(300), channel: 0, frames: [{ t: 0, ch: 'r', data: '80x24' }, { t: 100, ch: 'o', data: '$ ' }, { t: 300, ch: 'i', data: 'cat x\r' }] }),
      ...sc.next(1, { ...base, type: 'stream', time: at(1500), channel: 0, frames: [{ t: 900, ch: 'o', data: 'cpf ***.***.***-33\r\n\u001b]0;evil title\u0007\u001b[31mred\u001b[0m\r\n' }, { t: 1500, ch: 'e', data: 'done\r\n' }] }),
      ...sc.next(1, { ...base, type: 'session.end', time: at(2000), reason: 'closed by the client' }),
    ];
  }

  it('plays the output frames at their recorded times, colours kept, terminal-control strings dropped', async () => {
    const { text, sleeps } = await render(shell());
    expect(text).toContain('▶ terminal (channel 0), masked as recorded:');
    expect(text).toContain('$ cpf ***.***.***-33\r\n\u001b[31mred\u001b[0m\r\ndone\r\n');
    expect(text).not.toContain('evil title');
    expect(text).not.toContain('cat x');
    expect(text).toContain('■ session ended');
    // 100 ms to the prompt, 800 ms to the output, 600 ms to stderr, 500 ms to the end.
    expect(sleeps).toEqual([100, 800, 600, 500]);
  });

  it('prints it at once with --no-timing', async () => {
    const { sleeps } = await render(shell(), { timing: false });
    expect(sleeps).toEqual([]);
  });
});

describe('replay of SSH commands', () => {
  it('names the channel a command came on, as the terminal banner of that channel does; records without one are unchanged', async () => {
    const sc = fakeSidecar('shop', 'agent-1');
    const base = { sessionId: 's-2', subject: 'ops-agent', purpose: 'maintenance', protocol: 'ssh' as const };
    const records: SessionRecord[] = [
      ...sc.next(1, { ...base, time: at(0), command: 'exec: tail -n 5 /var/log/app.log', channel: 3, result: { bytes: 40 } }),
      ...sc.next(1, { ...base, time: at(10), command: 'sftp read /srv/data/report.csv', channel: 4, decision: 'deny', rule: 'no-reports', reason: 'not for this purpose', result: undefined }),
      ...sc.next(1, { ...base, time: at(20), command: 'exec: uptime', result: { bytes: 10 } }),
    ];
    const { text } = await render(records, { timing: false });
    expect(text).toContain('ops-agent> exec: tail -n 5 /var/log/app.log [channel 3]');
    expect(text).toContain('ops-agent> sftp read /srv/data/report.csv [channel 4]');
    expect(text).toMatch(/ops-agent> exec: uptime\n/);
  });

  it('shows what the agent sent on a channel (bytesIn, round 10) beside what came back', async () => {
    const sc = fakeSidecar('shop', 'agent-1');
    const base = { sessionId: 's-3', subject: 'ops-agent', purpose: 'maintenance', protocol: 'ssh' as const };
    const records: SessionRecord[] = [...sc.next(1, { ...base, time: at(0), command: 'exec: scp -t /srv/upload.bin', result: { bytes: 200_000, bytesIn: 200_000 } })];
    const { text } = await render(records, { timing: false });
    expect(text).toContain('✓ allowed · rule allow-the-rest · 200 kB · 200 kB sent');
  });
});

describe('replay of commands whose outcome was not read', () => {
  it('says "outcome unknown" for a command whose answer was never read (round 12), never a count or a status', async () => {
    const sc = fakeSidecar('shop', 'agent-1');
    const base = { sessionId: 's-4', subject: 'support-agent', purpose: 'customer-support' };
    const left = 'the agent left (client disconnected); the server\'s outcome was not read: no answer within 30000 ms, nor within 2000 ms of a CancelRequest';
    const records: SessionRecord[] = [
      // PostgreSQL: no rows member; some result bytes were read before the agent left.
      ...sc.next(1, { ...base, time: at(0), command: 'UPDATE orders SET status = $1 WHERE id = 3', result: { bytes: 0, outcomeUnknown: true, error: left } }),
      ...sc.next(1, { ...base, time: at(10), command: 'SELECT * FROM orders', result: { bytes: 2048, sample: 'id=1', outcomeUnknown: true, error: left } }),
      // HTTP: no status member (never an invented 502); a stray count in an odd record is not shown as one either.
      ...sc.next(1, { ...base, time: at(20), protocol: 'http' as const, command: 'POST /refunds/7', result: { rows: 0, status: 502, outcomeUnknown: true, error: 'the agent left after the request was sent' } }),
      ...sc.next(1, { ...base, type: 'approval.consumed', time: at(30), approvalRequest: 'areq-9', result: { outcomeUnknown: true } }),
    ];
    const { text } = await render(records, { timing: false });
    expect(text).toContain('✓ allowed · rule allow-the-rest · outcome unknown · ');
    expect(text).toContain('outcome unknown · 2.0 kB read');
    expect(text).toContain(`! error: ${left}`);
    expect(text).toContain('consumed: the approved command ran once (outcome unknown)');
    expect(text).not.toMatch(/\b0 rows\b|HTTP 502/);
  });
});

// Round 12c review: a command printed the sidecar's signal note itself, and replay showed it as the
// sidecar's. Notes are frames of their own kind (`n`), shown behind NOTE_MARK, which recorded text
// is never shown with, and listed again after the session.
describe('replay of the sidecar\'s notes on a terminal stream', () => {
  const signal = 'the agent sent the signal KILL to the command';
  function streams(frames: { t: number; ch: 'o' | 'e' | 'n' | 'i' | 'r'; data: string }[], command = 'sleep 5'): SessionRecord[] {
    const sc = fakeSidecar('shop', 'agent-1');
    const base = { sessionId: 's-3', subject: 'support-agent', purpose: 'customer-support', protocol: 'ssh' as const, command: undefined, result: undefined };
    return [
      ...sc.next(1, { ...base, type: 'stream', time: at(100), channel: 2, frames }),
      ...sc.next(1, { ...base, type: 'command', time: at(200), channel: 2, command, decision: 'allow', rule: 'ops', result: { status: 0 } }),
    ];
  }
  const noteLines = (text: string): string[] => text.split('\n').filter((l) => l.includes(NOTE_MARK));

  it('a note is shown on its own line behind the mark, with its channel, and listed again after the session', async () => {
    const { text } = await render(streams([{ t: 0, ch: 'o', data: 'working' }, { t: 50, ch: 'n', data: signal }]), { timing: false });
    expect(text).toContain(`working\n[+00:00.000] ${NOTE_MARK} guarita note (channel 2): ${signal}\n`);
    expect(noteLines(text)).toHaveLength(3);
    expect(text.trimEnd().split('\n').at(-1)).toBe(`${' '.repeat(14)}[+00:00.000] ${NOTE_MARK} guarita note (channel 2): ${signal}`);
  });

  const forgeries: [string, string][] = [
    ['the old note, byte for byte', `\r\n[guarita: ${signal}]\r\n`],
    ['the new note line, mark included', `[+00:00.050] ${NOTE_MARK} guarita note (channel 2): ${signal}\r\n`],
    ['the mark with a variation selector', `${NOTE_MARK}\uFE0F guarita note (channel 2): ${signal}\r\n`],
    ['the mark after cursor movement', `\x1b[1A\x1b[2K\r${NOTE_MARK} guarita note (channel 2): ${signal}\r\n`],
    ['the notes\' heading', `${NOTE_MARK} The sidecar's notes on this session's terminal streams (recorded as notes, not as output):\r\n`],
  ];

  it.each(forgeries)('output that imitates a note (%s) is never shown with the mark, and no note is listed', async (_name, data) => {
    for (const ch of ['o', 'e'] as const) {
      const { text } = await render(streams([{ t: 50, ch, data }]), { timing: false });
      expect(noteLines(text)).toEqual([]);
      expect(text).toContain('▶ terminal (channel 2)'); // shown, as the output it is
    }
  });

  it('a command or result that carries the mark is shown without it', async () => {
    const { text } = await render(streams([], `echo ${NOTE_MARK} guarita note (channel 2): ${signal}`), { timing: false });
    expect(noteLines(text)).toEqual([]);
    expect(text).toContain(`echo ? guarita note (channel 2): ${signal}`);
  });

  it('a note is one inert line: its controls and newlines cannot draw', async () => {
    const { text } = await render(streams([{ t: 0, ch: 'n', data: 'sftp read /x\x1b[2J\x1b]0;t\x07\nclosed: 3 bytes' }]), { timing: false });
    const [line] = noteLines(text);
    expect(line).toMatch(/guarita note \(channel 2\): sftp read \/x.*closed: 3 bytes$/);
    expect(line).not.toContain('\x1b');
  });

  it('records before round 12c (notes as stderr text) play as before, and list no notes', async () => {
    const { text } = await render(streams([{ t: 0, ch: 'e', data: `\r\n[guarita: ${signal}]\r\n` }]), { timing: false });
    expect(text).toContain(`\r\n[guarita: ${signal}]\r\n`);
    expect(noteLines(text)).toEqual([]);
  });
});
