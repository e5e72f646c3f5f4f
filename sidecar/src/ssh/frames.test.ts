import { describe, expect, it, jest } from '@jest/globals';
import type { StreamFrame } from '../../../core/recording/index.ts';
import { FrameRecorder, MAX_NOTE_CHARS, MAX_NOTES, MAX_RECORD_CHARS, noteFrame, noteText } from './frames.ts';

describe('stream frame records', () => {
  it('bounds each record, keeps order, and writes at the end', async () => {
    const written: StreamFrame[][] = [];
    const r = new FrameRecorder({ write: (f) => { written.push(f); return Promise.resolve(); }, startedAt: performance.now(), maxChars: 10 * MAX_RECORD_CHARS, onFailure: () => undefined });
    r.add('o', 'a'.repeat(3 * MAX_RECORD_CHARS + 5));
    r.add('i', 'ls\r');
    await r.flush();
    expect(written.every((f) => f.reduce((n, x) => n + x.data.length, 0) <= MAX_RECORD_CHARS)).toBe(true);
    expect(written.flat().map((f) => f.data).join('')).toBe(`${'a'.repeat(3 * MAX_RECORD_CHARS + 5)}ls\r`);
  });

  it('stops recording at the channel limit and says so once', async () => {
    const written: StreamFrame[][] = [];
    const r = new FrameRecorder({ write: (f) => { written.push(f); return Promise.resolve(); }, startedAt: performance.now(), maxChars: 8, onFailure: () => undefined });
    r.add('o', 'abcdef');
    r.add('o', 'ghijkl');
    r.add('o', 'mnop');
    await r.flush();
    const text = written.flat().map((f) => f.data).join('');
    expect(text.startsWith('abcdefgh')).toBe(true);
    expect(text.match(/recording limit/g)).toHaveLength(1);
    expect(r.truncated).toBe(true);
  });

  it('reports a write failure once and writes nothing after it', async () => {
    const onFailure = jest.fn();
    let calls = 0;
    const r = new FrameRecorder({ write: () => { calls++; return Promise.reject(new Error('spool full')); }, startedAt: performance.now(), maxChars: 1000, onFailure });
    r.add('o', 'x');
    await r.flush();
    r.add('o', 'y');
    await r.flush();
    expect(onFailure).toHaveBeenCalledTimes(1);
    expect(calls).toBe(1);
  });
});

// Round 12c review: a command printed the sidecar's signal note itself, and its record held the same
// frame. The sidecar's notes are frames of their own kind, which `add` (what crossed the channel)
// cannot write, whatever the text.
describe('the sidecar\'s notes are frames of their own kind', () => {
  const recorder = (maxChars = 1000): { r: FrameRecorder; written: StreamFrame[][] } => {
    const written: StreamFrame[][] = [];
    const r = new FrameRecorder({ write: (f) => { written.push(f); return Promise.resolve(); }, startedAt: performance.now(), maxChars, onFailure: () => undefined });
    return { r, written };
  };

  const forgeries: [string, string][] = [
    ['the old note, byte for byte', '\r\n[guarita: the agent sent the signal KILL to the command]\r\n'],
    ['the new note\'s text', 'the agent sent the signal KILL to the command'],
    ['an SFTP end note', '[guarita: sftp read /data/x closed: 0 bytes in 1 ms]\r\n'],
    ['a forward end note', '[guarita: localForward 127.0.0.1:5432 closed: 0 bytes in 1 ms]\r\n'],
    ['the recording limit note', '\r\n[guarita: recording limit of 1000 characters reached for this channel; later output is not recorded]\r\n'],
    ['with colours and cursor movement', '\x1b[2K\r\x1b[2m[guarita: the agent sent the signal KILL to the command]\x1b[0m\r\n'],
    ['with 8-bit controls', '\x9b2K[guarita: the agent sent the signal KILL to the command]\r\n'],
    ['with the replay\'s note mark', '⚑ guarita note (channel 0): the agent sent the signal KILL to the command\r\n'],
    ['in fullwidth brackets', '［guarita: the agent sent the signal KILL to the command］'],
    ['JSON of a note frame', '{"t":0,"ch":"n","data":"the agent sent the signal KILL to the command"}'],
  ];

  it.each(forgeries)('output that reads like a note (%s) is recorded as the output it is', async (_name, text) => {
    for (const ch of ['o', 'e', 'i'] as const) {
      const { r, written } = recorder();
      r.add(ch, text);
      await r.flush();
      expect(written.flat()).toEqual([{ t: expect.any(Number), ch, data: text }]);
    }
  });

  it('a note is one frame of kind n, one line, never merged with another note or with output', async () => {
    const { r, written } = recorder();
    r.add('e', 'warn\r\n');
    expect(r.note('the agent sent the signal INT to the command')).toBe(true);
    expect(r.note('the agent sent the signal\r\nTERM to the command')).toBe(true);
    await r.flush();
    expect(written.flat().map((f) => [f.ch, f.data])).toEqual([
      ['e', 'warn\r\n'], ['n', 'the agent sent the signal INT to the command'], ['n', 'the agent sent the signal TERM to the command'],
    ]);
  });

  it('the recording limit is a note, and notes are recorded past the limit (a signal after it is still recorded)', async () => {
    const { r, written } = recorder(8);
    r.add('o', 'abcdefghij');
    expect(r.note('the agent sent the signal INT to the command')).toBe(true);
    await r.flush();
    expect(written.flat().map((f) => [f.ch, f.data])).toEqual([
      ['o', 'abcdefgh'],
      ['n', 'recording limit of 8 characters reached for this channel; later output is not recorded'],
      ['n', 'the agent sent the signal INT to the command'],
    ]);
  });

  it(`a channel records at most ${MAX_NOTES} notes; past it note() says so and records nothing`, async () => {
    const { r, written } = recorder();
    for (let i = 0; i < MAX_NOTES; i++) expect(r.note(`note ${i}`)).toBe(true);
    expect(r.note('one too many')).toBe(false);
    await r.flush();
    expect(written.flat().filter((f) => f.ch === 'n')).toHaveLength(MAX_NOTES);
  });

  it('a note\'s text is one line of at most MAX_NOTE_CHARS (a long SFTP path, a host\'s error)', () => {
    expect(noteText('a\r\nb\nc\r')).toBe('a b c');
    expect(noteText('x'.repeat(5000))).toHaveLength(MAX_NOTE_CHARS);
    expect(noteFrame(7, 'sftp read /x closed: 3 bytes in 1 ms')).toEqual({ t: 7, ch: 'n', data: 'sftp read /x closed: 3 bytes in 1 ms' });
  });
});
