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
//   (&#47; &#x2F; &amp; &quot; ...);
// - base64 and base64url of the value at each of the three byte alignments it can start at
//   (the characters that depend on the value's bytes only), and hex; those through the escapes above;
// - UTF-16 (LE and BE), for bodies passed through undecoded.
// Bound: a match is at most MAX_ESCAPE_LENGTH characters per character of the longest form, so a
// stream keeps that many bytes minus one from one chunk to the next (`lookbehind`), and a value
// split over two chunks is still found whole.

/** What replaces a credential: no quotes, backslashes, spaces or separators, so JSON, headers and URLs stay well formed. */
export const CREDENTIAL_MARKER = '[guarita:target-credential-redacted]';

/** The longest escape of one character the pattern reads: &#x0000HH; or &#0000DDD;. */
const MAX_ESCAPE_LENGTH = 10;
/** Derived forms (base64 cores, hex) shorter than this are not looked for: they would match ordinary text. */
const MIN_DERIVED_LENGTH = 8;

const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|/-]/;

/** A character of a pattern that matches `ch` whatever its case when it is a letter (ASCII only, byte-wise). */
function literal(ch: string): string {
  const lower = ch.toLowerCase();
  const upper = ch.toUpperCase();
  if (/^[a-z]$/i.test(ch) && lower !== upper) return `[${lower}${upper}]`;
  if (REGEX_SPECIAL.test(ch)) return `\\${ch}`;
  const code = ch.charCodeAt(0);
  return code < 0x20 || code > 0x7e ? `\\x${code.toString(16).padStart(2, '0')}` : ch;
}

/** Hex digits matched in either case. */
const hexOf = (n: number, width: number): string => [...n.toString(16).padStart(width, '0')].map(literal).join('');

const NAMED_ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const JSON_SHORT: Readonly<Record<string, string>> = { '"': '\\"', '\\': '\\\\', '/': '\\/' };

/** Every way one byte of a value can appear in an echo; ASCII bytes also as JSON and HTML escapes. */
function byteForms(byte: number): string {
  const ch = String.fromCharCode(byte);
  const forms = [literal(ch), `%${hexOf(byte, 2)}`];
  if (byte < 0x80) {
    forms.push(`\\\\[uU]${hexOf(byte, 4)}`, `&#0{0,4}${byte};`, `&#[xX]0{0,4}${hexOf(byte, 1)};`);
    const named = NAMED_ENTITIES[ch];
    if (named !== undefined) forms.push(named.split('').map(literal).join(''));
    const json = JSON_SHORT[ch];
    if (json !== undefined) forms.push(json.split('').map(literal).join(''));
    if (ch === ' ') forms.push('\\+');
  }
  return `(?:${forms.join('|')})`;
}

/** A pattern for `value` (its UTF-8 bytes) in any mix of the escapes byteForms reads. */
function escapedPattern(value: string): string {
  return [...Buffer.from(value, 'utf8')].map(byteForms).join('');
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

/** UTF-16 (LE or BE) of an ASCII-or-Latin-1 value as a byte-wise (latin1) pattern. */
function utf16Pattern(value: string, littleEndian: boolean): string {
  return [...value].map((ch) => {
    const code = ch.charCodeAt(0);
    const lo = literal(String.fromCharCode(code & 0xff));
    const hi = `\\x${(code >> 8).toString(16).padStart(2, '0')}`;
    return littleEndian ? `${lo}${hi}` : `${hi}${lo}`;
  }).join('');
}

/**
 * A form as a sequence of atoms, each the texts (lower-cased) one byte of it can be sent as: the
 * same reading as the pattern, spelled out, to tell whether a chunk's end holds the start of one.
 */
type Atoms = readonly (readonly string[])[];

function byteTexts(byte: number): string[] {
  const ch = String.fromCharCode(byte).toLowerCase();
  const hex = byte.toString(16);
  const texts = [ch, `%${hex.padStart(2, '0')}`];
  if (byte < 0x80) {
    texts.push(`\\u${hex.padStart(4, '0')}`);
    for (let zeros = 0; zeros <= 4; zeros++) texts.push(`&#${'0'.repeat(zeros)}${byte};`, `&#x${'0'.repeat(zeros)}${hex};`);
    const extra = [NAMED_ENTITIES[ch], JSON_SHORT[ch], ch === ' ' ? '+' : undefined].filter((t): t is string => t !== undefined);
    texts.push(...extra);
  }
  return texts;
}

const escapedAtoms = (value: string): Atoms => [...Buffer.from(value, 'utf8')].map(byteTexts);

function utf16Atoms(value: string, littleEndian: boolean): Atoms {
  return [...value].map((ch) => {
    const code = ch.charCodeAt(0);
    const lo = String.fromCharCode(code & 0xff);
    const hi = String.fromCharCode(code >> 8);
    return [(littleEndian ? `${lo}${hi}` : `${hi}${lo}`).toLowerCase()];
  });
}

/** The pattern of every form of `secret` the redactor looks for, the same forms as atoms, and its longest match. */
function formsOf(secret: string): { patterns: string[]; atoms: Atoms[]; longest: number } {
  const bytes = Buffer.from(secret, 'utf8');
  const derived = [...base64Cores(bytes), bytes.toString('hex')].filter((f) => f.length >= MIN_DERIVED_LENGTH);
  const patterns = [secret, ...derived].map(escapedPattern);
  patterns.push(utf16Pattern(secret, true), utf16Pattern(secret, false));
  const atoms = [...[secret, ...derived].map(escapedAtoms), utf16Atoms(secret, true), utf16Atoms(secret, false)];
  const longest = Math.max(bytes.length, ...derived.map((d) => d.length)) * MAX_ESCAPE_LENGTH;
  return { patterns, atoms, longest };
}

/**
 * The positions after one atom read at `i` (added to `next`); true when the text ends inside the
 * atom or before it: the form may go on in the next chunk.
 */
function stepAtom(texts: readonly string[], text: string, i: number, next: Set<number>): boolean {
  if (i === text.length) return true;
  const rest = text.length - i;
  for (const t of texts) {
    if (t.length > rest) {
      if (t.startsWith(text.slice(i))) return true;
    } else if (text.startsWith(t, i)) {
      next.add(i + t.length);
    }
  }
  return false;
}

/** Whether `text` (lower-cased) from `at` to its end is the start of `form`, not all of it: the rest may come in the next chunk. */
function startsForm(form: Atoms, text: string, at: number): boolean {
  let frontier = new Set([at]);
  for (const texts of form) {
    const next = new Set<number>();
    for (const i of frontier) if (stepAtom(texts, text, i, next)) return true;
    if (next.size === 0) return false;
    frontier = next;
  }
  return false;
}

/**
 * Replaces the credentials a request carried in what comes back of it. Matching is byte-wise (on
 * the latin1 reading of the bytes), so it runs on bodies as they are forwarded, in any encoding.
 */
export class CredentialRedactor {
  readonly #pattern: RegExp;
  readonly #atoms: readonly Atoms[];
  /** The first texts of every form: where a match can start. */
  readonly #starts: ReadonlySet<string>;
  /** The longest text a match can be: a stream keeps at most one byte less than this from chunk to chunk. */
  readonly longestMatch: number;

  private constructor(pattern: RegExp, atoms: readonly Atoms[], longestMatch: number) {
    this.#pattern = pattern;
    this.#atoms = atoms;
    this.#starts = new Set(atoms.flatMap((a) => (a[0] ?? []).map((t) => t[0] ?? '')));
    this.longestMatch = longestMatch;
  }

  /** A redactor of the non-empty `secrets` (surrounding whitespace is not part of one), or undefined when there is none. */
  static of(secrets: readonly (string | undefined)[]): CredentialRedactor | undefined {
    const values = [...new Set(secrets.map((s) => s?.trim() ?? '').filter((s) => s !== ''))];
    if (values.length === 0) return undefined;
    // Longest first, so a value that contains another is replaced whole.
    const forms = values.sort((a, b) => b.length - a.length).map(formsOf);
    return new CredentialRedactor(new RegExp(forms.flatMap((f) => f.patterns).join('|'), 'g'), forms.flatMap((f) => f.atoms), Math.max(...forms.map((f) => f.longest)));
  }

  /** `bytes` with every credential replaced (the same buffer when there is none). */
  bytes(bytes: Buffer): Buffer {
    const text = bytes.toString('latin1');
    this.#pattern.lastIndex = 0;
    if (!this.#pattern.test(text)) return bytes;
    return Buffer.from(text.replace(this.#pattern, CREDENTIAL_MARKER), 'latin1');
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
   * The position in `text` before which every match is found whole: the first of its last
   * `longestMatch - 1` positions that starts an unfinished match (the text from there to the end is
   * the start of a form, startsForm), or its end when none does.
   */
  #safeEnd(text: string): number {
    const lowered = text.toLowerCase();
    for (let at = Math.max(0, text.length - (this.longestMatch - 1)); at < text.length; at++) {
      if (this.#starts.has(lowered[at] ?? '') && this.#atoms.some((form) => startsForm(form, lowered, at))) return at;
    }
    return text.length;
  }

  /**
   * Redacts the complete part of `text` (latin1): the bytes to send, up to the last point no
   * unfinished match can start before, and the rest, kept for the next chunk.
   */
  split(text: string): { out: string; rest: string } {
    const safe = this.#safeEnd(text);
    let out = '';
    let at = 0;
    this.#pattern.lastIndex = 0;
    for (let m = this.#pattern.exec(text); m !== null && m.index < safe; m = this.#pattern.exec(text)) {
      out += `${text.slice(at, m.index)}${CREDENTIAL_MARKER}`;
      at = m.index + m[0].length;
    }
    const end = Math.max(at, safe);
    return { out: out + text.slice(at, end), rest: text.slice(end) };
  }

  stream(sampleLimit: number): CredentialStream {
    return new CredentialStream(this, sampleLimit);
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
