// The decoded view of a text: what a reader of the text sees once its escapes are resolved. An identifier written
// through an escape — percent-encoded in a URL or form (joao%40gmail.com, 239+6230+8471+0018, %2B55%2011%20...),
// an HTML character reference (joao&#64;gmail.com, 529&period;982...), a JavaScript/JSON escape left in plain text
// (529\u002e982..., a surrogate pair written as two escapes, and JSON's two-character escapes: `\/` is how PHP's
// json_encode writes every slash, so `11.222.333\/0001-81`; `\n52998224725` glued the `n` to the digits), split by invisible characters (invisible.ts: zero-width and bidi controls, soft hyphens,
// variation selectors, tags, private use, control characters; written as themselves or as escapes) or terminal
// escape sequences (colours, cursor moves, hyperlinks), overwritten by a backspace (`529.982.247-2X\b5` shows the
// CPF in a terminal), or in the decimal digits outside the BMP (Mathematical 𝟓𝟐𝟗, Segmented, Adlam...: digits.ts) — is
// detected on this view.
// Unlike fold.ts, decoding changes positions: `at` maps every view character back to the text, so a hit in the view
// replaces exactly the escaped span of the original, and everything outside hits is copied byte for byte.
// Percent-encoding is read as UTF-8, as browsers write it: `529%C2%A0982...` is the CPF with no-break spaces, which
// fold.ts then reads like the raw character. One level only: %2540 stays %40 (a reader decodes once too).
import { SUPPLEMENTARY_DIGIT_SOURCE, supplementaryDigit } from './digits.ts';
import { ESCAPE_SEQUENCE_SOURCE, INVISIBLE, INVISIBLE_SOURCE, structuralKind } from './invisible.ts';
import { BLANK, MARK, Structure } from './structure.ts';

/** Characters decodeView() drops or reads as another (invisible characters, escape sequences start with one; supplementary digits). */
const SPECIAL_CHAR = new RegExp(`${INVISIBLE_SOURCE}|${SUPPLEMENTARY_DIGIT_SOURCE}`);

export interface DecodedView {
  text: string;
  /** Offset in the original of each view character, plus the original's length at index text.length. */
  at: Int32Array;
  /**
   * Offset in the original just after each view character's source: a hit ends there, so what a reader does not see
   * right after it (a colour reset, a hyperlink's end, a zero-width space) stays in place instead of going with it.
   */
  end: Int32Array;
  /**
   * A reading of UTF-16 text read as UTF-8 (utf16.ts): its byte order, and per view character 1 when it was read as a
   * UTF-16 character (with its NUL, or from two ASCII bytes), so a mask over it is written back the same way.
   */
  utf16?: { order: 'le' | 'be'; wide: Uint8Array };
  /**
   * The text holds ESC or a C1 control, as itself or written as an escape (`\u001b`, `&#27;`, `%1B`): a terminal
   * escape sequence may hold text this reading dropped, which sequences.ts reads.
   */
  framed?: true;
  /**
   * The source ranges a mask over them writes back as they were (structure.ts): controls this reading dropped alone,
   * a backspace, a sequence's framing in sequences.ts's kept reading; and, blank, the characters a backspace took back.
   */
  structure?: Structure;
  /** sequences.ts's kept reading: its masks leave the framing of every sequence, whole ones inside them too. */
  keepsFraming?: true;
}

/**
 * One percent-encoded character: an ASCII byte, or the bytes of one UTF-8 sequence (2 to 4 bytes, each `%XX`; lead
 * byte C2-F4, continuation bytes 80-BF), as a browser encodes a form field or a URL: a CPF pasted from a spreadsheet
 * with no-break spaces becomes `529%C2%A0982%C2%A0247%C2%A025`. A lone byte of 0x80 or more stays as written.
 */
const PERCENT_CHARACTER = String.raw`[0-7][0-9A-Fa-f]|(?:[cCdD][0-9A-Fa-f]|[eE][0-9A-Fa-f]%[89abAB][0-9A-Fa-f]|[fF][0-4]%[89abAB][0-9A-Fa-f]%[89abAB][0-9A-Fa-f])%[89abAB][0-9A-Fa-f]`;

/**
 * Character references. Numeric ones with their `;` or without: browsers decode `&#53` and `&#x35` in text where the
 * digits end (HTML's missing-semicolon parse error), so `&#53&#50&#57.982.247-25` shows the CPF; without it the digits
 * run to the last one (`&#5352` is U+14E8), hence the look-ahead. Named ones with it, or one of the legacy names
 * browsers also decode without it in text, whatever follows (`529&nbsp982&nbsp247&nbsp25`); names as long as HTML's
 * longest (31 letters).
 * Each with its group (TOKEN) and without (the tests that only say whether a text holds one).
 */
const DECIMAL_REF = String.raw`&#0*([0-9]{1,7})(?:;|(?![0-9]))`;
const HEX_REF = String.raw`&#[xX]0*([0-9A-Fa-f]{1,6})(?:;|(?![0-9A-Fa-f]))`;
const NAMED_REF = String.raw`&([A-Za-z]{2,31});`;
const LEGACY_REF = String.raw`&(nbsp|amp|shy)(?!;)`;
const REFERENCES = [DECIMAL_REF, HEX_REF, NAMED_REF, LEGACY_REF].map((r) => r.replace(/\((?![?])/g, '(?:')).join('|');

/** Anything decodeView() would change (needsDecoding tests the same, faster; layouts.test.ts checks they agree). */
export const ESCAPE = new RegExp(String.raw`%[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}|\\x[0-9A-Fa-f]{2}|\\[/bfnrt]|${REFERENCES}|${INVISIBLE_SOURCE}|${SUPPLEMENTARY_DIGIT_SOURCE}|[0-9]\+[0-9]`);

/**
 * The tokens decodeView() resolves, `sequence` the group that reads a terminal escape sequence: first, so that at an
 * ESC it wins over what starts with the character after it (a string terminator `\e\\` before `/`, which JSON's `\/`
 * would take).
 */
const tokens = (sequence: string): RegExp =>
  new RegExp(String.raw`${sequence}|%(${PERCENT_CHARACTER})|\\u([dD][89abAB][0-9A-Fa-f]{2}\\u[dD][c-fC-F][0-9A-Fa-f]{2})|\\u([0-9A-Fa-f]{4})|\\x([0-9A-Fa-f]{2})|\\([/bfnrt])|${DECIMAL_REF}|${HEX_REF}|${NAMED_REF}|${LEGACY_REF}|(\u0008)|(${INVISIBLE_SOURCE})|(?<=[0-9])(\+)(?=[0-9])|(${SUPPLEMENTARY_DIGIT_SOURCE})`, 'g');
/** A terminal's reading: its escape sequences dropped whole. */
const TOKEN = tokens(`(${ESCAPE_SEQUENCE_SOURCE})`);
/**
 * The reading that keeps them as text (sequences.ts): ESC and C1 are read alone, and the group takes only the `\\` of
 * a string terminator (ESC `\\`), kept as itself.
 */
const TOKEN_KEEPING_SEQUENCES = tokens(String.raw`(?<=\u001b)(\\)`);
const TOKENS = [TOKEN, TOKEN_KEEPING_SEQUENCES] as const;
/** decodedForScreen's: no sequence group (it never matches), so an escape after ESC is decoded too. */
const TOKEN_FOR_SCREEN = tokens('((?!))');

/**
 * HTML named references that can stand for a character of an identifier's layout, and those of invisible characters
 * (a browser shows `529&shy;982&zwj;247` as the digits: decodeToken drops what they decode to, as it drops `&#173;`).
 */
const NAMED: Readonly<Record<string, string>> = {
  nbsp: '\u00a0', thinsp: '\u2009', ensp: '\u2002', emsp: '\u2003', numsp: '\u2007', period: '.', commat: '@', hyphen: '\u2010',
  dash: '\u2010', ndash: '\u2013', mdash: '\u2014', minus: '\u2212', sol: '/', lpar: '(', rpar: ')', plus: '+', colon: ':',
  lowbar: '_', num: '#', amp: '&', NonBreakingSpace: '\u00a0', ThinSpace: '\u2009', hairsp: '\u200a', VeryThinSpace: '\u200a',
  puncsp: '\u2008', MediumSpace: '\u205f',
  shy: '\u00ad', zwj: '\u200d', zwnj: '\u200c', lrm: '\u200e', rlm: '\u200f', ZeroWidthSpace: '\u200b', NegativeVeryThinSpace: '\u200b',
  NegativeThinSpace: '\u200b', NegativeMediumSpace: '\u200b', NegativeThickSpace: '\u200b', NoBreak: '\u2060', af: '\u2061',
  ApplyFunction: '\u2061', it: '\u2062', InvisibleTimes: '\u2062', ic: '\u2063', InvisibleComma: '\u2063',
};

/** Sticky forms of ESCAPE's branches, tried only where their first character is (indexOf is far cheaper than a scan). */
const AT_PERCENT = /%[0-9A-Fa-f]{2}/y;
const AT_BACKSLASH = /\\u[0-9A-Fa-f]{4}|\\x[0-9A-Fa-f]{2}|\\[/bfnrt]/y;
const AT_AMPERSAND = new RegExp(REFERENCES, 'y');

function escapeAt(s: string, ch: string, re: RegExp): boolean {
  for (let i = s.indexOf(ch); i !== -1; i = s.indexOf(ch, i + 1)) {
    re.lastIndex = i;
    if (re.test(s)) return true;
  }
  return false;
}

function plusBetweenDigits(s: string): boolean {
  for (let i = s.indexOf('+'); i !== -1; i = s.indexOf('+', i + 1)) {
    const a = s.charCodeAt(i - 1);
    const b = s.charCodeAt(i + 1);
    if (a >= 48 && a <= 57 && b >= 48 && b <= 57) return true;
  }
  return false;
}

/** An escape decodeView() resolves (%XX, \\u, \\x, JSON's \\/ \\b \\f \\n \\r \\t, character references, '+' between digits), found from each first character. */
export function hasEscape(s: string): boolean {
  return escapeAt(s, '%', AT_PERCENT) || escapeAt(s, '\\', AT_BACKSLASH) || escapeAt(s, '&', AT_AMPERSAND) || plusBetweenDigits(s);
}

/** Whether decodeView() would change anything: ESCAPE.test(s), faster. */
export function needsDecoding(s: string): boolean {
  return hasEscape(s) || SPECIAL_CHAR.test(s);
}

/** A character reference's character: a BMP one, or a supplementary digit (`&#x1FBF5;`) as its ASCII digit. */
const charRef = (code: number): string | null => (code > 0 && code <= 0xffff ? String.fromCharCode(code) : code <= 0x10ffff ? supplementaryDigit(String.fromCodePoint(code)) : null);
const hex = (h: string): number => Number.parseInt(h, 16);

/** What a backspace decodes to: dropped, or in the erasing reading taking back the character before it. */
const ERASE = '\u0008';

const backspace = (): string => ERASE;

/**
 * JSON's two-character escapes, read as the `\uXXXX` escape of the same character is. `\"` and `\\` are left as
 * written: neither character is part of a layout, both already end a word, and reading `\\` would hide the escape
 * after it (`\\n52998224725` is read as `\` and a newline before the digits, as a reader of the text may read it).
 */
const JSON_ESCAPES: Readonly<Record<string, string>> = { '/': '/', b: '\u0008', f: '\u000c', n: '\n', r: '\r', t: '\t' };

/** A supplementary character written as its surrogate pair's two \u escapes (`d835\udfd3`: the Mathematical 5). */
function surrogatePair(g: string): string {
  const pair = String.fromCharCode(hex(g.slice(0, 4)), hex(g.slice(6, 10)));
  return supplementaryDigit(pair) ?? pair;
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The character a percent-encoded run stands for (`2C` or `C2%A0`, the `%` before it dropped), or null to leave it as
 * written: invalid UTF-8 (an overlong form, a surrogate, past U+10FFFF) and supplementary characters other than the
 * decimal digits (no identifier holds one, and a view character is one UTF-16 unit of the original's map).
 */
function percentCharacter(run: string): string | null {
  if (run.length === 2) return String.fromCharCode(hex(run));
  const bytes = new Uint8Array(run.split('%').map(hex));
  let ch: string;
  try {
    ch = STRICT_UTF8.decode(bytes);
  } catch {
    return null;
  }
  if (ch.length === 1) return ch;
  return supplementaryDigit(ch);
}

/** By TOKEN group: what the token stands for. */
const DECODERS: readonly ((g: string) => string | null)[] = [
  () => '', // a terminal escape sequence (where sequences are kept as text, a string terminator's `\\`: decodeView)
  percentCharacter, // %XX, or %XX%XX... of one UTF-8 character
  surrogatePair, // \uD8xx\uDCxx
  (h) => String.fromCharCode(hex(h)), // \uXXXX
  (h) => String.fromCharCode(hex(h)), // \xXX
  (c) => JSON_ESCAPES[c] ?? null, // \/ \b \f \n \r \t
  (d) => charRef(Number.parseInt(d, 10)), // &#NN;
  (h) => charRef(hex(h)), // &#xHH;
  (n) => NAMED[n] ?? null, // &name;
  (n) => NAMED[n] ?? null, // &nbsp &amp &shy without their `;`
  backspace, // a backspace as itself (written as the escape `\u0008` it is invisible once decoded)
  (c) => c, // invisible: dropped by visible() (ESC and C1 kept where sequences are read as text)
  () => ' ', // '+' between digits: a form-encoded space
  supplementaryDigit, // a decimal digit outside the BMP (two UTF-16 units): its ASCII digit
];

/** TOKEN's group of a backspace written as itself, and of a terminal escape sequence. */
const BACKSPACE_GROUP = DECODERS.indexOf(backspace) + 1;
const SEQUENCE_GROUP = 1;

/** By TOKEN group: the character(s) the token stands for, invisible ones included, ERASE, null to leave it as written. */
function decodeToken(m: RegExpExecArray): string | null {
  for (let g = 1; g <= DECODERS.length; g++) {
    const v = m[g];
    if (v !== undefined) return DECODERS[g - 1]?.(v) ?? null;
  }
  return null;
}

/** ESC, BEL, the C1 controls, and CAN and SUB that abort one: what frames a terminal escape sequence (sequences.ts). */
export const isSequenceControl = (c: number): boolean => c === 0x1b || c === 0x07 || c === 0x18 || c === 0x1a || (c >= 0x80 && c <= 0x9f);
/** ESC and C1: what opens one. */
const opensSequence = (c: number): boolean => c === 0x1b || (c >= 0x80 && c <= 0x9f);

/**
 * What a decoded token adds to the view: an invisible character nothing (an escape of one, `\u200b`, `&#8203;`,
 * `&#xFEFF;`, is invisible once a reader decodes it too), but the controls that frame a sequence where sequences are
 * kept as text.
 */
function visible(ch: string, keepSequences: boolean): string {
  if (!INVISIBLE.test(ch)) return ch;
  return keepSequences && ch.length === 1 && isSequenceControl(ch.charCodeAt(0)) ? ch : '';
}

/** What token `m` (decoded to `decoded`) puts in the view: ERASE for a backspace written as itself, else its characters. */
function viewChars(m: RegExpExecArray, decoded: string, keepSequences: boolean): string {
  if (m[BACKSPACE_GROUP] !== undefined) return ERASE;
  if (keepSequences && m[SEQUENCE_GROUP] !== undefined) return m[0];
  return visible(decoded, keepSequences);
}

/** Whether a token is an escape (`%07`, `\u001b`) of a control that frames a sequence. */
const escapedControl = (token: string, decoded: string): boolean => token.length !== 1 && decoded.length === 1 && isSequenceControl(decoded.charCodeAt(0));

/** decodeToken as a terminal reads controls: only those written as themselves (`%07`, `\u001b` are text to it). */
function rawToken(m: RegExpExecArray): string | null {
  const decoded = decodeToken(m);
  return decoded !== null && escapedControl(m[0], decoded) ? null : decoded;
}

/** Whether token `m` is a terminal escape sequence, or stands for what opens one (ESC, a C1 control). */
const framesSequence = (m: RegExpExecArray, decoded: string): boolean =>
  m[SEQUENCE_GROUP] !== undefined || (decoded.length === 1 && opensSequence(decoded.charCodeAt(0)));

/**
 * The decoded text and its position map. Call only when needsDecoding(s). With `eraseBackspaces`, each backspace takes
 * back the character before it (what a terminal shows once a character is written over it: `529.982.247-2X\b5`); the
 * engine reads both ways where a text holds one. With `keepSequences`, terminal escape sequences are not dropped: ESC,
 * BEL and the C1 controls stay in the view for sequences.ts to read (round 12c), whether written as themselves or as
 * escapes; with `keeping` 'raw', an escape of one of those controls is left as written (sequences.ts reads the
 * sequences both ways: a terminal does not read `%07` as BEL, round 12e).
 */
export function decodeView(s: string, eraseBackspaces = false, keeping: boolean | 'raw' = false): DecodedView {
  const keepSequences = keeping !== false;
  const at = new Int32Array(s.length + 1);
  const end = new Int32Array(s.length + 1);
  // The view's code units, written in place: a backspace takes one back by moving `len` (slicing a
  // string built by concatenation flattened it per backspace, quadratic: 400 K characters of `x \b`
  // took 10 s, round 11b). The view is never longer than the text.
  const units = new Uint16Array(s.length);
  let len = 0;
  let pos = 0;
  let framed = false;
  const copy = (to: number): void => {
    for (let i = pos; i < to; i++) {
      at[len] = i;
      end[len] = i + 1;
      units[len++] = s.charCodeAt(i);
    }
  };
  // What a mask over them leaves in place (structure.ts): the controls dropped alone and the backspaces, and in the
  // erasing reading each character one takes back (written as `*`, so the backspace still has one to take).
  const structure = new Structure();
  // A backspace takes back the character before it on the line in the erasing reading (the view shrinks; `at` stays
  // increasing); otherwise it is dropped like any control (a terminal only moves the cursor: what is not written
  // over stays on the screen, `529.982.247-25\b`).
  const erase = (from: number, to: number): void => {
    structure.add(from, to);
    if (!eraseBackspaces) return;
    const kept = takeBack(units, len);
    if (kept < len) structure.add(at[kept] ?? 0, end[len - 1] ?? 0, BLANK);
    len = kept;
  };
  const dropped = (decoded: string, from: number, to: number): void => {
    const kind = structuralKind(decoded);
    if (kind !== null) structure.add(from, to, kind === 'mark' ? MARK : undefined);
  };
  const put = (ch: string, decoded: string, from: number, to: number): void => {
    if (ch === ERASE) erase(from, to);
    else if (ch !== '') {
      at[len] = from;
      end[len] = to;
      for (let k = 0; k < ch.length; k++) units[len++] = ch.charCodeAt(k);
    } else dropped(decoded, from, to);
  };
  const token = TOKENS[keepSequences ? 1 : 0];
  token.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = token.exec(s)) !== null) {
    const decoded = keeping === 'raw' ? rawToken(m) : decodeToken(m);
    if (decoded === null) continue;
    framed ||= framesSequence(m, decoded);
    copy(m.index);
    put(viewChars(m, decoded, keepSequences), decoded, m.index, m.index + m[0].length);
    pos = m.index + m[0].length;
  }
  copy(s.length);
  at[len] = s.length;
  end[len] = s.length;
  const view: DecodedView = { text: Buffer.from(units.buffer, units.byteOffset, len * 2).toString('utf16le'), at: at.subarray(0, len + 1), end: end.subarray(0, len + 1) };
  if (framed) view.framed = true;
  if (structure.size > 0) view.structure = structure.sorted();
  return view;
}

/**
 * A text as a terminal receives it after a reader has decoded its escapes once (screen.ts reads it): every escape
 * resolved, a string terminator's `\\` after ESC included (`\e\u009c` is ESC then ST to that reader), and every
 * control kept as itself, a backspace and a carriage return too, for the terminal to run; invisible format characters
 * dropped (they take no cell).
 */
export function decodedForScreen(s: string): DecodedView {
  const at = new Int32Array(s.length + 1);
  const end = new Int32Array(s.length + 1);
  let text = '';
  let pos = 0;
  const put = (ch: string, from: number, to: number): void => {
    at[text.length] = from;
    end[text.length] = to;
    text += ch;
  };
  TOKEN_FOR_SCREEN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = TOKEN_FOR_SCREEN.exec(s)) !== null) {
    const decoded = decodeToken(m);
    if (decoded === null) continue;
    for (; pos < m.index; pos++) put(s[pos] ?? '', pos, pos + 1);
    pos = m.index + m[0].length;
    if (shownToTerminal(decoded)) for (let k = 0; k < decoded.length; k++) put(decoded[k] ?? '', m.index, pos);
  }
  for (; pos < s.length; pos++) put(s[pos] ?? '', pos, pos + 1);
  at[text.length] = s.length;
  end[text.length] = s.length;
  return { text, at: at.subarray(0, text.length + 1), end: end.subarray(0, text.length + 1) };
}

/** What a terminal receives of a decoded token: a control (it runs it), or a character that is not invisible. */
function shownToTerminal(decoded: string): boolean {
  const c = decoded.charCodeAt(0);
  return (decoded.length === 1 && (c < 0x20 || (c >= 0x7f && c <= 0x9f))) || !INVISIBLE.test(decoded);
}

/** The view of a text nothing in it decodes: each character itself (the base of utf16.ts's readings). */
export function plainView(s: string): DecodedView {
  const at = new Int32Array(s.length + 1);
  const end = new Int32Array(s.length + 1);
  for (let i = 0; i <= s.length; i++) {
    at[i] = i;
    end[i] = Math.min(i + 1, s.length);
  }
  return { text: s, at, end };
}

/** The view's length without its last character (a surrogate pair whole), unless it is empty or ends a line. */
function takeBack(units: Uint16Array, len: number): number {
  const last = units[len - 1] ?? 0;
  if (len === 0 || last === 0x0a) return len;
  return len - (last >= 0xdc00 && last <= 0xdfff && len > 1 ? 2 : 1);
}

/** The view index of original offset `o`: the first view character at or after it. */
export function viewIndex(v: DecodedView, o: number): number {
  let lo = 0;
  let hi = v.text.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((v.at[mid] ?? 0) < o) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const PERCENT = /%[0-9A-Fa-f]{2}|[0-9]\+[0-9]/;
const HTML = /&#?[0-9A-Za-z]+/;
const JSON_SLASH = /\\\//;

/**
 * A mask to replace an escaped span with, written for the span's context: percent-encoded where the span was
 * (a raw space or '@' would change the URL), HTML-escaped where it held character references, its slashes escaped
 * where the span's were (`\/`).
 */
export function reencode(span: string, mask: string): string {
  if (PERCENT.test(span)) return mask.replace(/[^A-Za-z0-9*._~-]/g, (c) => (c.charCodeAt(0) < 0x80 ? `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}` : encodeURIComponent(c)));
  if (HTML.test(span)) return mask.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  // JSON written with escaped slashes (PHP's json_encode) keeps them escaped: `**.***.***\/****-81`.
  if (JSON_SLASH.test(span)) return mask.replace(/\//g, '\\/');
  return mask;
}
