// The target credential the sidecar adds to every forwarded request (Authorization: Bearer
// <credentialsSecretRef.tokenKey>, targets.ts httpUpstream) must never reach the agent or the
// record, also when the upstream echoes the request back: TRACE, httpbin-style /anything, debug
// and error pages that dump the request. Once the agent holds it, it can use it wherever the
// upstream is reachable, without the proxy. So every answer header, body byte and record sample of
// an exchange that carried a credential passes through a redactor, which replaces each value the
// sidecar injected with a fixed marker: as sent, and in the encodings an echo would put it in.
//
// Encodings read (any mix of them within one value, character by character):
// - literal, whatever the case of its letters (an upper-cased hex token is the same token);
// - percent-encoded (%2F or %2f), `+` for a space (forms);
// - JSON string escapes (\/ as PHP writes it, \" \\, \u002F), HTML character references
//   (&#47; &#x2F; with up to 4 leading zeros, and every HTML5 named reference of an ASCII
//   character: &amp; &period; &lowbar; &sol; ..., as PHP's htmlentities(ENT_HTML5) writes them);
// - base64 and base64url of the value at each of the three byte alignments it can start at
//   (the characters that depend on the value's bytes only), and hex; those through the escapes above;
// - UTF-16 (LE and BE), for bodies passed through undecoded.
//
// Cost (the redactor runs on the event loop, on every answer byte of such an exchange): a match is
// only looked for where one can start, found with a few native substring searches per chunk, so
// the cost does not grow with the value's length (a signed JWT is over a kilobyte). A match of a
// form either spells its first ANCHOR_ATOMS characters literally (one indexOf of that slice finds
// it) or escapes one of them, with only literal characters before it (each escape character, % \
// & and + for a space, is decoded where it is; one that gives none of those characters is
// skipped). Only there is the form read character by character (formEnd). A stream keeps back
// the text from the first match that is still unfinished at the chunk's end (at most
// `longestMatch - 1` bytes; CredentialStream), and the last TAIL positions, where an anchor may
// itself be cut, are each tried.
// The micro-benchmark beside this file (credential-redaction.bench.ts) measures it.

/** What replaces a credential: no quotes, backslashes, spaces or separators, so JSON, headers and URLs stay well formed. */
export const CREDENTIAL_MARKER = '[guarita:target-credential-redacted]';

/** The longest escape of one character read: &DiacriticalGrave; (the escapes of a number, &#x0000HH; and &#0000DDD;, are 10). */
const MAX_ESCAPE_LENGTH = 18;
/** Derived forms (base64 cores, hex) shorter than this are not looked for: they would match ordinary text. */
const MIN_DERIVED_LENGTH = 8;
/** How many first characters of a form its literal anchor spells (searched for with indexOf). */
const ANCHOR_ATOMS = 8;
/** The last positions of a chunk where a match may start with its anchor cut by the chunk's end: each is tried. */
const TAIL = ANCHOR_ATOMS * MAX_ESCAPE_LENGTH;

/**
 * The HTML5 named character references of the ASCII characters (the WHATWG table; the first name
 * is the one PHP's htmlentities(ENT_QUOTES | ENT_HTML5) writes), read whatever their case.
 */
const HTML5_NAMES: Readonly<Record<string, readonly string[]>> = {
  '\t': ['Tab'], '\n': ['NewLine'], '!': ['excl'], '"': ['quot'], '#': ['num'], $: ['dollar'], '%': ['percnt'], '&': ['amp'], "'": ['apos'],
  '(': ['lpar'], ')': ['rpar'], '*': ['ast', 'midast'], '+': ['plus'], ',': ['comma'], '.': ['period'], '/': ['sol'], ':': ['colon'],
  ';': ['semi'], '<': ['lt'], '=': ['equals'], '>': ['gt'], '?': ['quest'], '@': ['commat'], '[': ['lbrack', 'lsqb'], '\\': ['bsol'],
  ']': ['rsqb', 'rbrack'], '^': ['Hat'], _: ['lowbar', 'UnderBar'], '`': ['grave', 'DiacriticalGrave'], '{': ['lbrace', 'lcub'],
  '|': ['vert', 'verbar', 'VerticalLine'], '}': ['rcub', 'rbrace'],
};
const JSON_SHORT: Readonly<Record<string, string>> = { '"': '\\"', '\\': '\\\\', '/': '\\/' };

/** The character each named reference (lower-cased, without & and ;) stands for. */
const NAMED_CHARACTER = new Map(Object.entries(HTML5_NAMES).flatMap(([ch, names]) => names.map((n) => [n.toLowerCase(), ch.charCodeAt(0)] as const)));

/**
 * Every text (lower-cased) one byte of a value can be sent as, the literal one first: percent-
 * encoded; ASCII also as a JSON \u escape or short escape, an HTML decimal or hex reference with up
 * to 4 leading zeros, an HTML5 named reference, and `+` for a space. Matching is on the lower-cased
 * text, so letters and hex digits are read whatever their case (Latin-1 letters fold too: only a
 * credential with non-ASCII characters could match a little more than itself).
 */
function byteTexts(byte: number): string[] {
  const ch = String.fromCharCode(byte);
  const hex = byte.toString(16);
  const texts = [ch.toLowerCase(), `%${hex.padStart(2, '0')}`];
  if (byte < 0x80) {
    texts.push(`\\u${hex.padStart(4, '0')}`);
    for (let zeros = 0; zeros <= 4; zeros++) texts.push(`&#${'0'.repeat(zeros)}${byte};`, `&#x${'0'.repeat(zeros)}${hex};`);
    texts.push(...(HTML5_NAMES[ch] ?? []).map((n) => `&${n.toLowerCase()};`));
    const extra = [JSON_SHORT[ch], ch === ' ' ? '+' : undefined].filter((t): t is string => t !== undefined);
    texts.push(...extra);
  }
  return [...new Set(texts)];
}

/** The base64 characters that depend only on `value`'s bytes, for each of the 3 alignments it can start at in a longer encoded text. */
function base64Cores(value: Buffer): string[] {
  const cores: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), value]).toString('base64').replace(/=+$/, '');
    // Character i covers bits [6i, 6i+6); the value's bits are [8*offset, 8*(offset+length)).
    const first = Math.ceil((8 * offset) / 6);
    const last = Math.floor((8 * (offset + value.length)) / 6);
    cores.push(encoded.slice(first, last));
  }
  return cores.flatMap((c) => [c, c.replace(/\+/g, '-').replace(/\//g, '_')]);
}

/** The texts (lower-cased) one character of a form can be sent as: the literal one, and all of them by their first character. */
interface Atom {
  /** The byte it is (-1 for a UTF-16 character, read only literally). */
  byte: number;
  literal: string;
  /** Every text, and the same by their first character. */
  texts: ReadonlySet<string>;
  byFirst: ReadonlyMap<number, readonly string[]>;
}

/** A form as a sequence of atoms. */
type Atoms = readonly Atom[];

function atomOf(texts: readonly string[], byte: number): Atom {
  const byFirst = new Map<number, string[]>();
  for (const t of texts) byFirst.set(t.charCodeAt(0), [...(byFirst.get(t.charCodeAt(0)) ?? []), t]);
  return { byte, literal: texts[0] ?? '', texts: new Set(texts), byFirst };
}

/** The atom of each byte, built once. */
const BYTE_ATOMS: readonly Atom[] = Array.from({ length: 256 }, (_v, byte) => atomOf(byteTexts(byte), byte));

interface Form {
  atoms: Atoms;
  /** The literal spelling of its first ANCHOR_ATOMS characters. */
  anchor: string;
  /** Whether its characters can be escaped (not UTF-16, which is read literally). */
  escapes: boolean;
  /** The first character of its literal spelling, and the byte its first character is (-1 for UTF-16): a quick test of where it can start. */
  firstChar: number;
  firstByte: number;
}

const escapedAtoms = (value: string): Atoms => [...Buffer.from(value, 'utf8')].map((b) => BYTE_ATOMS[b] ?? atomOf([], b));

/** UTF-16 (LE or BE) of an ASCII-or-Latin-1 value, byte-wise (latin1): one text of two characters per character. */
function utf16Atoms(value: string, littleEndian: boolean): Atoms {
  return [...value].map((ch) => {
    const code = ch.charCodeAt(0);
    const lo = String.fromCharCode(code & 0xff);
    const hi = String.fromCharCode(code >> 8);
    return atomOf([(littleEndian ? `${lo}${hi}` : `${hi}${lo}`).toLowerCase()], -1);
  });
}

const formOf = (atoms: Atoms, escapes: boolean): Form => ({
  atoms, escapes, anchor: atoms.slice(0, ANCHOR_ATOMS).map((a) => a.literal).join(''), firstChar: atoms[0]?.literal.charCodeAt(0) ?? -1, firstByte: atoms[0]?.byte ?? -1,
});

/** Every form of `secret` the redactor looks for, and the longest text a match of one can be. */
function formsOf(secret: string): { forms: Form[]; longest: number } {
  const bytes = Buffer.from(secret, 'utf8');
  const derived = [...base64Cores(bytes), bytes.toString('hex')].filter((f) => f.length >= MIN_DERIVED_LENGTH);
  const forms = [...[secret, ...derived].map((v) => formOf(escapedAtoms(v), true)), formOf(utf16Atoms(secret, true), false), formOf(utf16Atoms(secret, false), false)];
  const longest = Math.max(bytes.length, ...derived.map((d) => d.length)) * MAX_ESCAPE_LENGTH;
  return { forms, longest };
}

/** A form's match from a position: where it ends, or that there is none, or that the text ends inside it (the next chunk decides). */
const LIVE = -1;
const DEAD = -2;

/** The characters an escape starts with: a character elsewhere can only be read literally. */
const ESCAPE_START = new Set(['%', '\\', '&', '+'].map((c) => c.charCodeAt(0)));
/** stepOne's answer when several texts of an atom can be read at a position. */
const SEVERAL = -3;

/**
 * The whole escape that starts at `i` (each has one length, given the text: %HH, \\uHHHH, \\x, an
 * HTML reference up to its ;, + for a space); '' when none starts there, undefined when the text
 * ends before it is known.
 */
function escapeText(text: string, i: number): string | undefined {
  const c = text[i];
  let end = i + 1;
  if (c === '%') end = i + 3;
  else if (c === '\\') end = text[i + 1] === 'u' ? i + 6 : i + 2;
  else if (c === '&') {
    const semi = text.indexOf(';', i);
    if (semi >= 0 && semi - i < MAX_ESCAPE_LENGTH) end = semi + 1;
    else return text.length - i < MAX_ESCAPE_LENGTH ? undefined : '';
  } else if (c !== '+') return '';
  return end <= text.length ? text.slice(i, end) : undefined;
}

/** Whether the text from `i` to its end is the start of one of the atom's texts (the next chunk may complete it). */
const startsAtom = (atom: Atom, text: string, i: number): boolean => [...atom.texts].some((t) => t.length > text.length - i && t.startsWith(text.slice(i)));

/** LIVE when the text from `i` to its end is the start of one of the atom's texts and more may come; `otherwise` if not. */
const cutAtom = (atom: Atom, text: string, i: number, final: boolean, otherwise: number): number => (!final && startsAtom(atom, text, i) ? LIVE : otherwise);

/**
 * The end of one atom read at `i` when exactly one of its texts can be read there (the common
 * case: no allocation, each escape looked up whole); DEAD when none, LIVE when the text ends inside
 * one and more text may come (not `final`), SEVERAL otherwise (stepAtom reads them).
 */
function stepOne(atom: Atom, text: string, i: number, final: boolean): number {
  if (i === text.length) return final ? DEAD : LIVE;
  if (i + atom.literal.length > text.length) return cutAtom(atom, text, i, final, DEAD);
  const literalEnd = text.startsWith(atom.literal, i) ? i + atom.literal.length : DEAD;
  return ESCAPE_START.has(text.charCodeAt(i)) ? stepEscape(atom, text, i, final, literalEnd) : literalEnd;
}

/** stepOne where an escape starts: its end when the escape is one of the atom's texts, or the literal reading's (`literalEnd`). */
function stepEscape(atom: Atom, text: string, i: number, final: boolean, literalEnd: number): number {
  const escape = escapeText(text, i);
  if (escape === undefined) return cutAtom(atom, text, i, final, literalEnd);
  const escapeEnd = escape !== '' && atom.texts.has(escape) ? i + escape.length : DEAD;
  return literalEnd === DEAD || escapeEnd === DEAD || literalEnd === escapeEnd ? Math.max(literalEnd, escapeEnd) : SEVERAL;
}

/**
 * The positions after one atom read at `i` (added to `next`); true when the text ends inside the
 * atom or before it and more text may come (not `final`): the form may go on in the next chunk.
 */
function stepAtom(atom: Atom, text: string, i: number, next: number[], final: boolean): boolean {
  if (i === text.length) return !final;
  for (const t of atom.byFirst.get(text.charCodeAt(i)) ?? []) {
    if (text.startsWith(t, i)) {
      if (!next.includes(i + t.length)) next.push(i + t.length);
    } else if (!final && i + t.length > text.length && t.startsWith(text.slice(i))) {
      return true;
    }
  }
  return false;
}

/** The positions after one atom read at each of `frontier`, or LIVE (stepAtom). */
function stepAll(atom: Atom, text: string, frontier: readonly number[], final: boolean): number[] | typeof LIVE {
  const next: number[] = [];
  for (const i of frontier) if (stepAtom(atom, text, i, next, final)) return LIVE;
  return next;
}

/** Where a form's reading is after one more atom: one position, several, LIVE or DEAD. */
function step(atom: Atom, text: string, at: number | number[], final: boolean): number | number[] {
  const end = typeof at === 'number' ? stepOne(atom, text, at, final) : SEVERAL;
  if (end !== SEVERAL) return end;
  const next = stepAll(atom, text, typeof at === 'number' ? [at] : at, final);
  if (next === LIVE) return LIVE;
  return next.length > 1 ? next : next[0] ?? DEAD;
}

/**
 * The end of `form`'s match at `at` in `text` (lower-cased; the longest when it has several),
 * DEAD, or LIVE. One position is followed atom by atom without allocating (stepOne); several, as
 * a set (stepAll).
 */
function formEnd(form: Atoms, text: string, at: number, final: boolean): number {
  let position: number | number[] = at;
  for (const atom of form) {
    position = step(atom, text, position, final);
    if (position === LIVE || position === DEAD) return position;
  }
  return typeof position === 'number' ? position : Math.max(...position);
}

/** The value of the hex digits `text[from, to)` (lower-cased); undefined when one is not a hex digit. */
function hexValue(text: string, from: number, to: number): number | undefined {
  if (to > text.length || to <= from) return undefined;
  let value = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
    if (digit < 0) return undefined;
    value = value * 16 + digit;
  }
  return value;
}

/** The ASCII byte an HTML reference at `at` (&#DDD; &#xHH; &name;) stands for; undefined when it is none. */
function referenceAt(text: string, at: number): number | undefined {
  const semi = text.indexOf(';', at);
  if (semi < 0 || semi - at > MAX_ESCAPE_LENGTH) return undefined;
  if (text[at + 1] !== '#') return NAMED_CHARACTER.get(text.slice(at + 1, semi));
  if (text[at + 2] === 'x') return hexValue(text, at + 3, semi);
  const digits = text.slice(at + 2, semi);
  return /^\d+$/.test(digits) ? Number(digits) : undefined;
}

/** The ASCII byte a JSON escape at `at` (\uHHHH, \/ \" \\) stands for; undefined when it is none. */
function jsonEscapeAt(text: string, at: number): number | undefined {
  const next = text[at + 1];
  if (next === '/' || next === '"' || next === '\\') return next.charCodeAt(0);
  return next === 'u' ? hexValue(text, at + 2, at + 6) : undefined;
}

/**
 * The byte the escape at `at` in `text` (lower-cased) stands for, read loosely (any number of
 * leading zeros): it only picks where formEnd reads the form exactly. Undefined when it is none.
 */
function escapedByte(text: string, at: number): number | undefined {
  switch (text[at]) {
    case '%': return hexValue(text, at + 1, at + 3);
    case '\\': return jsonEscapeAt(text, at);
    case '&': return referenceAt(text, at);
    case '+': return 0x20;
    default: return undefined;
  }
}

/** Where a form's first escaped character can be: the form's index, and the literal text its match has before that character. */
interface EscapeStart { form: number; before: string }

/** For each byte, the forms whose first ANCHOR_ATOMS characters hold it, with the literal text before it (every occurrence). */
function escapeStarts(forms: readonly Form[]): Map<number, EscapeStart[]> {
  const starts = new Map<number, EscapeStart[]>();
  for (const [index, form] of forms.entries()) {
    if (!form.escapes) continue;
    for (let j = 0; j < Math.min(ANCHOR_ATOMS, form.atoms.length); j++) {
      const byte = form.atoms[j]?.byte ?? -1;
      const list = starts.get(byte) ?? [];
      list.push({ form: index, before: form.anchor.slice(0, j) });
      starts.set(byte, list);
    }
  }
  return starts;
}

/**
 * Replaces the credentials a request carried in what comes back of it. Matching is byte-wise (on
 * the latin1 reading of the bytes), so it runs on bodies as they are forwarded, in any encoding.
 */
export class CredentialRedactor {
  readonly #forms: readonly Form[];
  readonly #escapeStarts: ReadonlyMap<number, readonly EscapeStart[]>;
  /** The characters an escape starts with: + only when a form holds a space. */
  readonly #escapeChars: readonly string[];
  /** The first characters of every text a form's first character can be sent as: where a match can start. */
  readonly #starts: ReadonlySet<number>;
  /** The longest text a match can be: a stream keeps at most one byte less than this from chunk to chunk. */
  readonly longestMatch: number;

  private constructor(forms: readonly Form[], longestMatch: number) {
    this.#forms = forms;
    this.#escapeStarts = escapeStarts(forms);
    const space = forms.some((f) => f.escapes && f.atoms.some((a) => a.byte === 0x20));
    this.#escapeChars = space ? ['%', '\\', '&', '+'] : ['%', '\\', '&'];
    this.#starts = new Set(forms.flatMap((f) => [...(f.atoms[0]?.byFirst.keys() ?? [])]));
    this.longestMatch = longestMatch;
  }

  /** A redactor of the non-empty `secrets` (surrounding whitespace is not part of one), or undefined when there is none. */
  static of(secrets: readonly (string | undefined)[]): CredentialRedactor | undefined {
    const values = [...new Set(secrets.map((s) => s?.trim() ?? '').filter((s) => s !== ''))];
    if (values.length === 0) return undefined;
    // Longest first, so a value that contains another is replaced whole.
    const all = values.sort((a, b) => b.length - a.length).map(formsOf);
    return new CredentialRedactor(all.flatMap((f) => f.forms), Math.max(...all.map((f) => f.longest)));
  }

  /** `bytes` with every credential replaced (the same buffer when there is none). */
  bytes(bytes: Buffer): Buffer {
    const text = bytes.toString('latin1');
    const { out, matched } = this.#scan(text, true);
    return matched ? Buffer.from(out, 'latin1') : bytes;
  }

  /** `text` with every credential replaced (read as its UTF-8 bytes). */
  text(text: string): string {
    const bytes = Buffer.from(text, 'utf8');
    const redacted = this.bytes(bytes);
    return redacted === bytes ? text : redacted.toString('utf8');
  }

  /** Response headers with every credential replaced in their values; a header whose name holds one is dropped. */
  headers(headers: Record<string, string | string[]>): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (this.text(name) !== name) continue;
      out[name] = Array.isArray(value) ? value.map((v) => this.text(v)) : this.text(value);
    }
    return out;
  }

  /**
   * Redacts the complete part of `text` (latin1): the bytes to send, up to the first match still
   * unfinished at its end, and the rest, kept for the next chunk.
   */
  split(text: string): { out: string; rest: string } {
    const { out, end } = this.#scan(text, false);
    return { out, rest: text.slice(end) };
  }

  stream(sampleLimit: number): CredentialStream {
    return new CredentialStream(this, sampleLimit);
  }

  /**
   * `text` with every match replaced, up to `end`: the first position where a match is unfinished
   * at the text's end (more may come), or the end (`final`: nothing more comes).
   */
  #scan(text: string, final: boolean): { out: string; end: number; matched: boolean } {
    const lowered = text.toLowerCase();
    let out = '';
    let at = 0;
    let last = -1;
    for (const p of this.#candidates(lowered, final)) {
      if (p < at || p === last) continue;
      last = p;
      const end = this.#matchAt(lowered, p, final);
      if (end === LIVE) return { out: out + text.slice(at, p), end: p, matched: at > 0 };
      if (end === DEAD) continue;
      out += `${text.slice(at, p)}${CREDENTIAL_MARKER}`;
      at = end;
    }
    return { out: out + text.slice(at), end: text.length, matched: at > 0 };
  }

  /** The end of the first form (in order) that matches at `at`, or LIVE when one before it may still, or DEAD. */
  #matchAt(text: string, at: number, final: boolean): number {
    const c = text.charCodeAt(at);
    // The byte an escape at `at` stands for: only forms that start with that character or that byte are read.
    const escaped = ESCAPE_START.has(c) ? escapedByte(text, at) ?? (final ? -2 : -3) : -2;
    for (const form of this.#forms) {
      if (form.firstChar !== c && form.firstByte !== escaped && escaped !== -3) continue;
      const end = formEnd(form.atoms, text, at, final);
      if (end !== DEAD) return end;
    }
    return DEAD;
  }

  /**
   * Every position of `text` (lower-cased) a match can start at, ascending: where a form's literal
   * anchor is, where its first escaped character is (with the literal characters before it), and,
   * when more text may come, the last TAIL positions a form's first character can start at.
   */
  #candidates(text: string, final: boolean): Int32Array {
    const found: number[] = [];
    for (const form of this.#forms) {
      for (let at = text.indexOf(form.anchor); at >= 0; at = text.indexOf(form.anchor, at + 1)) found.push(at);
    }
    for (const ch of this.#escapeChars) {
      for (let at = text.indexOf(ch); at >= 0; at = text.indexOf(ch, at + 1)) this.#escapeCandidates(text, at, found);
    }
    if (!final) {
      for (let at = Math.max(0, text.length - TAIL); at < text.length; at++) if (this.#starts.has(text.charCodeAt(at))) found.push(at);
    }
    return Int32Array.from(found).sort();
  }

  /** The starts of the forms whose first escaped character the escape at `at` can be. */
  #escapeCandidates(text: string, at: number, found: number[]): void {
    const byte = escapedByte(text, at);
    const starts = byte === undefined ? undefined : this.#escapeStarts.get(byte);
    if (starts === undefined) return;
    for (const { before } of starts) if (at >= before.length && text.startsWith(before, at - before.length)) found.push(at - before.length);
  }
}

/**
 * One body's bytes through a redactor, chunk by chunk: each push returns what can be sent (the
 * last `longestMatch - 1` bytes wait for the next chunk), end() the rest. It also keeps the
 * record's sample from the redacted bytes (cut on a byte past `sampleLimit`, as the masking
 * pipeline cuts it; the enforcer cuts it on a character boundary).
 */
export class CredentialStream {
  readonly #redactor: CredentialRedactor;
  readonly #sampleLimit: number;
  #pending = '';
  #sample: Buffer[] = [];
  #sampleBytes = 0;
  bytesOut = 0;

  constructor(redactor: CredentialRedactor, sampleLimit: number) {
    this.#redactor = redactor;
    this.#sampleLimit = sampleLimit;
  }

  push(chunk: Buffer): Buffer {
    const { out, rest } = this.#redactor.split(this.#pending + chunk.toString('latin1'));
    this.#pending = rest;
    return this.#sent(out);
  }

  end(): Buffer {
    const last = this.#redactor.bytes(Buffer.from(this.#pending, 'latin1'));
    this.#pending = '';
    return this.#sent(last.toString('latin1'));
  }

  /** The record's sample of what was sent. */
  sample(): { sample: string; truncated: boolean } {
    const head = Buffer.concat(this.#sample);
    return { sample: head.subarray(0, this.#sampleLimit + 4).toString('utf8'), truncated: this.bytesOut > this.#sampleLimit };
  }

  #sent(text: string): Buffer {
    const bytes = Buffer.from(text, 'latin1');
    this.bytesOut += bytes.length;
    if (this.#sampleBytes <= this.#sampleLimit + 4 && bytes.length > 0) {
      this.#sample.push(bytes);
      this.#sampleBytes += bytes.length;
    }
    return bytes;
  }
}

/** A body sent whole, redacted, and the record's sample of it (cut as CredentialStream cuts it). */
export function redactedWhole(redactor: CredentialRedactor, body: Buffer, sampleLimit: number): { bytes: Buffer; sample: { sample: string; truncated: boolean } } {
  const bytes = redactor.bytes(body);
  const truncated = bytes.length > sampleLimit;
  return { bytes, sample: { sample: (truncated ? bytes.subarray(0, sampleLimit + 4) : bytes).toString('utf8'), truncated } };
}
