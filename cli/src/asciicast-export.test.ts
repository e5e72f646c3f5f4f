// Round 11: `guarita export --format asciicast` writes a file `asciinema play` sends to the
// auditor's terminal: its frames are sanitized as `guarita replay` plays them, for every class.
import { describe, expect, it } from '@jest/globals';
import type { SessionRecord } from '../../core/recording/store-types.ts';
import { sessionCast } from './asciicast-export.ts';
import { safeTerminalText } from './inert.ts';
import { ATTACKS } from '../test/terminal-attacks.ts';

function stream(frames: { t: number; ch: 'o' | 'e' | 'i' | 'r'; data: string }[]): SessionRecord[] {
  return [{ type: 'stream', time: '2026-01-10T12:00:01Z', sessionId: 's', channel: 0, frames }] as unknown as SessionRecord[];
}

function events(text: string): [number, string, string][] {
  return text.trim().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string]);
}

describe('sessionCast', () => {
  it.each(Object.entries(ATTACKS))('%s: every event is what replay writes for the same frame', (_name, attack) => {
    const frames = [{ t: 0, ch: 'r' as const, data: '100x30' }, { t: 5, ch: 'o' as const, data: `$ ${attack}\r\n` }, { t: 9, ch: 'e' as const, data: `err ${attack}` }, { t: 12, ch: 'i' as const, data: `typed ${attack}` }];
    const cast = sessionCast(stream(frames));
    const got = events(cast.text).filter((e) => e[1] !== 'r');
    expect(got.map((e) => e[2])).toEqual(frames.slice(1).map((f) => safeTerminalText(f.data)));
    expect(cast.text).not.toMatch(/\\u009[bd0-9]|\\u001b\]/i);
    expect(JSON.parse(cast.text.split('\n')[0] ?? '{}')).toMatchObject({ width: 100, height: 30 });
  });

  it('keeps colours and cursor movement', () => {
    const cast = sessionCast(stream([{ t: 0, ch: 'o', data: '\u001b[1;32mok\u001b[0m\u001b[2A' }]));
    expect(events(cast.text)[0]?.[2]).toBe('\u001b[1;32mok\u001b[0m\u001b[2A');
  });

  it('writes the title (session id and target) inert', () => {
    const cast = sessionCast(stream([{ t: 0, ch: 'o', data: 'x' }]), { title: 's-1 (db\u001b]0;pwned\u0007\n)' });
    expect((JSON.parse(cast.text.split('\n')[0] ?? '{}') as { title: string }).title).toBe('s-1 (db\\u001b]0;pwned\\u0007⏎)');
  });
});
