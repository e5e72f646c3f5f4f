// Round 11 review, finding 2, on the SSH path: `cat` of a UTF-16 file (a BOM-less Windows export)
// sends ASCII characters each beside a NUL, which the terminal does not print: the screen shows the
// CPF whole. The engine reads such text with its NULs dropped (core/masking/utf16.ts); here through
// the terminal masker, however the output is cut and with the stream going idle between pieces.
import { describe, expect, it } from '@jest/globals';
import { compileMasker } from '../../../core/masking/index.ts';
import { TerminalMasker } from './terminal-masker.ts';

const masker = (): TerminalMasker => new TerminalMasker(compileMasker({ style: 'redact' }).newSession());
const LINE = 'cliente cpf 590.830.166-33 email maria.souza@example.com\r\n';

describe('terminal masking of UTF-16 output (NUL beside every character)', () => {
  it.each(['utf16le', 'utf16be'] as const)('%s: masked however the output is cut, with idle flushes between the pieces', (encoding) => {
    const bytes = Buffer.from(LINE, 'utf16le');
    if (encoding === 'utf16be') bytes.swap16();
    const wrong: number[] = [];
    for (let cut = 1; cut < bytes.length; cut++) {
      const m = masker();
      const shown = m.push(bytes.subarray(0, cut)) + m.flushIdle() + m.push(bytes.subarray(cut)) + m.flushIdle() + m.end();
      const screen = shown.replaceAll('\0', '');
      if (screen.includes('590') || screen.includes('maria.souza') || !screen.includes('[CPF]') || !screen.includes('[EMAIL]')) wrong.push(cut);
    }
    expect(wrong).toEqual([]);
  });

  it('byte by byte with an idle flush after each byte (a slow cat)', () => {
    const m = masker();
    let shown = '';
    for (const b of Buffer.from(LINE, 'utf16le')) shown += m.push(Buffer.from([b])) + m.flushIdle();
    shown += m.end();
    expect(shown.replaceAll('\0', '')).toBe('cliente cpf [CPF] email [EMAIL]\r\n');
  });
});
