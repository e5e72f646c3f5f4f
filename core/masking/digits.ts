// Decimal digits of other scripts, read as the ASCII digits they are. A CPF printed in Arabic-Indic
// (٥٢٩.٩٨٢.٢٤٧-٢٥), Devanagari, Thai or Mathematical bold digits (𝟓𝟐𝟗...) is the same number to a
// reader, and to most number parsers (Python's int(), Java's Character.digit, JavaScript's
// Intl); round 5 review: they passed every target unmasked, under UTF-8 as under any label.
// The BMP runs are folded one for one (fold.ts); the Mathematical digits are surrogate pairs and
// are resolved in the decoded view (decode.ts). digits.test.ts checks the runs against Unicode's
// Nd category.

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

/** Mathematical digits U+1D7CE–U+1D7FF (bold, double-struck, sans-serif, sans-serif bold, monospace) as surrogate pairs. */
export const MATH_DIGIT_SOURCE = '\\ud835[\\udfce-\\udfff]';

/** The ASCII digit of a Mathematical digit's pair. */
export function mathDigit(pair: string): string {
  return String((((pair.codePointAt(0) ?? 0x1d7ce) - 0x1d7ce) % 10));
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

/**
 * Whether the UTF-8 sequence at bytes[i] (a lead byte over 0x7F) is one of these digits: two- and
 * three-byte sequences decoded and looked up, the Mathematical digits by their bytes F0 9D 9F 8E–BF.
 */
export function utf8OtherDigitAt(bytes: Uint8Array, i: number, end: number): boolean {
  if (bytes[i] !== 0xf0) return OTHER_DIGIT[bmpAt(bytes, i, end)] === 1;
  const last = bytes[i + 3] ?? 0;
  return i + 3 < end && bytes[i + 1] === 0x9d && bytes[i + 2] === 0x9f && last >= 0x8e && last <= 0xbf;
}
