// The asciicast conversion writes frames as `guarita replay` shows them, for any caller (the filter
// moved from the CLI to core/recording/terminal-text.ts after the round 11 CLI review).
import { describe, expect, it } from '@jest/globals';
import { toAsciicast } from './asciicast.ts';
import { safeTerminalText } from './terminal-text.ts';

const HOSTILE = [
  '\x1b]52;c;ZWNobyBoaQ==\x07', // OSC 52: write the clipboard
  '\x9d52;c;ZWNobyBoaQ==\x9c', // the same in 8-bit C1
  '\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\', // OSC 8 hyperlink
  '\x1bP+q544e\x1b\\', // DCS: a terminal query
  '\x1b[6n', // a query the terminal answers into the shell
  '\x9b6n',
  '\x1b[8mhidden\x1b[0m', // conceal
  '\x1b[3J', // erase the scrollback
];

describe('toAsciicast sanitizes terminal frames', () => {
  it.each(HOSTILE)('writes %j as replay shows it', (data) => {
    const cast = toAsciicast([{ type: 'stream', time: '2026-12-06T10:00:00Z', sessionId: 's', channel: 0, frames: [{ t: 1, ch: 'o', data }, { t: 2, ch: 'i', data }] }]);
    const events = cast.text.trim().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    expect(events.map((e) => e[2])).toEqual([safeTerminalText(data), safeTerminalText(data)]);
    for (const [, , text] of events) expect(text).not.toMatch(/\x1b\]|\x9d|\x1bP|\x90|\x1b\[(?:6n|8m|3J)|\x9b/); // eslint-disable-line no-control-regex
  });

  it('keeps colours, cursor movement and size frames', () => {
    const cast = toAsciicast([{ type: 'stream', time: '2026-12-06T10:00:00Z', sessionId: 's', channel: 0, frames: [{ t: 0, ch: 'r', data: '80x24' }, { t: 1, ch: 'o', data: '\x1b[31mred\x1b[0m\x1b[2A' }] }]);
    const events = cast.text.trim().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    expect(events.map((e) => e[2])).toEqual(['80x24', '\x1b[31mred\x1b[0m\x1b[2A']);
  });
});
