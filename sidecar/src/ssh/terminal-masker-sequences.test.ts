// Round 12c on the SSH path: what is inside a terminal escape sequence (a CSI's parameters, a title, an OSC 8
// hyperlink's URL, a DCS, APC, PM or SOS string, 7-bit and 8-bit) reaches an agent that reads the raw output, and an
// identifier a long sequence splits is whole on the screen. The engine reads both (core/masking/sequences.ts); the
// terminal masker must not let an idle flush split a sequence it has to read whole, in either form.
import { describe, expect, it } from '@jest/globals';
import { onScreen } from '../../../core/masking/corpus.ts';
import { compileMasker } from '../../../core/masking/index.ts';
import { TerminalMasker } from './terminal-masker.ts';

const masker = (): TerminalMasker => new TerminalMasker(compileMasker({ style: 'redact' }).newSession());
const E = '\u001b';
const ST = `${E}\\`;

/** The text pushed in two pieces with an idle flush between them and after, then ended. */
function cutAt(text: string, cut: number): string {
  const m = masker();
  return m.push(Buffer.from(text.slice(0, cut))) + m.flushIdle() + m.push(Buffer.from(text.slice(cut))) + m.flushIdle() + m.end();
}

const whole = (text: string): string => {
  const m = masker();
  return m.push(Buffer.from(text)) + m.end();
};

describe('terminal masking of identifiers inside escape sequences (round 12c)', () => {
  const inside = [
    `cpf ${E}[52998224725m ok\n`,
    `${E}[1;52998224725m ok\n`,
    `\u009b52998224725m ok\n`,
    `${E}]0;cliente 529.982.247-25 - vim\u0007$ \n`,
    `${E}]2;cliente 52998224725${ST}$ \n`,
    `${E}]8;;https://crm.example/c/529.982.247-25${ST}ficha${E}]8;;${ST}\n`,
    `${E}]8;;http://x/52998224725\u0007link${E}]8;;\u0007\n`,
    `\u009d0;cpf 529.982.247-25\u009c ok\n`,
    `${E}P0;1|cpf 52998224725${ST} ok\n`,
    `${E}_cpf 529.982.247-25${ST} ok\n`,
    `\u009fcpf 52998224725\u009c ok\n`,
  ];

  it.each(inside)('%j: masked in place however the output is cut, with idle flushes', (text) => {
    const expected = whole(text);
    expect(expected).toContain('[CPF]');
    expect(expected.replace(/\[CPF\]/g, '')).not.toMatch(/529|2998224725/);
    for (let cut = 0; cut <= text.length; cut++) expect([cut, cutAt(text, cut)]).toEqual([cut, expected]);
  });

  it('keeps the sequences around the mask as they were', () => {
    expect(whole(`${E}]8;;http://x/52998224725\u0007link${E}]8;;\u0007\n`)).toBe(`${E}]8;;http://x/[CPF]\u0007link${E}]8;;\u0007\n`);
    expect(whole(`cpf ${E}[52998224725m ok\n`)).toBe(`cpf ${E}[[CPF]m ok\n`);
  });
});

describe('terminal masking of identifiers a sequence splits, whatever its length or kind (round 12c)', () => {
  const split = [
    `529.982${E}[${'0;'.repeat(40)}m.247-25 ok\n`, // CSI parameters past the engine's first reading's bound
    `529.982${E}]0;a title with spaces ${'x'.repeat(100)}\u0007.247-25 ok\n`, // an OSC past 80 characters
    `529.982${E}Pq a b c${ST}.247-25 ok\n`, // a DCS string, spaces inside
    `529.982${E}_a b${ST}.247-25 ok\n`, // APC
    `529.982\u0090a b\u009c.247-25 ok\n`, // 8-bit DCS
    `529.982\u009d0;a b\u0007.247-25 ok\n`, // 8-bit OSC
    `529.982\u009b1 q.247-25 ok\n`, // 8-bit CSI whose intermediate is a space (DECSCUSR)
    `529.982${E}[1 q.247-25 ok\n`,
  ];

  it.each(split)('%j: whole on the screen, masked however the output is cut, with idle flushes', (text) => {
    for (let cut = 0; cut <= text.length; cut++) {
      const shown = cutAt(text, cut);
      expect([cut, onScreen(shown).includes('[CPF]'), /529|247-25/.test(shown)]).toEqual([cut, true, false]);
    }
  });

  it('keeps back no more than MAX_HELD_SEQUENCE of a sequence that never ends, and shows the rest', () => {
    const m = masker();
    const open = `${E}]0;${'title words '.repeat(2000)}`;
    let shown = '';
    for (let i = 0; i < open.length; i += 100) shown += m.push(Buffer.from(open.slice(i, i + 100))) + m.flushIdle();
    expect(open.length - shown.length).toBeLessThan(256 + 100);
    expect(shown + m.end()).toBe(open);
  });

  it('a two-character sequence or a complete one at the end of a piece is not held', () => {
    for (const text of [`ok ${E}7`, `ok ${E}[31m`, `ok ${E}]0;t\u0007`, `ok \u009b0m`]) {
      const m = masker();
      expect([text, m.push(Buffer.from(`${text} `)) + m.flushIdle()]).toEqual([text, `${text} `]);
    }
  });
});
