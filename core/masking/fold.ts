// Folding of look-alike characters before content detection, one UTF-16 unit for one, so positions do not move.
// Identifiers reach the proxy with the spacing and punctuation of whatever printed them: a no-break space (U+00A0)
// or narrow no-break space (U+202F) between digit groups (spreadsheets, PDF and word-processor exports, Intl
// number formatting), thin and figure spaces, typographic dashes (U+2010–U+2015, U+2212 minus), fullwidth forms
// (U+FF01–U+FF5E: digits, '@', '.', '-', letters), and the decimal digits of other scripts (digits.ts). The detectors and check-digit functions work on ASCII only, so
// the engine scans the folded text and renders masks from it; text outside a hit is copied from the original.
// U+FFFD (a byte a decoder rejected) is read as a space here, and as the other separators by the engine (Session#hits).
// Characters that would have to be removed (invisible.ts: zero-width spaces, bidi controls, soft hyphens) or decoded (%2E, \u0030, &#46;)
// change positions and are not folded here: see README "Layouts".
import { hasEscape } from './decode.ts';
import { DIGIT_HIGH_SURROGATES, DIGITS_CLASS, otherDigits, SUPPLEMENTARY_DIGIT_SOURCE } from './digits.ts';
import { INVISIBLE_SOURCE, mayStartInvisible } from './invisible.ts';

/** Every character fold() changes. */
const FOLDABLE = new RegExp(`[\\u00a0\\u00b7\\u1680\\u2000-\\u200a\\u2010-\\u2015\\u2024\\u2027\\u202f\\u2044\\u205f\\u2212\\u2215\\u3000\\ufe58\\ufe63\\uff01-\\uff5e\\ufffd${DIGITS_CLASS}]`);
const FOLDABLE_ALL = new RegExp(FOLDABLE.source, 'g');

/**
 * Can the text hold an identifier once folded and decoded? An ASCII, fullwidth or other script's digit (digits.ts) or
 * '@', or an HTML character reference ('&commat;' has neither; see decode.ts).
 */
const MAY_CONTAIN = new RegExp(`[0-9@&\\uff10-\\uff19\\uff20${DIGITS_CLASS}]|${SUPPLEMENTARY_DIGIT_SOURCE}`);

export function mayHoldIdentifier(s: string): boolean {
  return MAY_CONTAIN.test(s);
}

/** The ASCII character each foldable character stands for. */
const FOLDS = new Map<string, string>();
for (let c = 0xff01; c <= 0xff5e; c++) FOLDS.set(String.fromCharCode(c), String.fromCharCode(c - 0xfee0)); // fullwidth ASCII
for (const c of '\u00a0\u1680\ufffd\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000') FOLDS.set(c, ' ');
for (const c of '\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63') FOLDS.set(c, '-');
for (const c of '\u00b7\u2024\u2027') FOLDS.set(c, '.');
for (const c of '\u2044\u2215') FOLDS.set(c, '/');
for (const [c, d] of otherDigits()) FOLDS.set(c, d); // Arabic-Indic, Devanagari, Thai... digits

const foldChar = (ch: string): string => FOLDS.get(ch) ?? ch;

/** The look-alikes fold() changes, the invisible characters decodeView() drops and the supplementary digits it reads (decode.ts). */
const LOOK_ALIKE = new RegExp(`${FOLDABLE.source}|${INVISIBLE_SOURCE}|${SUPPLEMENTARY_DIGIT_SOURCE}`);

/**
 * No character that fold() or decodeView() (decode.ts) would change: the common case (ASCII text, accented letters)
 * is decided by one character-class scan and a search for each escape's first character.
 */
export function nothingSpecial(s: string): boolean {
  if (s.length > SHORT) return !LOOK_ALIKE.test(s) && !hasEscape(s);
  // Short strings (cells, JSON values): one pass over a table costs less than calling several regular expressions.
  let flags = 0;
  for (let i = 0; i < s.length; i++) flags |= CHAR_FLAGS[s.charCodeAt(i)] ?? 0;
  return flags === 0 || (flags === ESCAPE_START && !hasEscape(s));
}

const SHORT = 64;
const LOOK = 1;
const ESCAPE_START = 2;
/** Per UTF-16 unit: LOOK for a look-alike or invisible character, ESCAPE_START for '%', '\\', '&', '+'. */
const CHAR_FLAGS = new Uint8Array(65536);
// A high surrogate that may start an invisible pair or a supplementary digit (digits.ts) is flagged: the regular expressions decide.
for (let c = 0; c < 65536; c++) if (FOLDABLE.test(String.fromCharCode(c)) || mayStartInvisible(c) || DIGIT_HIGH_SURROGATES.has(c)) CHAR_FLAGS[c] = LOOK;
for (const c of '%\\&+') CHAR_FLAGS[c.charCodeAt(0)] = ESCAPE_START;

/** The text with look-alike separators, dashes and fullwidth forms replaced by ASCII; the same string when none. */
export function fold(s: string): string {
  return FOLDABLE.test(s) ? s.replace(FOLDABLE_ALL, foldChar) : s;
}
