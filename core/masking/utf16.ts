// NUL-interleaved text: UTF-16 read as UTF-8. Every byte of ASCII-range UTF-16 is under 0x80, so a UTF-16LE file
// without a byte-order mark (Windows and .NET exports, `Out-File` in PowerShell 5) is valid UTF-8 whose characters
// each carry a NUL: `c\0p\0f\0 \05\09\00\0...` (big-endian: `\0c\0p\0f...`). NUL is a boundary in the engine's
// first reading (invisible.ts), so no identifier spans two characters there, while every reader that decodes UTF-16
// (iconv, Excel, editors, Python) shows the CPF whole; a terminal prints nothing for NUL, so `cat` of the file over SSH
// shows it whole too (round 11 review, finding 2). This is that second reading: a view (decode.ts) with the NULs
// dropped, mapped back to the original so a hit replaces exactly the characters and NULs it was read from, and the mask
// is written back interleaved the same way (a UTF-16 reader then sees the mask, and what follows keeps its alignment).
//
// Beyond ASCII, UTF-16 is only partly visible in text decoded as UTF-8: a code unit with a byte over 0x7F (é, ã, a
// no-break space A0 00, a fullwidth digit) is not UTF-8, so callers that decode fatally (Kubernetes `binaryData`,
// Secret values) redact the value, and lenient decoders (SSH, logs) show U+FFFD for it, which the engine reads as a
// separator. A code unit whose two bytes are both ASCII but not NUL (the en dash U+2013 is `\x13 `, the narrow
// no-break space U+202F `/ `, Devanagari digits `f\t`) arrives as two characters with no NUL: between two NULs, a
// stretch of such characters of odd length is read as code units and the one character its NUL belongs to — units
// first in little-endian order, last in big-endian order, so both orders are read where they differ, beside the reading
// with every stretch as it is (a lone NUL inside ASCII text, `590.830\0.166-33`, is no UTF-16). A byte-order
// mark (FF FE, FE FF) is not UTF-8 either: two U+FFFD before the run, a separator like any other rejected byte.
import { decodeView, needsDecoding, reencode, type DecodedView } from './decode.ts';
import { sequenceReadings } from './sequences.ts';

export type ByteOrder = 'le' | 'be';
/** How paired stretches are read: as code units in one byte order, or (null) as the characters they are. */
export type Units = ByteOrder | null;

/** Longest run of paired characters (code units) read between two NULs: a few separators, or a number in another script's digits. */
const MAX_UNITS = 40;

const NUL = 0;

/**
 * Whether the stretch s[a, b) (no NUL) is read as UTF-16 code units in `order`: every character 0x01–0x7F, and as many
 * as its place asks for. Between NULs its length is odd (units, and the one character the NUL on its side belongs to:
 * the last in little-endian, the first in big-endian); where it ends the text on that side, even (units only).
 */
function pairedStretch(s: string, a: number, b: number, order: ByteOrder): boolean {
  const n = b - a;
  const nulOnItsSide = order === 'le' ? b < s.length : a > 0;
  if (n < 2 || n > 2 * MAX_UNITS + 1 || n % 2 !== (nulOnItsSide ? 1 : 0)) return false;
  for (let i = a; i < b; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** A view under construction: characters with the original span [at, end) each was read from. */
class ViewBuilder {
  readonly codes: Uint16Array;
  readonly at: Int32Array;
  readonly end: Int32Array;
  readonly wide: Uint8Array;
  n = 0;

  constructor(length: number) {
    this.codes = new Uint16Array(length);
    this.at = new Int32Array(length + 1);
    this.end = new Int32Array(length + 1);
    this.wide = new Uint8Array(length + 1);
  }

  /** A view character read from s[at, end); `wide` when that is a UTF-16 character (two original characters). */
  put(code: number, at: number, end: number, wide = end - at === 2): void {
    this.codes[this.n] = code;
    this.at[this.n] = at;
    this.end[this.n] = end;
    this.wide[this.n] = wide ? 1 : 0;
    this.n++;
  }

  view(length: number, order: ByteOrder): DecodedView {
    this.at[this.n] = length;
    this.end[this.n] = length;
    let text = '';
    for (let i = 0; i < this.n; i += 8192) text += String.fromCharCode(...this.codes.subarray(i, Math.min(this.n, i + 8192)));
    return { text, at: this.at.subarray(0, this.n + 1), end: this.end.subarray(0, this.n + 1), utf16: { order, wide: this.wide.subarray(0, this.n + 1) } };
  }
}

/**
 * The stretch s[a, b) between NULs (or the text's ends) read in `order`. Where the stretch is UTF-16 (one character,
 * or read as units), its character owns the NUL next to it (after it in little-endian and in the reading as it is,
 * before it in big-endian), so a hit's span holds whole UTF-16 characters; a longer stretch owns none (a lone NUL in
 * ASCII text stays outside a hit that ends or starts beside it).
 */
function readStretch(s: string, a: number, b: number, order: Units, out: ViewBuilder): void {
  const units = order !== null && pairedStretch(s, a, b, order);
  const owns = units || b - a === 1;
  if (order === 'be') readBigEndian(s, a, b, units, owns, out);
  else readLittleEndian(s, a, b, units, owns, out);
}

/** readStretch in little-endian order (and as it is): units first, then the character owning the NUL after it. */
function readLittleEndian(s: string, a: number, b: number, units: boolean, owns: boolean, out: ViewBuilder): void {
  const last = owns && b < s.length ? b - 1 : b;
  readPairs(s, a, units ? last : a, 'le', out);
  for (let i = units ? last : a; i < b; i++) out.put(s.charCodeAt(i), i, i === last ? i + 2 : i + 1);
}

/** readStretch in big-endian order: the character owning the NUL before it, then units. */
function readBigEndian(s: string, a: number, b: number, units: boolean, owns: boolean, out: ViewBuilder): void {
  let i = a;
  if (a > 0 && owns && (b - a) % 2 === 1) {
    out.put(s.charCodeAt(a), a - 1, a + 1);
    i++;
  }
  const unitsEnd = units ? b : i;
  readPairs(s, i, unitsEnd, 'be', out);
  for (i = unitsEnd; i < b; i++) out.put(s.charCodeAt(i), i, i + 1);
}

/** s[a, b) (even length) as UTF-16 code units in `order`. */
function readPairs(s: string, a: number, b: number, order: ByteOrder, out: ViewBuilder): void {
  for (let i = a; i < b; i += 2) {
    const first = s.charCodeAt(i);
    const second = s.charCodeAt(i + 1);
    out.put(order === 'le' ? first | (second << 8) : (first << 8) | second, i, i + 2);
  }
}

/**
 * The text read with its NULs dropped, paired stretches as code units in `order` or as they are (null). In the
 * character-by-character reading (null) each character owns the NUL after it, as in little-endian.
 */
export function nulView(s: string, order: Units): DecodedView {
  const out = new ViewBuilder(s.length);
  for (let i = 0; i < s.length;) {
    if (s.charCodeAt(i) === NUL) {
      i++;
      continue;
    }
    const j = s.indexOf('\0', i);
    const b = j === -1 ? s.length : j;
    readStretch(s, i, b, order, out);
    i = b;
  }
  // The reading as it is writes masks as little-endian does: its characters own the NUL after them.
  return out.view(s.length, order ?? 'le');
}

/** What a mask over `inner` leaves in place (structure.ts), from `outer.text`'s positions to the original's. */
function composedStructure(outer: DecodedView, inner: DecodedView): Pick<DecodedView, 'structure' | 'keepsFraming'> {
  const structure = inner.structure?.mapped((a, b) => [outer.at[a] ?? 0, outer.end[b - 1] ?? 0]);
  return { ...(structure !== undefined ? { structure } : {}), ...(inner.keepsFraming === true ? { keepsFraming: true as const } : {}) };
}

/** `inner`, a view of `outer.text`, as a view of the text `outer` was read from. */
export function composeViews(outer: DecodedView, inner: DecodedView): DecodedView {
  const n = inner.text.length;
  const at = new Int32Array(n + 1);
  const end = new Int32Array(n + 1);
  for (let k = 0; k < n; k++) {
    at[k] = outer.at[inner.at[k] ?? 0] ?? 0;
    end[k] = outer.end[(inner.end[k] ?? 1) - 1] ?? 0;
  }
  const length = outer.at[outer.text.length] ?? 0;
  at[n] = length;
  end[n] = length;
  const view: DecodedView = { text: inner.text, at, end, ...composedStructure(outer, inner) };
  const utf16 = outer.utf16;
  if (utf16 === undefined) return view;
  // A view character is UTF-16 where the first character of its source was.
  const wide = Uint8Array.from(inner.at, (i) => utf16.wide[i] ?? 0);
  return { ...view, utf16: { order: utf16.order, wide } };
}

/**
 * The readings of a text holding NUL, each a view of it: per byte order (one when both read alike), with its escapes,
 * invisible characters and backspaces resolved on top (decode.ts), as in the text's own reading; a backspace is read
 * both ways there too, and terminal escape sequences as text and whole (sequences.ts). Call only for text holding a
 * NUL.
 */
export function interleavedReadings(s: string): DecodedView[] {
  // UTF-16's readings first: where two find the same span, the first is rendered (what a UTF-16 reader sees).
  const views = [nulView(s, 'le')];
  for (const order of ['be', null] as const) {
    const u = nulView(s, order);
    if (views.every((w) => w.text !== u.text)) views.push(u);
  }
  return views.flatMap((u) => (needsDecoding(u.text) ? decodedReadings(u) : [u]));
}

/** The readings of the NUL-free view `u` with its escapes resolved: decoded (its sequences' framing kept), erasing, sequences. */
function decodedReadings(u: DecodedView): DecodedView[] {
  const d = decodeView(u.text);
  const sequences = d.framed === true ? sequenceReadings(u.text, d) : null;
  const out = [composeViews(u, sequences?.screen ?? d)];
  if (u.text.includes('\b')) out.push(composeViews(u, decodeView(u.text, true)));
  for (const w of sequences?.readings ?? []) out.push(composeViews(u, w));
  return out;
}

/** A mask character as UTF-16 in `order`, interleaved as the text is: ASCII with its NUL, a unit of two ASCII bytes as those, else '*'. */
function unitChars(c: number, order: ByteOrder): string {
  const lo = c & 0xff;
  const hi = c >> 8;
  let pair: [number, number];
  if (hi === 0 && lo > 0 && lo < 0x80) pair = [lo, 0];
  else if (lo > 0 && lo < 0x80 && hi > 0 && hi < 0x80) pair = [lo, hi];
  else pair = [0x2a, 0];
  return order === 'le' ? String.fromCharCode(pair[0], pair[1]) : String.fromCharCode(pair[1], pair[0]);
}

/**
 * The mask to write over `span` of the original, `order` the byte order of a hit whose first character a reading took
 * as UTF-16 (view `utf16.wide`), else null. The mask is re-encoded for what the span holds once its NULs are dropped
 * (percent-encoding, character references: decode.ts); for UTF-16 it is written in that byte order (a NUL after each
 * character in little-endian, before in big-endian, a unit of two ASCII bytes as those bytes), so a UTF-16 reader
 * sees the mask and the text after it keeps its alignment. Otherwise (a lone NUL inside an identifier, text a terminal
 * shows without it) the mask is written as it is.
 */
export function reencodeSpan(span: string, mask: string, order: ByteOrder | null): string {
  const written = reencode(span.includes('\0') ? span.replaceAll('\0', '') : span, mask);
  if (order === null) return written;
  if (span.includes('\0\0\0')) return asUtf32(span, written, order);
  let out = '';
  for (let i = 0; i < written.length; i++) out += unitChars(written.charCodeAt(i), order);
  return out;
}

/**
 * The mask as UTF-32 read as UTF-8 (three NULs beside each ASCII character: the same reading finds it): each
 * character so, '*' beyond ASCII. The span holds only the NUL its characters own at one end (readStretch), so the
 * others there stay outside it and are left off the mask.
 */
function asUtf32(span: string, written: string, order: ByteOrder): string {
  let out = '';
  for (const ch of written) {
    const c = ch.charCodeAt(0) < 0x80 ? ch : '*';
    out += order === 'le' ? `${c}\0\0\0` : `\0\0\0${c}`;
  }
  const owned = (order === 'le' ? /\0{0,3}$/ : /^\0{0,3}/).exec(span)?.[0].length ?? 0;
  return order === 'le' ? out.slice(0, out.length - 3 + owned) : out.slice(3 - owned);
}

/** The end of s[a, b) without a NUL at its end (which of two neighbouring characters owns it depends on the byte order). */
export function trimmedEnd(s: string, a: number, b: number): number {
  return b > a && s.charCodeAt(b - 1) === NUL ? b - 1 : b;
}
