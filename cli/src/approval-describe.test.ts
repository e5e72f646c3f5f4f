// Round 11: what `guarita approve`/`deny` show of an ApprovalRequest before deciding it: every field
// inert for every escape class, the command whole (every line, none hidden), and on a terminal a
// confirmation before anything is sent.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import type { ApprovalRequest } from '../../crds/types.ts';
import { describeRequest, phaseCell } from './approval-describe.ts';
import { confirmed } from './decide.ts';
import type { CliIo } from './io.ts';
import { paint } from './output.ts';
import { activeIn, ATTACKS } from '../test/terminal-attacks.ts';

const FAKE = '\n  command:   SELECT 1';

function request(x: string, text: string): ApprovalRequest {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest', metadata: { name: `ar${x}`, namespace: `ns${x}` },
    spec: {
      policyRef: { name: `pol${x}` }, rule: `rule${x}${FAKE}`, requester: { username: `agent${x}${FAKE}`, groups: [`g${x}`], kind: 'User' },
      purpose: `purpose${x}${FAKE}`, target: { name: `db${x}`, protocol: 'postgres' }, command: { text, preview: 'p', sha256: `${'0'.repeat(64)}` },
      podRef: { name: `pod${x}` }, sessionId: 's', expiresAt: `2030${x}`, reviews: [],
    },
  } as unknown as ApprovalRequest;
}

describe('approve/deny: the request as the approver reads it', () => {
  it.each(Object.entries(ATTACKS))('%s, in every field', (_name, attack) => {
    const text = describeRequest(request(attack, `DROP TABLE customers; /*${attack}*/\nSELECT 1\n;\nDELETE FROM orders`), paint({ isTTY: false }, {}));
    expect(activeIn(text)).toEqual([]);
    expect(text).toContain('DROP TABLE customers');
    // Exactly one "command:" line, the CLI's: a field's newline is ⏎, and the command's lines are indented under it.
    expect(text.split('\n').filter((l) => /^\s*command\b/.test(l))).toHaveLength(1);
    expect(text).toMatch(/command: {3}\(4 lines, all shown\)\n {13}DROP TABLE customers[^\n]*\n {13}SELECT 1\n {13};\n {13}DELETE FROM orders\n$/);
  });

  it('the reviewer\'s own escape attempt, the redraw of the review: the DROP stays visible', () => {
    const text = describeRequest(request('', 'DROP TABLE customers; /*\r\u001b[2K  command:   SELECT id FROM orders WHERE id = 7\u001b[8m */'), paint({ isTTY: true }, {}));
    expect(text).toContain('DROP TABLE customers; /*\\u000d\\u001b[2K  command:   SELECT id');
    expect(text).toContain('sha256:    0000');
    expect(text).toContain('\n  command:   DROP TABLE customers; /*'); // one line: after its label
  });
});

describe('approve/deny: confirmation on a terminal', () => {
  function io(tty: boolean, answer?: string): { io: CliIo; err: () => string } {
    const stdin = Object.assign(new PassThrough(), { isTTY: tty });
    let err = '';
    const stderr = Object.assign(new PassThrough(), { isTTY: tty });
    stderr.on('data', (d: Buffer) => { err += d.toString(); });
    if (answer !== undefined) stdin.end(answer);
    return { io: { stdin, stdout: new PassThrough(), stderr, env: {} }, err: () => err };
  }

  it('scripts (no terminal) are not asked', async () => {
    const t = io(false);
    await expect(confirmed(t.io, 'Approve', false)).resolves.toBe(true);
    expect(t.err()).toBe('');
  });

  it('--yes is not asked', async () => {
    await expect(confirmed(io(true).io, 'Approve', true)).resolves.toBe(true);
  });

  it.each([['y\n', true], ['yes\n', true], ['Y\n', true], ['n\n', false], ['\n', false], ['', false], ['yolo\n', false]])('on a terminal, the answer %j decides: %s', async (answer, expected) => {
    const t = io(true, answer);
    await expect(confirmed(t.io, 'Approve', false)).resolves.toBe(expected);
    expect(t.err()).toContain('Approve this request, command as shown above? [y/N]');
  });
});

// Round 12b review, finding 2: a Consumed request whose command's answer the sidecar never read
// (status.execution.outcome Unknown) is shown as such, never as a failure or with a row count.
describe('approvals: how an approved command ran', () => {
  const consumed = (execution: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}): ApprovalRequest => {
    const r = request('', 'UPDATE orders SET status = 1');
    return { ...r, status: { phase: 'Consumed', approvals: 1, required: 1, ...extra, ...(execution === undefined ? {} : { execution: { startedAt: '2026-12-06T20:00:00Z', ...execution } }) } } as unknown as ApprovalRequest;
  };

  it.each([
    [{ outcome: 'Unknown', error: 'the agent left (client disconnected); the server\'s outcome was not read' }, 'Consumed (1/1, outcome unknown)', 'outcome unknown, it may have taken effect: the agent left (client disconnected); the server\'s outcome was not read'],
    [{ outcome: 'Unknown', rows: 7 }, 'Consumed (1/1, outcome unknown)', 'outcome unknown, it may have taken effect'],
    [{ outcome: 'Succeeded', rows: 3 }, 'Consumed (1/1, Succeeded)', 'Succeeded, 3 row(s)'],
    [{ outcome: 'Failed', rows: 0, error: 'duplicate key' }, 'Consumed (1/1, Failed)', 'Failed, 0 row(s): duplicate key'],
  ])('%j: the list\'s PHASE and describe\'s executed line', (execution, cell, line) => {
    const r = consumed(execution);
    expect(phaseCell(r)).toBe(cell);
    expect(describeRequest(r, paint({ isTTY: false }, {}))).toContain(`\n  executed:  ${line}\n`);
  });

  it('no execution yet: the phase and count as before, no executed line', () => {
    const r = consumed(undefined);
    expect(phaseCell(r)).toBe('Consumed (1/1)');
    expect(describeRequest(r, paint({ isTTY: false }, {}))).not.toContain('executed:');
    expect(phaseCell({ ...r, status: undefined })).toBe('Pending');
  });

  it.each(Object.entries(ATTACKS))('an error or outcome carrying %s stays inert', (_name, attack) => {
    const r = consumed({ outcome: `Unknown${attack}`, error: `boom${attack}\n  command:   SELECT 1` });
    const text = describeRequest(r, paint({ isTTY: false }, {}));
    expect(activeIn(text)).toEqual([]);
    expect(text.split('\n').filter((l) => /^\s*command\b/.test(l))).toHaveLength(1);
  });
});
