// Round 12d review: attacks on the round 12 / 12c fixes (sequences.ts's "kept" reading). The kept reading reads a
// sequence's framing (ESC and its introducer, a CSI's final byte, BEL, ST, the 8-bit forms) as spaces, so a hit found
// in it can span a framing character; the mask is rendered from the view's text and written over the original span,
// so that framing character comes back as a space. When the character was a string terminator (BEL, U+009C), the
// control string no longer ends there: a terminal keeps reading it up to the next terminator and hides the visible
// text between, which is what separated the two halves of a real identifier. The masked output then shows, on the
// screen, an identifier that no reading of the input held.
import { describe, expect, it } from '@jest/globals';
import { compileMasker } from './index.ts';

const masker = compileMasker({});
const maskText = (t: string): string => masker.newSession().maskText(t);

const E = '\u001b';
const BEL = '\u0007';

/**
 * What a terminal (ECMA-48 / xterm's parser) shows of `t`: CSI sequences, ESC + intermediates + final, and control
 * strings (OSC, DCS, SOS, PM, APC; 7-bit and 8-bit) up to their terminator (BEL for OSC, ST as ESC `\` or U+009C),
 * or aborted by CAN, SUB or ESC, are not shown; other C0 (but newline) and C1 controls neither.
 */
function screen(t: string): string {
  let out = '';
  for (let i = 0; i < t.length; ) {
    const end = sequenceEnd(t, i);
    if (end > i) i = end;
    else out += t[i++];
  }
  return out;
}

const isStringIntroducer = (c: number): boolean => c === 0x90 || c === 0x98 || c === 0x9d || c === 0x9e || c === 0x9f;
const isControl = (c: number): boolean => (c < 0x20 && c !== 0x0a) || (c >= 0x7f && c <= 0x9f);

/** Where the sequence or control at `i` ends (what the terminal does not show), or `i` for a shown character. */
function sequenceEnd(t: string, i: number): number {
  const c = t.charCodeAt(i);
  if (c === 0x1b) return afterEsc(t, i);
  if (c === 0x9b) return csiEnd(t, i + 1);
  if (isStringIntroducer(c)) return controlStringEnd(t, i + 1, c === 0x9d);
  return isControl(c) ? i + 1 : i;
}

function afterEsc(t: string, i: number): number {
  const n = t.charCodeAt(i + 1);
  if (n === 0x5b) return csiEnd(t, i + 2);
  if (n === 0x5d) return controlStringEnd(t, i + 2, true);
  if (n === 0x50 || n === 0x58 || n === 0x5e || n === 0x5f) return controlStringEnd(t, i + 2, false);
  let j = i + 1;
  while (j < t.length && t.charCodeAt(j) >= 0x20 && t.charCodeAt(j) <= 0x2f) j++;
  return j + 1;
}

function csiEnd(t: string, j: number): number {
  while (j < t.length && t.charCodeAt(j) >= 0x20 && t.charCodeAt(j) <= 0x3f) j++;
  return j < t.length ? j + 1 : j;
}

/** A control string's end: its terminator (BEL for OSC, ST), or CAN/SUB/ESC that abort it, or the text's end. */
function controlStringEnd(t: string, j: number, osc: boolean): number {
  for (; j < t.length; j++) {
    const c = t.charCodeAt(j);
    if (c === 0x9c || c === 0x18 || c === 0x1a || (osc && c === 0x07)) return j + 1;
    if (c === 0x1b) return t.charCodeAt(j + 1) === 0x5c ? j + 2 : j;
  }
  return j;
}

/** The secret CPF 529.982.247-25, split around a decoy CPF (111.444.777-35, written with spaces) in a title. */
const CASES: Readonly<Record<string, string>> = {
  // A window title ended by BEL; the decoy spans the BEL. Visible text `35X` then a lone BEL separate the halves.
  titleBel: `cpf 529.982${E}]0;111 444 777${BEL}35X${BEL}.247-25 ok`,
  // The same with an OSC 8 hyperlink's URL.
  osc8Bel: `cpf 529.982${E}]8;;http://x/111 444 777${BEL}35X${E}]8;;${BEL}.247-25 ok`,
  // 7-bit OSC ended by the 8-bit ST (U+009C), a single framing character too.
  titleC1St: `cpf 529.982${E}]0;111 444 777\u009c35X\u009c.247-25 ok`,
  // Added by the fix: the first reading's form (an OSC past its 80-character bound, whose BEL it drops alone).
  longTitleBel: `cpf 529.982${E}]0;${'t'.repeat(85)} 111 444 777${BEL} 35X${BEL}.247-25 ok`,
};

describe('round 12d: a kept-reading mask spanning a string terminator un-terminates the sequence', () => {
  for (const [name, raw] of Object.entries(CASES)) {
    it(`${name}: the input's screen does not show the secret CPF, and the masked output's screen must not either`, () => {
      // Before masking no reading shows it: the screen shows the halves apart.
      expect(screen(raw)).not.toMatch(/529\.982\.247-25/);
      const out = maskText(raw);
      // The decoy is masked (the fix did find it)...
      expect(out).not.toContain('111 444 777');
      // ...but the mask must not change what the terminal treats as a sequence: each BEL / ST kept.
      expect(screen(out)).not.toMatch(/529\.982\.247-25/);
    });
  }

  it('masking is not idempotent there: masking the output again finds a CPF the first pass wrote onto the screen', () => {
    for (const raw of Object.values(CASES)) {
      const once = maskText(raw);
      expect(maskText(once)).toBe(once);
    }
  });

  it('the terminator count is kept: a mask never rewrites framing bytes of the original', () => {
    const count = (s: string): number => [...s].filter((c) => c === BEL || c === '\u009c' || c === E).length;
    for (const raw of Object.values(CASES)) expect(count(maskText(raw))).toBe(count(raw));
    // The decoy is masked around the BEL, which stays where it was (added by the fix).
    expect(maskText(CASES.titleBel ?? '')).toBe(`cpf 529.982${E}]0;*** *** ***${BEL}35X${BEL}.247-25 ok`);
  });
});
