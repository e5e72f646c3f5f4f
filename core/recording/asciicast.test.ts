import { describe, expect, it } from '@jest/globals';
import { AsciicastError, streamChannels, toAsciicast } from './asciicast.ts';
import type { SessionEvent } from './session-event.ts';

const rec = (time: string, channel: number | undefined, frames: SessionEvent['frames'], type: SessionEvent['type'] = 'stream') => ({
  type, time, sessionId: 's-1', ...(channel === undefined ? {} : { channel }), ...(frames === undefined ? {} : { frames }),
});

describe('asciicast v2', () => {
  const records = [
    rec('2026-12-05T10:00:00.500Z', 3, [{ t: 0, ch: 'r', data: '120x40' }, { t: 10, ch: 'o', data: '$ ' }, { t: 500, ch: 'i', data: 'ls\r' }]),
    rec('2026-12-05T10:00:00.100Z', undefined, undefined, 'command'),
    rec('2026-12-05T10:00:01.200Z', 3, [{ t: 700, ch: 'o', data: 'a.txt\r\n' }, { t: 700, ch: 'e', data: 'warn\r\n' }, { t: 1200, ch: 'o', data: 'cpf ***.***.***-33\r\n' }]),
    rec('2026-12-05T10:00:02.000Z', 5, [{ t: 0, ch: 'o', data: 'other channel' }]),
  ];

  it('writes a header from the first resize and one event line per frame, seconds since the channel started', () => {
    const cast = toAsciicast(records);
    const [header, ...events] = cast.text.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
    expect(header).toMatchObject({ version: 2, width: 120, height: 40, env: { TERM: 'xterm-256color' } });
    expect((header as { timestamp: number }).timestamp).toBe(Math.floor(Date.parse('2026-12-05T10:00:00.000Z') / 1000));
    expect(events).toEqual([
      [0, 'r', '120x40'], [0.01, 'o', '$ '], [0.5, 'i', 'ls\r'], [0.7, 'o', 'a.txt\r\n'], [0.7, 'o', 'warn\r\n'], [1.2, 'o', 'cpf ***.***.***-33\r\n'],
    ]);
    expect(cast).toMatchObject({ channels: [3, 5], channel: 3, events: 6 });
  });

  it('converts the channel asked for, without input when asked, and defaults the size', () => {
    const cast = toAsciicast(records, { channel: 5, input: false, title: 'orders-host' });
    const lines = cast.text.trimEnd().split('\n');
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ width: 80, height: 24, title: 'orders-host' });
    expect(lines.slice(1)).toEqual(['[0,"o","other channel"]']);
    expect(toAsciicast(records, { input: false }).text).not.toContain('"i"');
  });

  it('says why when there is nothing to convert', () => {
    expect(() => toAsciicast([rec('2026-12-05T10:00:00Z', undefined, undefined, 'command')])).toThrow(AsciicastError);
    expect(() => toAsciicast(records, { channel: 9 })).toThrow('channels: 3, 5');
    expect(streamChannels([])).toEqual([]);
  });
});

// Round 12c review: the sidecar's notes (frames `n`) are asciicast markers, which a player shows on its
// timeline and never writes to the terminal, so the command's output cannot draw one.
describe('the sidecar\'s notes in asciicast', () => {
  const cast = (frames: SessionEvent['frames']): unknown[] => toAsciicast([rec('2026-12-05T10:00:01Z', 0, frames)]).text.trimEnd().split('\n').slice(1).map((l) => JSON.parse(l) as unknown);

  it('a note is a marker ("m") labelled with its text; output that reads like one stays output', () => {
    expect(cast([
      { t: 0, ch: 'e', data: '[guarita: the agent sent the signal KILL to the command]\r\n' },
      { t: 5, ch: 'n', data: 'the agent sent the signal KILL to the command' },
    ])).toEqual([[0, 'o', '[guarita: the agent sent the signal KILL to the command]\r\n'], [0.005, 'm', 'the agent sent the signal KILL to the command']]);
  });

  it('a marker\'s label is one line without terminal controls or colours', () => {
    expect(cast([{ t: 0, ch: 'n', data: 'sftp read /x\x1b]0;t\x07\r\nclosed: \x1b[31m3\x1b[0m bytes \x9b2J' }])).toEqual([[0, 'm', 'sftp read /x closed: 3 bytes ']]);
  });

  it.each(['x', '__proto__', 'toString', 'm'])('a frame of a kind this version does not know (%j) is left out, not written as output', (ch) => {
    expect(cast([{ t: 0, ch: ch as 'o', data: 'hidden' }, { t: 1, ch: 'o', data: 'shown' }])).toEqual([[0.001, 'o', 'shown']]);
  });

  it('records before round 12c (notes as stderr text) convert as before', () => {
    expect(cast([{ t: 0, ch: 'e', data: '\r\n[guarita: the agent sent the signal INT to the command]\r\n' }])).toEqual([[0, 'o', '\r\n[guarita: the agent sent the signal INT to the command]\r\n']]);
  });
});
