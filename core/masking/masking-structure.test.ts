// Round 12d fix: a mask leaves what carries structure in its span as it was (structure.ts). The kept reading of a
// terminal escape sequence (sequences.ts) reads its framing as spaces, so a decoy identifier written with spaces
// reads across a BEL or an ST; the mask was written over the whole span, the terminator became a space, the string
// ran on to a later terminator and hid the visible text that separated the two halves of a real identifier. Here:
// every spelling of that (terminators, string kinds, 7-bit and 8-bit, escaped forms, the first reading's lone
// controls past its bounded pattern, backspaces, bidi controls, UTF-16, every style, streams), and a property test
// over random text built from identifiers, decoys, sequences and escapes: masking is idempotent, and what a terminal
// shows of the output (raw, or once a reader has decoded its escapes) holds nothing the engine would mask.
import { describe, expect, it } from '@jest/globals';
import { compileMasker } from './index.ts';
import type { MaskingSpec } from './types.ts';

const KEY = { hashKey: Buffer.alloc(32, 7) };
const masker = compileMasker({});
const maskText = (t: string): string => masker.newSession().maskText(t);

const E = '\u001b';
const BEL = '\u0007';
const ST = `${E}\\`;
const C1_ST = '\u009c';

// ---------------------------------------------------------------------------------------------------------------
// A terminal, as ECMA-48 / xterm's parser reads text: sequences (CSI, ESC + intermediates + final, control strings
// OSC/DCS/SOS/PM/APC in 7-bit and 8-bit up to BEL (OSC) or ST, aborted by CAN, SUB or ESC) are not shown, nor other
// controls; a backspace moves the cursor back one cell (not past the line's start), a carriage return to its start,
// and what is written there replaces what was.

const isStringIntroducer = (c: number): boolean => c === 0x90 || c === 0x98 || c === 0x9d || c === 0x9e || c === 0x9f;

/** A CSI's end: its final byte; parameter and intermediate bytes in any order, C0 controls inside it executed (screen
 * below), DEL ignored, CAN and SUB abort it, ESC starts another. */
function csiEnd(t: string, j: number): number {
  for (; j < t.length; j++) {
    const c = t.charCodeAt(j);
    if (c === 0x18 || c === 0x1a || c === 0x1b) return j;
    if (c >= 0x40 && c <= 0x7e) return j + 1;
    if (c > 0x7f) return j;
  }
  return j;
}

function controlStringEnd(t: string, j: number, osc: boolean): number {
  for (; j < t.length; j++) {
    const c = t.charCodeAt(j);
    if (c === 0x9c || (osc && c === 0x07)) return j + 1;
    if (c === 0x18 || c === 0x1a) return j;
    if (c === 0x1b) return t.charCodeAt(j + 1) === 0x5c ? j + 2 : j;
  }
  return j;
}

/** After ESC: the control strings' introducers, true for OSC (it also ends at BEL). */
const STRING_OPENERS = new Map([[0x5d, true], [0x50, false], [0x58, false], [0x5e, false], [0x5f, false]]);

function afterEsc(t: string, i: number): number {
  const n = t.charCodeAt(i + 1);
  if (n === 0x5b) return csiEnd(t, i + 2);
  const osc = STRING_OPENERS.get(n);
  if (osc !== undefined) return controlStringEnd(t, i + 2, osc);
  let j = i + 1;
  // Intermediates, and C0 controls (executed: screen below) and DEL, which do not end it (the DEC parser terminals share;
  // until round 15 this model ended it at a control, a terminal does not).
  const goesOn = (c: number): boolean => (c >= 0x20 && c <= 0x2f) || (c < 0x20 && c !== 0x18 && c !== 0x1a && c !== 0x1b) || c === 0x7f;
  while (j < t.length && goesOn(t.charCodeAt(j))) j++;
  // Its final byte; anything else (another ESC, CAN, SUB, a C1 control, a character past ASCII) ends it there and is read as itself.
  const c = t.charCodeAt(j);
  return c >= 0x30 && c <= 0x7e ? j + 1 : j;
}

const opensString = (t: string, i: number): boolean => isStringIntroducer(t.charCodeAt(i)) || (t.charCodeAt(i) === 0x1b && STRING_OPENERS.has(t.charCodeAt(i + 1)));

/** Where the sequence at `i` ends, or `i` when none starts there. */
function sequenceEnd(t: string, i: number): number {
  const c = t.charCodeAt(i);
  if (c === 0x1b) return afterEsc(t, i);
  if (c === 0x9b) return csiEnd(t, i + 1);
  if (isStringIntroducer(c)) return controlStringEnd(t, i + 1, c === 0x9d);
  return i;
}

/** A character a terminal prints (not a control, nor a format character that takes no cell). */
const printed = (ch: string): boolean => !/[\p{Cc}\u200b-\u200f\u202a-\u202e\u2060-\u2069\u061c\ufeff\u00ad]/u.test(ch);

/** The cells of a terminal's lines and its cursor (and the cursor ESC 7 saved). */
class Cells {
  readonly lines: string[][] = [[]];
  cursor = 0;
  saved = 0;
  /** The last character written (REP repeats it). */
  last = '';

  /** A CSI that moves the cursor on its line or changes its cells (round 15): back, forward, to a column, a tab stop
   * back, erase in line, erase, delete and insert characters, repeat the last one. */
  csi(seq: string): void {
    const m = /^(?:\[|\u009b)([0-9]*)([DCGKXP@bZ])$/.exec(seq.startsWith(E) ? seq.slice(1) : seq);
    if (m === null) return;
    const n = Math.max(1, Number(m[1] || 1));
    const line = this.lines.at(-1) ?? [];
    const edits: Record<string, () => void> = {
      D: () => (this.cursor = Math.max(0, this.cursor - n)),
      C: () => (this.cursor += n),
      G: () => (this.cursor = n - 1),
      K: () => (line.length = Math.min(line.length, this.cursor)),
      X: () => line.fill(' ', this.cursor, Math.min(line.length, this.cursor + n)),
      P: () => line.splice(this.cursor, n),
      '@': () => this.cursor < line.length && line.splice(this.cursor, 0, ...Array<string>(n).fill(' ')),
      b: () => this.last !== '' && Array.from({ length: n }, () => this.put(this.last)),
      Z: () => (this.cursor = Math.max(0, (Math.ceil(this.cursor / 8) - n) * 8)),
    };
    edits[m[2] ?? '']?.();
  }

  put(ch: string): void {
    if (ch === '\n') {
      this.lines.push([]);
      this.cursor = 0;
    } else if (ch === '\r') this.cursor = 0;
    else if (ch === '\b') this.cursor = Math.max(0, this.cursor - 1);
    else if (ch === '\t') this.cursor = (Math.floor(this.cursor / 8) + 1) * 8;
    else if (printed(ch)) {
      (this.lines.at(-1) ?? [])[this.cursor++] = ch;
      this.last = ch;
    }
  }
}

/**
 * The sequence t[i, end) on `cells`: C0 controls inside an escape sequence or a CSI are executed (a backspace there
 * still moves the cursor), a control string swallows them; ESC 7 / ESC 8 save and restore the cursor; a CSI may move it.
 */
function run(t: string, i: number, end: number, cells: Cells): void {
  const seq = t.slice(i, end);
  if (!opensString(t, i)) for (const ch of seq.slice(1)) if ('\b\r\n\t'.includes(ch)) cells.put(ch);
  if (seq === `${E}7`) cells.saved = cells.cursor;
  else if (seq === `${E}8`) cells.cursor = cells.saved;
  else cells.csi(seq.replace(/[\b\r\n\t]/g, ''));
}

/** What a terminal shows of `t` (lines joined with `\n`). */
function screen(t: string): string {
  const cells = new Cells();
  for (let i = 0; i < t.length; ) {
    const end = sequenceEnd(t, i);
    if (end > i) run(t, i, end, cells);
    else cells.put(t[i] ?? '');
    i = Math.max(end, i + 1);
  }
  return cells.lines.map((l) => Array.from(l, (c) => c ?? ' ').join('')).join('\n');
}

/** `t` with the escapes a reader decodes resolved once: `\uXXXX`, `\xXX`, `\b`, `&#N;`, `&#xH;`, `%XX` (ASCII, C1). */
function unescaped(t: string): string {
  return t.replace(/\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|\\b|&#x([0-9a-fA-F]{1,6});?|&#([0-9]{1,7});?|%([0-7][0-9a-fA-F])|%[cC]2%([89][0-9a-fA-F])/g, (m, u: string, x: string, hx: string, dec: string, pc: string, c1: string) => {
    const code = u ?? x ?? hx ?? pc ?? c1;
    if (code !== undefined) return String.fromCharCode(Number.parseInt(code, 16));
    if (dec !== undefined) return String.fromCharCode(Number.parseInt(dec, 10));
    return m === '\\b' ? '\b' : m;
  });
}

/**
 * What a reader of a screen reads: the characters shown. An escape of a control left on it (`%1B]0;`) is text there,
 * not a sequence a second terminal would run (the engine would read it as one: `decodedScreen` is that reader).
 */
const literal = (shown: string): string => shown.replace(/\\u001b|\\u0007|\\u009c|&#27;|&#7;|&#x9c;|%1B|%07|%C2%9C|\\b/g, '');

/** The readers of the output: raw, a terminal, a terminal after a decoder. */
const VIEWS: Readonly<Record<string, (t: string) => string>> = {
  raw: (t) => t,
  screen: (t) => literal(screen(t)),
  decodedScreen: (t) => screen(unescaped(t)),
};

/** What each reader of `out` holds that the engine would still mask (empty when nothing). */
function unmasked(out: string): string[] {
  const found: string[] = [];
  for (const [name, view] of Object.entries(VIEWS)) {
    const seen = view(out);
    if (maskText(seen) !== seen) found.push(`${name}: ${JSON.stringify(seen)} -> ${JSON.stringify(maskText(seen))}`);
  }
  return found;
}

const SECRET = /529\.?982\.?247-?25/;

// ---------------------------------------------------------------------------------------------------------------

/** The secret CPF 529.982.247-25 in two halves, a decoy CPF (111.444.777-35 with spaces) spanning a terminator. */
const SPANNED_TERMINATORS: Readonly<Record<string, string>> = {
  oscBel: `cpf 529.982${E}]0;111 444 777${BEL}35X${BEL}.247-25 ok`,
  oscC1St: `cpf 529.982${E}]0;111 444 777${C1_ST}35X${C1_ST}.247-25 ok`,
  osc8Bel: `cpf 529.982${E}]8;;http://x/111 444 777${BEL}35X${E}]8;;${BEL}.247-25 ok`,
  osc8bitBel: `cpf 529.982\u009d0;111 444 777${BEL}35X${BEL}.247-25 ok`,
  osc8bitSt: `cpf 529.982\u009d0;111 444 777${C1_ST}35X${C1_ST}.247-25 ok`,
  dcsC1St: `cpf 529.982${E}P111 444 777${C1_ST}35X${C1_ST}.247-25 ok`,
  dcs8bit: `cpf 529.982\u0090111 444 777${C1_ST}35X${C1_ST}.247-25 ok`,
  sos: `cpf 529.982${E}X111 444 777${C1_ST}35X${C1_ST}.247-25 ok`,
  sos8bit: `cpf 529.982\u0098111 444 777${C1_ST}35X${C1_ST}.247-25 ok`,
  pm: `cpf 529.982${E}^111 444 777${C1_ST}35X${C1_ST}.247-25 ok`,
  pm8bit: `cpf 529.982\u009e111 444 777${C1_ST}35X${C1_ST}.247-25 ok`,
  apc: `cpf 529.982${E}_111 444 777${C1_ST}35X${C1_ST}.247-25 ok`,
  apc8bit: `cpf 529.982\u009f111 444 777${C1_ST}35X${C1_ST}.247-25 ok`,
  // The 7-bit ST is two characters (two spaces in the kept reading); a decoy written with two spaces would cross it.
  oscSt7: `cpf 529.982${E}]0;111 444 777${ST}35X${BEL}.247-25 ok`,
  // A CSI's final byte, and an 8-bit CSI.
  csiFinal: `cpf 529.982${E}[111;444;777m35X${BEL}.247-25 ok`,
  csi8bit: `cpf 529.982\u009b111;444;777m 35X.247-25 ok`,
  // An ESC sequence's final byte (ESC 7: save the cursor).
  escFinal: `cpf 529.982 111 444 777${E}7 35X.247-25 ok`,
  // CAN and SUB abort a string: the decoy spans the abort.
  abortCan: `cpf 529.982${E}]0;111 444 777\u001835X${BEL}.247-25 ok`,
  abortSub: `cpf 529.982${E}]0;111 444 777\u001a35X${BEL}.247-25 ok`,
  // The first reading's bounded pattern (80 characters of OSC): past it, ESC and BEL are controls it drops alone.
  longTitle: `cpf 529.982${E}]0;${'t'.repeat(85)} 111 444 777${BEL} 35X${BEL}.247-25 ok`,
  longTitleGlued: `cpf 529.982${E}]0;${'t'.repeat(85)} 111.444.777${BEL}-35X${BEL}.247-25 ok`,
  // A lone BEL the first reading drops between a decoy's groups.
  loneBel: `cpf 529.982${E}]0;x 111.444${BEL}.777-35 y${BEL}.247-25`,
};

/** The same, written as escapes a JSON log line, a URL or an HTML page carries them. */
const ESCAPED_TERMINATORS: Readonly<Record<string, string>> = {
  jsonU: String.raw`cpf 529.982\u001b]0;111 444 777\u000735X\u0007.247-25 ok`,
  jsonX: String.raw`cpf 529.982\x1b]0;111 444 777\x0735X\x07.247-25 ok`,
  jsonC1: String.raw`cpf 529.982\u009d0;111 444 777\u009c35X\u009c.247-25 ok`,
  html: 'cpf 529.982&#27;]0;111 444 777&#7;35X&#7;.247-25 ok',
  htmlHex: 'cpf 529.982&#x1b;]0;111 444 777&#x7;35X&#x7;.247-25 ok',
  percent: 'cpf 529.982%1B]0;111 444 777%0735X%07.247-25 ok',
};

describe('a mask leaves the structure in its span as it was', () => {
  it.each(Object.entries(SPANNED_TERMINATORS))('%s: the screen never shows the secret, and masking is idempotent', (_name, raw) => {
    expect(screen(raw)).not.toMatch(SECRET);
    const out = maskText(raw);
    expect(screen(out)).not.toMatch(SECRET);
    expect(maskText(out)).toBe(out);
    expect(unmasked(out)).toEqual([]);
  });

  it('the decoy across one-character framing is masked (the kept reading finds it)', () => {
    for (const name of ['oscBel', 'oscC1St', 'osc8Bel', 'osc8bitBel', 'osc8bitSt', 'longTitle', 'longTitleGlued', 'loneBel']) {
      expect([name, maskText(SPANNED_TERMINATORS[name] ?? '')]).not.toEqual([name, expect.stringMatching(/111.?444.?777/)]);
    }
  });

  it.each(Object.entries(ESCAPED_TERMINATORS))('%s: decoded, the screen never shows the secret', (_name, raw) => {
    expect(screen(unescaped(raw))).not.toMatch(SECRET);
    const out = maskText(raw);
    expect(screen(unescaped(out))).not.toMatch(SECRET);
    expect(maskText(out)).toBe(out);
    expect(unmasked(out)).toEqual([]);
  });

  it('every control and terminator of the original is in the output, in the same order', () => {
    // eslint-disable-next-line no-control-regex -- the controls are what is compared
    const controls = (t: string): string => t.replace(/[^\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '');
    for (const [name, raw] of Object.entries(SPANNED_TERMINATORS)) {
      // A sequence a reading drops whole inside a hit goes with its mask: the first reading's OSC pattern runs past
      // CAN and SUB to the BEL, so there the real CPF is masked whole, sequence and all (more than the screen shows).
      if (name === 'abortCan' || name === 'abortSub') continue;
      const out = maskText(raw);
      expect([name, JSON.stringify(controls(out))]).toEqual([name, JSON.stringify(controls(raw))]);
    }
  });

  it('the framing stays exactly where it was, the identifier inside is masked', () => {
    expect(maskText(SPANNED_TERMINATORS.oscBel ?? '')).toBe(`cpf 529.982${E}]0;*** *** ***${BEL}35X${BEL}.247-25 ok`);
    expect(maskText(SPANNED_TERMINATORS.oscC1St ?? '')).toBe(`cpf 529.982${E}]0;*** *** ***${C1_ST}35X${C1_ST}.247-25 ok`);
    expect(maskText(ESCAPED_TERMINATORS.jsonU ?? '')).toBe(String.raw`cpf 529.982\u001b]0;*** *** ***\u000735X\u0007.247-25 ok`);
    // Each piece is written as its own span was: the spaces were raw, the terminators percent-encoded.
    expect(maskText(ESCAPED_TERMINATORS.percent ?? '')).toBe('cpf 529.982%1B]0;*** *** ***%0735X%07.247-25 ok');
    // The first reading drops a lone BEL; its mask keeps it (and the decoy is masked).
    expect(maskText(`cpf 529.982${BEL}.247-25`)).toBe(`cpf ***.***${BEL}.***-25`);
  });

  it('every style: a mask that is not one character per character fills the pieces after a terminator with `*`', () => {
    const styles: MaskingSpec[] = [{ style: 'redact' }, { style: 'hash' }, { style: 'surrogate' }, { style: 'partial' }];
    for (const spec of styles) {
      const m = compileMasker(spec, KEY);
      for (const raw of [...Object.values(SPANNED_TERMINATORS), ...Object.values(ESCAPED_TERMINATORS)]) {
        const out = m.newSession().maskText(raw);
        expect([spec.style, screen(out)]).not.toEqual([spec.style, expect.stringMatching(SECRET)]);
        expect([spec.style, screen(unescaped(out))]).not.toEqual([spec.style, expect.stringMatching(SECRET)]);
      }
    }
    const redact = compileMasker({ style: 'redact' }).newSession();
    expect(redact.maskText(SPANNED_TERMINATORS.oscBel ?? '')).toBe(`cpf 529.982${E}]0;[CPF]${BEL}**X${BEL}.247-25 ok`);
  });

  it('a removing session (a check reading) removes the mask but never the framing', () => {
    const removing = masker.newSession().removingSession();
    const out = removing.maskText(SPANNED_TERMINATORS.oscBel ?? '');
    expect(out).toBe(`cpf 529.982${E}]0;${BEL}X${BEL}.247-25 ok`);
    expect(screen(out)).not.toMatch(SECRET);
  });

  it('a backspace in a span keeps a character to take back: the one it took is written as `*`', () => {
    expect(maskText('cpf 529.982.247-2X\b5 ok')).toBe('cpf ***.***.***-2*\b5 ok');
    expect(screen(maskText('cpf 529.982.247-2X\b5 ok'))).toBe('cpf ***.***.***-25 ok');
    // A decoy read through backspaces: the cells the backspaces move back over are still there after the mask.
    const raw = 'cpf 529.982 111.444.777-3X\b5\b\b\b\b\b\b\b\b\b\b\b\b\b\b.247-25';
    expect(screen(raw)).not.toMatch(SECRET);
    const out = maskText(raw);
    expect(screen(out)).not.toMatch(SECRET);
    expect(unmasked(out)).toEqual([]);
    const redact = compileMasker({ style: 'redact' }).newSession().maskText('cpf 529.982.247-2X\b5 ok');
    expect(redact).toBe('cpf [CPF]*\b* ok');
    expect(screen(redact)).toBe('cpf [CPF]* ok');
  });

  it('a bidi control in a span is kept: a pop masked away would let an override run on over later text', () => {
    // An override, a decoy across its pop, and later text stored reversed that the override must not reach.
    const raw = `\u202ex 111.444.777\u202c-35 y 52-742.289.925`;
    const out = maskText(raw);
    expect(out).toContain('\u202c');
    expect(out.indexOf('\u202c')).toBeLessThan(out.indexOf(' y '));
    expect(maskText(out)).toBe(out);
    expect(maskText(`CPF 529\u200e.982\u2066.247\u2069-25`)).toBe(`CPF ***\u200e.***\u2066.***\u2069-25`);
  });

  it('UTF-16 read as UTF-8: the terminator keeps its NUL and its place', () => {
    const wide = (t: string): string => [...t].map((c) => `${c}\0`).join('');
    const raw = wide(SPANNED_TERMINATORS.oscBel ?? '');
    const out = maskText(raw);
    expect(screen(out.replaceAll('\0', ''))).not.toMatch(SECRET);
    expect(out.split(BEL).length).toBe(raw.split(BEL).length);
    expect(out.length % 2).toBe(0);
  });

  it('in streams cut anywhere, and in JSON values, as in text', () => {
    for (const raw of [...Object.values(SPANNED_TERMINATORS), ...Object.values(ESCAPED_TERMINATORS)]) {
      const whole = maskText(raw);
      for (const size of [1, 3, 7]) {
        const st = masker.newSession().textStream();
        let out = '';
        for (let i = 0; i < raw.length; i += size) out += st.push(raw.slice(i, i + size));
        expect(out + st.end()).toBe(whole);
      }
      const json = masker.newSession().maskJson({ log: raw }) as { log: string };
      expect(screen(json.log)).not.toMatch(SECRET);
      expect(screen(unescaped(json.log))).not.toMatch(SECRET);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The property: random text from identifiers (whole and in halves), decoys, sequences of every kind (7-bit, 8-bit,
// escaped), lone controls, backspaces, bidi controls and filler. For every input: masking again changes nothing, and
// no reader of the output (raw, a terminal, a terminal after a decoder) holds what the engine would mask.

/** mulberry32: a small seeded generator, so a failure names its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PARTS: readonly string[] = [
  // identifiers, whole and in halves, and decoys (valid, written with spaces: a layout that crosses one-character framing)
  '529.982.247-25', '52998224725', '529.982', '.247-25', '111 444 777 35', '111 444 777', ' 35', '35', '111.444.777-35',
  '(11) 91234-5678', 'joao.silva@exemplo.com', '11.222.333/0001-81', '590.830.166-33', '590.830', '.166-33',
  // sequences: CSI (7-bit, 8-bit, with parameters that are an identifier), OSC (BEL, ST, 8-bit ST), OSC 8, strings
  `${E}[31m`, `${E}[0m`, `${E}[52998224725m`, '\u009b1m', `${E}]0;`, `${E}]8;;http://x/`, BEL, ST, C1_ST, '\u009d0;',
  `${E}P`, `${E}_`, `${E}^`, `${E}X`, '\u0090', '\u0098', '\u009e', '\u009f', E, `${E}7`, `${E}(B`,
  // cursor moves and line edits (round 15): back, forward, to a column, restore, erase, delete, insert
  `${E}[D`, `${E}[3D`, `${E}[C`, `${E}[12G`, `${E}8`, `${E}[K`, `${E}[X`, `${E}[P`, `${E}[2@`, '\u009bD', `${E}[2b`, `${E}[Z`,
  // aborts, other controls, a long title past the first reading's bound
  '\u0018', '\u001a', '\u000e', '\u000f', '\u0001', `${E}]0;${'t'.repeat(82)}`,
  // backspaces, carriage return, new line
  '\b', '\b\b', 'X\b', '\r', '\n',
  // bidi controls and other invisible characters
  '\u202e', '\u202c', '\u2066', '\u2069', '\u200e', '\u200b', '\u00ad',
  // the same controls written as escapes
  '\\u001b]0;', '\\u0007', '\\x1b[', '\\u009c', '&#27;]0;', '&#7;', '%1B]0;', '%07', '\\b', '\\u202e',
  // filler
  ' ', 'X', 'cpf ', 'ok ', '.', '-', 'tel ', 'a',
];

/**
 * Whole identifiers stand between ` ; ` half of the time and glue to their neighbours the other half (round 15: glued
 * to the controls and escapes they found the reading differentials the screen check closes, docs/security-model.md
 * round 15; glued to each other they are the residue pass's question, masking-residue.test.ts). Halves and everything
 * else glue as they come.
 */
const WHOLE = new Set(['529.982.247-25', '52998224725', '111.444.777-35', '111 444 777 35', '(11) 91234-5678', 'joao.silva@exemplo.com', '11.222.333/0001-81', '590.830.166-33']);

function randomText(next: () => number): string {
  const n = 3 + Math.floor(next() * 12);
  let t = '';
  for (let i = 0; i < n; i++) {
    const part = PARTS[Math.floor(next() * PARTS.length)] ?? '';
    t += WHOLE.has(part) && next() < 0.5 ? ` ; ${part} ; ` : part;
  }
  return t;
}

const pick = <T>(next: () => number, list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;

/** The secrets (split in two), and the decoys written with spaces a one-character framing can stand in for. */
const SECRETS = ['529.982.247-25', '590.830.166-33', '(11) 91234-5678', 'joao.silva@exemplo.com', '11.222.333/0001-81', '52998224725'];
const DECOYS = ['111 444 777 35', '111.444.777-35', '12 345 678', '(21) 98765 4321', 'x@y.com'];
/**
 * Framing families: what a string sequence opens with and the one-character framing and controls inside it, raw
 * (7-bit, 8-bit, past the first reading's bound, none) or written in one escape form, and mixed (round 12e: the
 * engine reads the sequences with raw controls only too, as a terminal does). A backspace may follow the second
 * terminator (round 12e: the whole reading's erasing variant).
 */
const RAW_TERMINATORS = [BEL, C1_ST, ST, '\u0018', '\u001a', 'm', `${E}7`, '\u202c', '\u2069', ' '];
const FAMILIES: readonly (readonly [readonly string[], readonly string[]])[] = [
  // Control strings (a CSI has no terminator; a backspace inside one is the report's other finding).
  [[`${E}]0;`, `${E}]8;;http://x/`, '\u009d0;', `${E}P`, `${E}_`, `${E}^`, `${E}X`, '\u0090', '\u0098', '\u009e', '\u009f', `${E}]0;${'t'.repeat(85)} `, ''], RAW_TERMINATORS],
  [['\\u001b]0;', '\\u001b]8;;http://x/'], ['\\u0007', '\\u009c', '\\u001b\\\\', ' ']],
  [['&#27;]0;'], ['&#7;', '&#x9c;', ' ']],
  [['%1B]0;'], ['%07', '%C2%9C', ' ']],
  // Mixed: a raw opener, an escaped terminator (text to a terminal, BEL or ST to a decoder), and the reverse (round 12e).
  [['\u009d0;', `${E}]0;`, `${E}P`, '\u001b]0;', '%1B]0;'], ['%07', '\\u0007', '&#7;', '%C2%9C', BEL, C1_ST, `${E}7`, ' ']],
];

/**
 * The round 12d shape, every slot drawn: a secret split around a string sequence that holds a decoy written with
 * spaces, one of whose spaces is a terminator, then visible filler and a terminator again before the secret's rest.
 */
function shapedText(next: () => number): string {
  const secret = pick(next, SECRETS);
  const k = 1 + Math.floor(next() * (secret.length - 1));
  const decoy = pick(next, DECOYS);
  const m = Math.floor(next() * decoy.length);
  const [openers, terminators] = pick(next, FAMILIES);
  const term = pick(next, terminators);
  const inside = decoy[m] === ' ' ? decoy.slice(0, m) + term + decoy.slice(m + 1) : decoy.slice(0, m) + term + decoy.slice(m);
  const term2 = next() < 0.5 ? term : pick(next, terminators);
  // Visible filler between the decoy and the secret's rest, no character of an identifier: without it the decoy's
  // kept check digits and the rest make another identifier (`35 91234-5678`, `4321Xo.silva@...`), which the overlap
  // of the two hits leaves unmasked (the report).
  const filler = pick(next, [',', ' , ', '35,']);
  return `${pick(next, ['cpf ', '', 'x '])}${secret.slice(0, k)}${pick(next, openers)}${inside}${filler}${term2}${pick(next, ['', '', ' \b', 'X\b'])}${secret.slice(k)}${pick(next, [' ok', '', '\n'])}`;
}

describe('round 12e: raw-opened strings closed by escaped terminators, backspaces after whole-dropped sequences', () => {
  it.each([
    ['an escaped BEL in a raw OSC', `529.982.24\u009d0;%07111.444.777-35${E}77-25`],
    ['a JSON-escaped BEL in a raw OSC', `529.982.24${E}]0;\\u0007111.444.777-35${E}77-25`],
    ['an HTML BEL in a raw OSC', `529.982.24\u009d0;&#7;111.444.777-35${E}77-25`],
  ])('%s: no reader of the output holds the CPF a terminal shows of the input', (_name, raw) => {
    expect(screen(raw)).toContain('529.982.247-25');
    const out = maskText(raw);
    expect(unmasked(out)).toEqual([]);
    expect(screen(out)).not.toMatch(SECRET);
  });

  it('a backspace after a sequence only the whole reading drops takes back what is before it', () => {
    // Round 15: the backspace inside the CSI moves the cursor too (this model's terminal now runs it, as xterm does);
    // the CSI's parameters and intermediates still make a sequence only the whole reading drops.
    const raw = 'cpf 529.982.24\u009b111 444 777 35X \b7-25 ok';
    expect(screen(raw)).toContain('529.982.247-25');
    const out = maskText(raw);
    expect(screen(out)).not.toMatch(SECRET);
    expect(unmasked(out)).toEqual([]);
  });
});

describe('property: masking is idempotent and leaves no reader anything to mask', () => {
  it('the round 12d shape, every slot drawn (framing, terminator, decoy and secret split anywhere)', () => {
    const failures: string[] = [];
    for (let seed = 10001; seed <= 14000 && failures.length < 5; seed++) {
      const raw = shapedText(random(seed));
      const out = maskText(raw);
      const again = maskText(out);
      if (again !== out) failures.push(`seed ${seed}: ${JSON.stringify(raw)} -> ${JSON.stringify(out)} -> ${JSON.stringify(again)}`);
      else for (const f of unmasked(out)) failures.push(`seed ${seed}: ${JSON.stringify(raw)} -> ${JSON.stringify(out)}; ${f}`);
    }
    expect(failures).toEqual([]);
  });

  it('random text of identifiers, decoys, sequences, controls and escapes', () => {
    const failures: string[] = [];
    for (let seed = 1; seed <= 6000 && failures.length < 5; seed++) {
      const raw = randomText(random(seed));
      const out = maskText(raw);
      const again = maskText(out);
      if (again !== out) failures.push(`seed ${seed}: ${JSON.stringify(raw)} -> ${JSON.stringify(out)} -> ${JSON.stringify(again)}`);
      else for (const f of unmasked(out)) failures.push(`seed ${seed}: ${JSON.stringify(raw)} -> ${JSON.stringify(out)}; ${f}`);
    }
    expect(failures).toEqual([]);
  });

  it('the same in UTF-16 read as UTF-8, and with the redact style', () => {
    const redact = compileMasker({ style: 'redact' });
    const failures: string[] = [];
    for (let seed = 5001; seed <= 5600 && failures.length < 5; seed++) {
      const raw = randomText(random(seed));
      // ASCII only: beyond it, UTF-16 read as UTF-8 is not what this writes (README: out of reach).
      const wide = [...raw].some((c) => c.charCodeAt(0) > 0x7f) ? '' : [...raw].map((c) => `${c}\0`).join('');
      const out = maskText(wide);
      if (maskText(out) !== out) failures.push(`utf16 seed ${seed}: ${JSON.stringify(wide)} -> ${JSON.stringify(out)}`);
      const shown = screen(out.replaceAll('\0', ''));
      if (maskText(shown) !== shown) failures.push(`utf16 seed ${seed}: ${JSON.stringify(raw)} -> screen ${JSON.stringify(shown)}`);
      const r = redact.newSession().maskText(raw);
      for (const [name, view] of Object.entries(VIEWS)) {
        const seen = view(r);
        if (maskText(seen) !== seen) failures.push(`redact seed ${seed} ${name}: ${JSON.stringify(raw)} -> ${JSON.stringify(r)}`);
      }
    }
    expect(failures).toEqual([]);
  });
});
