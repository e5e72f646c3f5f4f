// The cheapest sound "could masking change this?" test, on UTF-8 bytes, before anything is decoded.
// The PostgreSQL listener forwards a result cell (a DataRow) as the bytes it arrived in when this
// says no, and decodes and masks it otherwise. Sound means: it never says no where maskText (or
// maskCell) would change the text; prescan.test.ts checks that against the whole detector corpus.
//
// Why it holds. Every built-in candidate, in the text as folded and decoded by the engine (fold.ts,
// decode.ts), has an ASCII digit (numeric identifiers, IP addresses: IPv6 must hold one) or an '@'
// (e-mail). In the original text such a character is either itself, or fullwidth (U+FF10–U+FF19,
// U+FF20: UTF-8 EF BC 90–99 and EF BC A0), or another script's digit (digits.ts: Arabic-Indic,
// Devanagari..., and every supplementary run: Mathematical, Segmented, Adlam...), or an escape decodeView() resolves: %XX, \uXXXX, \xXX and
// &#NN; all contain ASCII digits, and a named reference (&commat;) an '&'. Nothing else folds or
// decodes into a digit or an '@' (the engine's own gate, mayHoldIdentifier, tests the same set).
// UTF-8 encodes ASCII characters only as themselves and Node's decoder rejects overlong forms, so
// the byte test is exact. A NUL byte counts for the numeric detectors: text holding one is also read
// as UTF-16 (utf16.ts), where a Devanagari or Arabic-Indic digit is two ASCII bytes that are no digit. Custom patterns (RE2, anything) and name rules make every value a
// candidate; a cell that may be JSON (maskCell reads it with key rules) too, and so does a text with a line that
// opens a JSON document (json-lines.ts) and a key a name rule may govern (round 10: the JSON reading of text).

import { utf8OtherDigitAt } from './digits.ts';
import { decodeJsonString, opensJson, stringHoldsJson } from './json.ts';

/** What the enabled detectors need to see before there can be a candidate. */
export interface Utf8Prescan {
  /** Per byte value: 1 when the ASCII character can be part of (or announce) a candidate. */
  readonly ascii: Uint8Array;
  /** Fullwidth digits and other scripts' digits (digits.ts) fold into ASCII digits (numeric detectors). */
  readonly fullwidthDigits: boolean;
  /** The fullwidth '@' folds into '@' (e-mail). */
  readonly fullwidthAt: boolean;
}

/** The test for a set of enabled detectors: `numeric` any of the digit-based ones, `email` the e-mail detector. */
export function utf8Prescan(enabled: { numeric: boolean; email: boolean }): Utf8Prescan {
  const ascii = new Uint8Array(256);
  // Digits: identifiers themselves, and every numeric escape of a digit or an '@' (%40, \u0040, &#64;).
  if (enabled.numeric || enabled.email) for (let c = 0x30; c <= 0x39; c++) ascii[c] = 1;
  // NUL: the text may be UTF-16 read as UTF-8, whose other scripts' digits are two ASCII bytes each (utf16.ts).
  if (enabled.numeric) ascii[0x00] = 1;
  if (enabled.email) {
    ascii[0x40] = 1; // '@'
    ascii[0x26] = 1; // '&': &commat; has no digit
  }
  return { ascii, fullwidthDigits: enabled.numeric, fullwidthAt: enabled.email };
}

/** Whether the three bytes at i are a fullwidth digit or '@' the enabled detectors fold into a candidate character. */
function fullwidthCandidate(p: Utf8Prescan, bytes: Uint8Array, i: number, end: number): boolean {
  if (i + 2 >= end || bytes[i + 1] !== 0xbc) return false;
  const c = bytes[i + 2] ?? 0;
  return p.fullwidthDigits ? (c >= 0x90 && c <= 0x99) || (p.fullwidthAt && c === 0xa0) : p.fullwidthAt && c === 0xa0;
}

/** Whether the sequence at i (a lead byte over 0x7F) folds or decodes into a candidate character. */
function nonAsciiCandidate(p: Utf8Prescan, bytes: Uint8Array, i: number, end: number): boolean {
  if (bytes[i] === 0xef && fullwidthCandidate(p, bytes, i, end)) return true;
  return p.fullwidthDigits && utf8OtherDigitAt(bytes, i, end);
}

/** False when the UTF-8 text bytes[start, end) cannot hold a candidate of the enabled built-in detectors. */
export function utf8MayHoldCandidate(p: Utf8Prescan, bytes: Uint8Array, start = 0, end = bytes.length): boolean {
  const ascii = p.ascii;
  for (let i = start; i < end; i++) {
    const b = bytes[i] ?? 0;
    // Only bytes over 0x7F cost more than a table look-up: a lead byte may start another script's digit.
    if (ascii[b] === 1 || (b >= 0xc2 && nonAsciiCandidate(p, bytes, i, end))) return true;
  }
  return false;
}

/**
 * Whether maskCell could read the cell as JSON: it starts with '{' or '[', or with a character up
 * to U+0020 after which Unicode white space (which \s also matches beyond ASCII) may lead to one.
 */
export function utf8MayBeJson(bytes: Uint8Array, start = 0, end = bytes.length): boolean {
  if (start >= end) return false;
  const first = bytes[start] ?? 0;
  return first === 0x7b || first === 0x5b || first <= 0x20;
}

const SPACE = 0x20;
const TAB = 0x09;
const NEWLINE = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
/** `data:`, the field name of a server-sent event. */
const DATA = [0x64, 0x61, 0x74, 0x61, 0x3a];

/**
 * Whether a line of the text may open a JSON document as json-lines.ts reads it: `{` or `[` at a line's start after
 * spaces, tabs and byte-order marks, or after an SSE `data:` field name. Looser than the reader (it does not look past
 * the brace).
 */
export function utf8MayOpenJsonLine(bytes: Uint8Array, start = 0, end = bytes.length): boolean {
  for (let i = start; i < end;) {
    if (opensAt(bytes, i, end)) return true;
    const nl = bytes.indexOf(NEWLINE, i);
    if (nl === -1 || nl >= end) return false;
    i = nl + 1;
  }
  return false;
}

function opensAt(bytes: Uint8Array, i: number, end: number): boolean {
  let k = skipBlanks(bytes, i, end, true);
  if (DATA.every((c, j) => bytes[k + j] === c)) k = skipBlanks(bytes, k + DATA.length, end, false);
  return k < end && (bytes[k] === 0x7b || bytes[k] === 0x5b);
}

/** Spaces and tabs from i, and byte-order marks (EF BB BF) with `bom` (json-lines.ts reads them as a line's indentation). */
function skipBlanks(bytes: Uint8Array, i: number, end: number, bom: boolean): number {
  let k = i;
  for (;;) {
    if (k < end && (bytes[k] === SPACE || bytes[k] === TAB)) k++;
    else if (bom && k + 2 < end && bytes[k] === 0xef && bytes[k + 1] === 0xbb && bytes[k + 2] === 0xbf) k += 3;
    else return k;
  }
}

const CR = 0x0d;
const isJsonSpace = (b: number | undefined): boolean => b === SPACE || b === TAB || b === NEWLINE || b === CR;

/**
 * The first bytes a string's content may start with when it holds a JSON document: JSON whitespace, a byte-order mark's
 * first byte (EF: json.ts reads a BOM as whitespace), a brace or bracket, or a backslash (an escape may decode to
 * either: `\n{`, `\u007b`). A string starting with any other byte decodes to a text starting with that character, which
 * json.ts never reads as a document.
 */
const DOCUMENT_LEAD = new Set([SPACE, TAB, NEWLINE, CR, 0xef, 0x7b, 0x5b, BACKSLASH]);
/**
 * A string's head decoded for the test. opensJson looks through any amount of whitespace (round 12 review, finding 1):
 * a head that is all whitespace (and perhaps a brace) cannot tell, and counts as a document (below).
 */
const DOCUMENT_HEAD = 1024;

/**
 * Whether the JSON string whose content is bytes[text, close) is read as a document by the JSON masker: its head,
 * decoded as JsonStream decodes it, asked the masker's own question (stringHoldsJson), so the two cannot disagree
 * (round 10b review, finding 3: `"\n{\"nome\":...}"` was a document to the masker and not to the pre-scan).
 */
function mayHoldDocument(bytes: Uint8Array, text: number, close: number): boolean {
  if (text >= close || !DOCUMENT_LEAD.has(bytes[text] ?? 0)) return false;
  const headEnd = Math.min(close, text + DOCUMENT_HEAD);
  const raw = new TextDecoder().decode(bytes.subarray(text, headEnd));
  const head = decodeJsonString(headEnd < close ? withoutCutEscape(raw) : raw);
  // A head cut before opensJson could tell (blanks all the way) fails closed: a document.
  return stringHoldsJson(head) || (headEnd < close && opensJson(head) === null);
}

/**
 * A head cut by DOCUMENT_HEAD, without an escape the cut may have split (`\u00` of `\u0020` decodes to the letters
 * `u00`, which opensJson reads as text: a document after 170 escaped blanks was missed). A shorter head is always
 * safe: it decides as the whole string does, or cannot tell and counts as a document.
 */
function withoutCutEscape(raw: string): string {
  const b = raw.lastIndexOf('\\');
  return b !== -1 && b >= raw.length - 6 ? raw.slice(0, b) : raw;
}

/**
 * Whether a key of this JSON text may carry a name rule (`named`), which masks its value whatever the value is
 * (`{"email":"ana at exemplo"}`: no digit, no '@'). Every string followed by ':' counts as a key (also in text that
 * is not valid JSON); a key written with an escape, a string that does not end, and a string the JSON masker reads as
 * a JSON document (its keys are escaped: mayHoldDocument) count as named.
 */
export function utf8JsonKeysMayBeNamed(bytes: Uint8Array, named: (key: string) => boolean, start = 0, end = bytes.length): boolean {
  for (let i = bytes.indexOf(QUOTE, start); i !== -1 && i < end; i = bytes.indexOf(QUOTE, i)) {
    const text = i + 1;
    const close = stringEnd(bytes, text, end);
    if (close.at >= end || mayHoldDocument(bytes, text, close.at)) return true;
    if (isKey(bytes, close.at + 1) && (close.escaped || named(new TextDecoder().decode(bytes.subarray(text, close.at))))) return true;
    i = close.at + 1;
  }
  return false;
}

/** Whether a string that ends before `i` is followed by ':' (after JSON whitespace): a key. */
function isKey(bytes: Uint8Array, i: number): boolean {
  let k = i;
  while (isJsonSpace(bytes[k])) k++;
  return bytes[k] === COLON;
}

/** The closing quote of the string whose text starts at `i` (end when none), and whether it holds an escape. */
function stringEnd(bytes: Uint8Array, i: number, end: number): { at: number; escaped: boolean } {
  let k = i;
  let escaped = false;
  while (k < end && bytes[k] !== QUOTE) {
    if (bytes[k] === BACKSLASH) {
      escaped = true;
      k += 2;
    } else {
      k++;
    }
  }
  return { at: Math.min(k, end), escaped };
}
