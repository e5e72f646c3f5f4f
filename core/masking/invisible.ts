// Characters a reader does not see, which the decoded view (decode.ts) drops before detection.
// Placed between an identifier's digits they leave `529.982.247-25` on the screen while the text
// holds something no layout matches (round 5 review: every target shares this engine, so a CPF
// with a left-to-right mark after each group went out of PostgreSQL cells, HTTP bodies, Kubernetes
// answers and SSH output unmasked). The set is Unicode's Default_Ignorable_Code_Point (zero-width
// spaces and joiners, soft hyphen, the combining grapheme joiner U+034F, Arabic letter mark,
// Hangul fillers, Khmer inherent vowels, Mongolian free variation selectors and vowel separator,
// bidi marks, embeddings, overrides and isolates U+200E/F, U+202A–U+202E, U+2066–U+2069, the
// invisible operators U+2060–U+2064, variation selectors U+FE00–U+FE0F and U+E0100–U+E01EF, tag
// characters U+E0000–U+E007F, the byte-order mark), the interlinear annotation controls
// U+FFF9–U+FFFB, and the private-use areas (U+E000–U+F8FF, planes 15 and 16: no standard glyph,
// so a font that has none shows nothing).
//
// Control characters too (round 6): terminals, browsers and editors show none of C0 but the
// whitespace ones, DEL or C1, so `529\x01982\x01247\x0125` prints as a bare CPF in `kubectl logs`,
// an SSH session or a text answer. Kept as they are: tab, line feed, vertical tab, form feed and
// carriage return (a reader sees space or a new line there), and NUL, which stays a boundary in
// this reading (`abc\0` + a CPF: an editor shows a mark between them, so the CPF is no word's tail)
// and is dropped in a second one, utf16.ts (round 11): a terminal prints nothing for it, and it is
// the other half of every character of UTF-16 text read as UTF-8 (`5\09\00\0.\0...`). ESC and the C1 CSI (U+009B) are in the set
// alone; with what follows them they are terminal escape sequences (ESCAPE_SEQUENCE_SOURCE below),
// which a terminal does not print either: colours (`\e[32m590.830.166-33\e[39m` in a coloured log
// line), cursor and erase sequences, titles and hyperlinks.
//
// The classes are written on UTF-16 code units (no `u` flag), so positions stay code-unit offsets
// like everywhere else in the engine; a supplementary character is matched as its surrogate pair.

/** BMP code points in the set, as a character-class body. */
const BMP = '\\u0001-\\u0008\\u000e-\\u001f\\u007f-\\u009f\\u00ad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5\\u180b-\\u180f\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u206f\\u3164\\ue000-\\uf8ff\\ufe00-\\ufe0f\\ufeff\\uffa0\\ufff0-\\ufffb';

/**
 * Supplementary code points in the set, as surrogate pairs: U+1BCA0–U+1BCA3 (shorthand format
 * controls), U+1D173–U+1D17A (musical format controls), U+E0000–U+E0FFF (tags, variation selectors
 * supplement, unassigned ignorables), U+F0000–U+10FFFF (private use planes 15 and 16).
 */
const ASTRAL = '\\ud82f[\\udca0-\\udca3]|\\ud834[\\udd73-\\udd7a]|[\\udb40-\\udb43\\udb80-\\udbff][\\udc00-\\udfff]';

/** One invisible character (a BMP unit or a surrogate pair), as a regular-expression source. */
export const INVISIBLE_SOURCE = `[${BMP}]|${ASTRAL}`;

// eslint-disable-next-line no-misleading-character-class -- the class holds lone combining and joining marks on purpose: each is matched alone
export const INVISIBLE = new RegExp(INVISIBLE_SOURCE);

/**
 * A terminal escape sequence, as ECMA-48 frames them and terminals consume them: CSI (ESC `[` or
 * U+009B, parameters, intermediates, a final byte: colours, cursor moves, erases), OSC (ESC `]` up
 * to BEL or ESC `\`: titles, OSC 8 hyperlinks) and two-character sequences (ESC, intermediates, a
 * final). Bounded, so a stream holds every sequence it must read whole (engine HOLD): a longer
 * one is read as its ESC, dropped, and the text after it. A CSI's parameter and intermediate bytes
 * are read in any order, as a terminal consumes a malformed CSI up to its final byte: a mask's `*`
 * (an intermediate byte) written into a CSI's parameters leaves it one sequence (round 12d).
 */
export const ESCAPE_SEQUENCE_SOURCE = '(?:\\u001b\\[|\\u009b)[ -?]{0,28}[@-~]|\\u001b\\][^\\u0007\\u001b]{0,80}(?:\\u0007|\\u001b\\\\)|\\u001b[ -/]{0,4}[0-~]';

/** A control character in the set: C0 but NUL and the whitespace ones, DEL, C1. */
const isControl = (c: number): boolean => (c >= 0x01 && c <= 0x08) || (c >= 0x0e && c <= 0x1f) || (c >= 0x7f && c <= 0x9f);

/** The bidi controls: marks, embeddings, overrides, isolates and their pops (they set how what follows is shown). */
const isBidiControl = (c: number): boolean => c === 0x061c || c === 0x200e || c === 0x200f || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);

/**
 * What `ch`, dropped by a reading, carries that a mask must leave in place (structure.ts): `frame` for a control a
 * terminal acts on (BEL ending a title, CAN/SUB aborting a sequence, SO/SI, a backspace: what comes after it in the
 * span is read through it), `mark` for a bidi control (it sets how what follows it on the line is shown); null for
 * the rest, which a mask takes with it.
 */
export function structuralKind(ch: string): 'frame' | 'mark' | null {
  if (ch.length !== 1) return null;
  const c = ch.charCodeAt(0);
  if (isControl(c)) return 'frame';
  return isBidiControl(c) ? 'mark' : null;
}

/** Whether the code unit `c` is, or may start (a high surrogate), an invisible character: the fast tables' test. */
export function mayStartInvisible(c: number): boolean {
  if (c < 0x00ad) return isControl(c);
  if (c === 0xd82f || c === 0xd834 || (c >= 0xdb40 && c <= 0xdb43) || (c >= 0xdb80 && c <= 0xdbff)) return true;
  return INVISIBLE.test(String.fromCharCode(c));
}
