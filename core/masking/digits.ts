// Decimal digits of other scripts, read as the ASCII digits they are. A CPF printed in Arabic-Indic
// (٥٢٩.٩٨٢.٢٤٧-٢٥), Devanagari, Thai or Mathematical bold digits (𝟓𝟐𝟗...) is the same number to a
// reader, and to most number parsers (Python's int(), Java's Character.digit, JavaScript's
// Intl); round 5 review: they passed every target unmasked, under UTF-8 as under any label.
// The BMP runs are folded one for one (fold.ts); the supplementary runs (Mathematical digits,
// Segmented digits U+1FBF0 that render as a seven-segment display, Adlam, Osmanya, Brahmi... round
// 12 review, finding 2) are surrogate pairs and are resolved in the decoded view (decode.ts), and
// the byte pre-scan decodes their four-byte UTF-8 sequences (utf8OtherDigitAt). digits-attacks.test.ts
// checks both lists against Unicode's Nd category over the whole code space, so a Unicode version
// that adds digits fails a test instead of passing them unmasked.

/**
 * Every run of ten decimal digits (Unicode Nd) in the BMP but ASCII and fullwidth (fold.ts folds
 * those as ASCII look-alikes), each from its zero.
 */
export const DIGIT_RUNS: readonly number[] = [
  0x0660, 0x06f0, 0x07c0, 0x0966, 0x09e6, 0x0a66, 0x0ae6, 0x0b66, 0x0be6, 0x0c66, 0x0ce6, 0x0d66, 0x0de6, 0x0e50, 0x0ed0, 0x0f20, 0x1040,
  0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90, 0x1b50, 0x1bb0, 0x1c40, 0x1c50, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50,
  0xabf0,
];

const hex4 = (c: number): string => c.toString(16).padStart(4, '0');

/** The runs as a character-class body (no `u` flag needed: all in the BMP). */
export const DIGITS_CLASS = DIGIT_RUNS.map((z) => `\\u${hex4(z)}-\\u${hex4(z + 9)}`).join('');

/**
 * Every run of ten decimal digits (Unicode Nd) outside the BMP, each from its zero, as `/\p{Nd}/u` reads them in Node
 * 24 (Unicode 17; digits-attacks.test.ts regenerates the list): among them Osmanya U+104A0, Brahmi U+11066, the five
 * Mathematical styles U+1D7CE–U+1D7FF, Adlam U+1E950 and the Segmented digits U+1FBF0 (a seven-segment display's 0–9).
 */
export const SUPPLEMENTARY_DIGIT_RUNS: readonly number[] = [
  0x104a0, 0x10d30, 0x10d40, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0, 0x11450, 0x114d0, 0x11650, 0x116c0, 0x116d0, 0x116da, 0x11730,
  0x118e0, 0x11950, 0x11bf0, 0x11c50, 0x11d50, 0x11da0, 0x11de0, 0x11f50, 0x16130, 0x16a60, 0x16ac0, 0x16b50, 0x16d70, 0x1ccf0, 0x1d7ce,
  0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e4f0, 0x1e5f1, 0x1e950, 0x1fbf0,
];

/** The ASCII digit of each supplementary digit, by code point. */
const SUPPLEMENTARY_DIGIT = new Map<number, string>();
for (const z of SUPPLEMENTARY_DIGIT_RUNS) for (let d = 0; d < 10; d++) SUPPLEMENTARY_DIGIT.set(z + d, String(d));

const hexUnit = (c: number): string => `\\u${hex4(c)}`;

/** The supplementary digits as their surrogate pairs: one alternative per high surrogate, its low surrogates as a class. */
function pairSource(): string {
  const lows = new Map<number, number[]>();
  for (const c of SUPPLEMENTARY_DIGIT.keys()) {
    const high = 0xd800 + ((c - 0x10000) >> 10);
    const list = lows.get(high) ?? [];
    list.push(0xdc00 + ((c - 0x10000) & 0x3ff));
    lows.set(high, list);
  }
  return [...lows].map(([high, l]) => `${hexUnit(high)}[${l.map(hexUnit).join('')}]`).join('|');
}

/** Every supplementary digit as a surrogate pair (a regular expression source, no `u` flag: alternatives, group it). */
export const SUPPLEMENTARY_DIGIT_SOURCE = `(?:${pairSource()})`;

/** The high surrogates a supplementary digit starts with (fold.ts flags them: the regular expressions decide). */
export const DIGIT_HIGH_SURROGATES: ReadonlySet<number> = new Set([...SUPPLEMENTARY_DIGIT.keys()].map((c) => 0xd800 + ((c - 0x10000) >> 10)));

/** The ASCII digit of a supplementary digit (its pair, or the character), or null for any other text. */
export function supplementaryDigit(ch: string): string | null {
  return ch.length === 2 ? (SUPPLEMENTARY_DIGIT.get(ch.codePointAt(0) ?? 0) ?? null) : null;
}

/** Per BMP code point: 1 when it is a digit of DIGIT_RUNS. */
const OTHER_DIGIT = new Uint8Array(65536);
for (const z of DIGIT_RUNS) OTHER_DIGIT.fill(1, z, z + 10);

/** Each digit of the runs and the ASCII digit it stands for. */
export function* otherDigits(): Generator<[string, string]> {
  for (const z of DIGIT_RUNS) for (let d = 0; d < 10; d++) yield [String.fromCharCode(z + d), String(d)];
}

const cont = (bytes: Uint8Array, i: number): number => (bytes[i] ?? 0) & 0x3f;

/** The BMP code point of the two- or three-byte UTF-8 sequence at i, or -1 (another length, or cut by `end`). */
function bmpAt(bytes: Uint8Array, i: number, end: number): number {
  const b = bytes[i] ?? 0;
  if (b >= 0xc2 && b <= 0xdf) return i + 1 < end ? ((b & 0x1f) << 6) | cont(bytes, i + 1) : -1;
  if (b >= 0xe0 && b <= 0xef) return i + 2 < end ? ((b & 0x0f) << 12) | (cont(bytes, i + 1) << 6) | cont(bytes, i + 2) : -1;
  return -1;
}

/** The supplementary code point of the four-byte UTF-8 sequence at i (lead F0–F4), or -1 (cut by `end`). */
function supplementaryAt(bytes: Uint8Array, i: number, end: number): number {
  if (i + 3 >= end) return -1;
  return (((bytes[i] ?? 0) & 0x07) << 18) | (cont(bytes, i + 1) << 12) | (cont(bytes, i + 2) << 6) | cont(bytes, i + 3);
}

/**
 * Whether the UTF-8 sequence at bytes[i] (a lead byte over 0x7F) is one of these digits: two-, three- and four-byte
 * sequences decoded and looked up (a malformed sequence Node's decoder replaces may be read as a digit here: a false
 * "may change", never a missed one).
 */
export function utf8OtherDigitAt(bytes: Uint8Array, i: number, end: number): boolean {
  const b = bytes[i] ?? 0;
  if (b < 0xf0) return OTHER_DIGIT[bmpAt(bytes, i, end)] === 1;
  return b <= 0xf4 && SUPPLEMENTARY_DIGIT.has(supplementaryAt(bytes, i, end));
}
