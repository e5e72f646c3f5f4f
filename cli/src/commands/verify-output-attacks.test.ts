// Round 5 review: `guarita verify --file` prints text taken from the file (store key ids, chain
// ids, session ids, a record's command: the agent's own text) on the auditor's terminal. A crafted
// export whose key id carried ESC sequences erased the FAILED lines and drew a "✓ anchored" line
// (cursor movement, line erase, colours) and set the terminal's title; an agent's recorded command
// could do the same when its record is the first bad one. Control characters (C0, DEL, C1) and
// bidirectional overrides from the file are shown as \u escapes; the CLI's own colours stay.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { generateSigningKey } from '../../../core/recording/index.ts';
import { exportOf, testStore, writeChain } from '../../../e2e/support/export-testkit.ts';
import { run } from './verify.ts';

let dir: string;

beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'guarita-verify-out-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `guarita verify --file FILE [args]` as a terminal would see it; stdout and stderr. */
async function verify(lines: readonly unknown[], args: string[] = []): Promise<string> {
  const file = join(dir, `export-${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(file, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  const out = new PassThrough();
  const err = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => { text += d.toString(); });
  err.on('data', (d: Buffer) => { text += d.toString(); });
  await run(['--file', file, ...args], { stdin: Readable.from([]), stdout: Object.assign(out, { isTTY: true }), stderr: Object.assign(err, { isTTY: true }), env: { NO_COLOR: '1' } });
  return text;
}

/** ESC and the other controls a terminal acts on, and bidi overrides. */
// eslint-disable-next-line no-control-regex -- control characters are what is looked for
const ACTING = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

const PAYLOAD = '\u001b[1G\u001b[2K\u001b[1A\u001b[2K\u001b[32m✓\u001b[0m\u2800anchored\u001b]0;PWNED\u0007\u009b2J\u202e';

describe('text from the file reaches the terminal inert', () => {
  it('a store key id carrying ESC sequences (a re-signed file): shown escaped, the FAILED verdict intact', async () => {
    const A = writeChain('ns-x', 5, { group: 5 });
    const lines = exportOf(testStore('ns-x', 'pol', { ...generateSigningKey(), keyId: `k${PAYLOAD}` }), [A]);
    const text = await verify(lines);
    expect(text).toContain('FAILED');
    expect(text).not.toMatch(ACTING);
    expect(text).toContain('\\u001b[2K');
  });

  it('a record\'s command (the agent\'s text) with ESC sequences, when that record is the first bad one', async () => {
    const A = writeChain('ns-x', 5, { group: 5, event: (i) => (i === 2 ? { command: `cat x${PAYLOAD}` } : {}) });
    const lines = exportOf(testStore('ns-x', 'pol'), [A]).map((l) => structuredClone(l) as Record<string, unknown>);
    const third = lines.find((l) => l.seq === 3 && typeof l.hash === 'string');
    if (third === undefined) throw new Error('no record 3');
    third.time = '2026-11-01T00:00:09.000Z';
    const text = await verify(lines);
    expect(text).toContain('FAILED');
    expect(text).toContain('command: cat x');
    expect(text).not.toMatch(ACTING);
  });

  it('a verified file prints no file text that acts either (its self-asserted key ids, chain ids)', async () => {
    const A = writeChain('ns-x', 3, { group: 3 });
    const text = await verify(exportOf(testStore('ns-x', 'pol'), [A]));
    expect(text).toContain('VERIFIED');
    expect(text).not.toMatch(ACTING);
  });
});
