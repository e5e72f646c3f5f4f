// A body decoded under a label that is not UTF-8 is masked in that reading, but its bytes may be
// text in another encoding, and a client (or a person) may read them that way. Round 5 review:
// UTF-8 text labelled latin1 (windows-1252, iso-8859-*, koi8-r, any single-byte label) whose CPF is
// printed with no-break spaces, typographic dashes or fullwidth digits decodes to mojibake
// (`590Â 830Â 166Â 33`) no layout matches, and went out unmasked: the digits stay readable, and a
// client that encodes what it got back to latin1 and reads it as UTF-8 has the CPF's layout
// whole. The same under UTF-16 labels (the bytes read as ASCII or UTF-8 carry the identifiers).
//
// So the other reading is masked too, and the body is refused when it holds an identifier that
// the label's own masking left readable:
// - under a UTF-16 label, the bytes read as ASCII (latin1) and as UTF-8: genuine UTF-16 puts a NUL
//   beside every ASCII character, which no identifier spans, so any identifier there refuses;
// - under any other label, the label's text, with what its masking finds removed, is encoded back
//   to the label's bytes and read as UTF-8: what is found there is an identifier the label's
//   masking did not find and a UTF-8 reader does (found in the answer as sent, not by comparing
//   counts, so an identifier only the label's reading sees cannot stand in for one it does not).
//   Genuine latin1 text (é as the one byte 0xE9, invalid UTF-8) reads as U+FFFD there and changes
//   nothing; identifiers with ASCII separators are found in both readings and masked in place.
// Both checks use a removing session (its own counts, masks removed), so the record counts each
// identifier once and no mask (a surrogate is a valid CPF) is found again.
import { isAscii } from 'node:buffer';
import { TextDecoder } from 'node:util';
import type { MaskSession, StreamMasker } from '../enforcement.ts';

/** Checks a body's other readings chunk by chunk; each call returns a problem (refuse the body) or undefined. */
export interface OtherReadings {
  /** `raw`: the chunk's bytes; `text`: what the label's decoder made of them. */
  push(raw: Buffer, text: string): string | undefined;
  end(): string | undefined;
}

/** The other readings to check for a body decoded as `encoding` (a TextDecoder's name); undefined for UTF-8. */
export function otherReadings(session: MaskSession, encoding: string, kind: 'json' | 'text'): OtherReadings | undefined {
  if (encoding === 'utf-8') return undefined;
  if (encoding === 'utf-16le' || encoding === 'utf-16be') return new RawReadings(session, encoding);
  return new RoundTrip(session, encoding, kind);
}

const countsTotal = (session: MaskSession): number => Object.values(session.counts()).reduce((n, c) => n + c, 0);

/** The raw bytes as latin1 (ASCII) and as UTF-8, masked; any identifier refuses (UTF-16 labels). */
class RawReadings implements OtherReadings {
  readonly #session: MaskSession;
  readonly #latin1: StreamMasker;
  readonly #utf8: StreamMasker;
  readonly #decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  readonly #encoding: string;

  constructor(session: MaskSession, encoding: string) {
    this.#session = session.removingSession();
    this.#latin1 = this.#session.textStream();
    this.#utf8 = this.#session.textStream();
    this.#encoding = encoding;
  }

  push(raw: Buffer): string | undefined {
    this.#latin1.push(raw.toString('latin1'));
    this.#utf8.push(this.#decoder.decode(raw, { stream: true }));
    return this.#problem();
  }

  end(): string | undefined {
    this.#latin1.end();
    const rest = this.#decoder.decode();
    if (rest !== '') this.#utf8.push(rest);
    this.#utf8.end();
    return this.#problem();
  }

  #problem(): string | undefined {
    if (countsTotal(this.#session) === 0) return undefined;
    return `the body is decoded as ${this.#encoding} (its label or byte-order mark), but its bytes read as ASCII or UTF-8 carry identifiers: a client that reads it that way (or encodes the decoded text as UTF-16 again) would get them unmasked`;
  }
}

/**
 * Label text with its identifiers removed, encoded back to the label's bytes, read as UTF-8 and
 * masked. While every byte so far is ASCII both readings are the same text and nothing is masked
 * twice: the last WINDOW characters are kept, and the check starts from them at the first other
 * byte (they hold any identifier that reaches it, and its keyword).
 */
class RoundTrip implements OtherReadings {
  /** What the label's reading finds is removed by this one (its own counts)... */
  readonly #removed: StreamMasker;
  /** ...and what the UTF-8 reading of the rest finds is counted by this one. */
  readonly #found: MaskSession;
  readonly #reading: StreamMasker;
  readonly #encoding: string;
  readonly #codec: Codec;
  readonly #decode: (raw: Buffer, final: boolean) => string;
  readonly #utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  #tail = '';
  #started = false;

  constructor(session: MaskSession, encoding: string, kind: 'json' | 'text') {
    // Removed as the answer is masked (a JSON value under a name rule whole), so what is left is what the answer shows.
    const removing = session.removingSession();
    this.#removed = kind === 'json' ? removing.jsonStream() : removing.textStream();
    this.#found = session.removingSession();
    this.#reading = this.#found.textStream();
    this.#encoding = encoding;
    this.#codec = codecFor(encoding);
    this.#decode = this.#codec.reader();
  }

  push(raw: Buffer, text: string): string | undefined {
    // Until the first byte over 0x7F the label's text is the bytes' own (every label here keeps ASCII ASCII).
    if (!this.#started) {
      if (isAscii(raw)) {
        this.#tail = this.#tail.length + text.length <= WINDOW ? this.#tail + text : (this.#tail + text).slice(-WINDOW);
        return undefined;
      }
      this.#started = true;
    }
    const own = this.#tail + this.#decode(raw, false);
    this.#tail = '';
    return this.#read(this.#removed.push(own));
  }

  end(): string | undefined {
    if (!this.#started) return undefined;
    const last = this.#decode(Buffer.alloc(0), true);
    const problem = this.#read((last === '' ? '' : this.#removed.push(last)) + this.#removed.end());
    if (problem !== undefined) return problem;
    const rest = this.#utf8.decode();
    if (rest !== '') this.#reading.push(rest);
    this.#reading.end();
    return this.#problem();
  }

  #read(removed: string): string | undefined {
    if (removed === '') return undefined;
    this.#reading.push(this.#utf8.decode(this.#codec.encode(removed), { stream: true }));
    return this.#problem();
  }

  #problem(): string | undefined {
    if (countsTotal(this.#found) === 0) return undefined;
    return `the body is labelled charset ${this.#encoding}, but its bytes are also UTF-8 text in which an identifier is readable that the ${this.#encoding} reading does not show as one (printed with no-break spaces, typographic dashes or fullwidth digits, which ${this.#encoding} turns into other characters): a client or person reading it as UTF-8 would get it unmasked; label the answer charset=utf-8`;
  }
}

/** Characters of label text kept while the body is ASCII: more than the longest candidate and its keyword window (core/masking HOLD + LEFT). */
const WINDOW = 1024;

/** Double-byte encodings (WHATWG): their two-byte characters are encoded back too. */
const DOUBLE_BYTE = new Set(['shift_jis', 'euc-jp', 'euc-kr', 'big5', 'gbk', 'gb18030']);

/** U+FFFD in UTF-8: a character the table cannot encode back stays a character no identifier holds. */
const REPLACEMENT = Buffer.from('\ufffd', 'utf8');

/**
 * A byte the single-byte encoding does not map (its decoder's U+FFFD) is read by the check as
 * U+2800 + byte (a Braille pattern: a symbol, as U+FFFD is, to every detector) and encoded back
 * to itself: U+FFFD would lose which byte it was (iso-8859-8 leaves 0xC2 unmapped, the first byte
 * of a UTF-8 no-break space).
 */
const UNMAPPED = 0x2800;

/**
 * How the check reads and writes an encoding, exactly both ways: every byte the encoding's decoder
 * does not map (its U+FFFD) is read as UNMAPPED + byte and written back as that byte. Single-byte:
 * one character per byte. Double-byte: the pairs (and GB18030's four-byte, EUC-JP's three-byte
 * sequences) the decoder maps, the rest byte by byte; the label's own decoder turns a rejected pair
 * into U+FFFD, which would lose the bytes of the UTF-8 separator it swallowed (GBK reads the
 * no-break space's C2 A0 as one character, the en dash's E2 80 93 as one and an error).
 */
interface Codec {
  /** A reader for one body: it holds an incomplete sequence across chunks until `final`. */
  reader(): (raw: Buffer, final: boolean) => string;
  encode(text: string): Buffer;
}

const codecs = new Map<string, Codec>();

function codecFor(encoding: string): Codec {
  let codec = codecs.get(encoding);
  if (codec !== undefined) return codec;
  const decoder = new TextDecoder(encoding);
  const table = new Map<number, Buffer>();
  const units = singleBytes(decoder, table);
  if (DOUBLE_BYTE.has(encoding)) {
    const pairs = addPairs(decoder, table);
    codec = { reader: () => doubleByteReader(encoding, units, pairs, table), encode: (text) => encodeWith(table, text) };
  } else {
    codec = { reader: () => (raw) => decodeSingle(units, raw), encode: (text) => encodeWith(table, text) };
  }
  codecs.set(encoding, codec);
  return codec;
}

/** The character each byte decodes to alone (UNMAPPED + byte for the decoder's U+FFFD); entered in `table`. */
function singleBytes(decoder: TextDecoder, table: Map<number, Buffer>): Uint16Array {
  const units = new Uint16Array(256);
  for (let b = 0; b <= 0xff; b++) {
    const ch = b < 0x80 ? String.fromCharCode(b) : decoder.decode(Buffer.from([b]));
    units[b] = b < 0x80 ? b : ch === '\ufffd' || ch.length !== 1 ? UNMAPPED + b : ch.charCodeAt(0);
    if (b >= 0x80) addChar(table, String.fromCharCode(units[b] ?? 0), Buffer.from([b]));
  }
  return units;
}

/**
 * Every lead/trail pair of a double-byte encoding, decoded in one pass (a newline after each):
 * entered in `table`, and returned by (lead << 8 | trail) for the reader.
 */
function addPairs(decoder: TextDecoder, table: Map<number, Buffer>): Map<number, string> {
  const keys: number[] = [];
  const bytes: number[] = [];
  for (let lead = 0x81; lead <= 0xfe; lead++) {
    for (let trail = 0x40; trail <= 0xfe; trail++) {
      keys.push((lead << 8) | trail);
      bytes.push(lead, trail, 0x0a);
    }
  }
  const decoded = decoder.decode(Buffer.from(bytes)).split('\n');
  const forward = new Map<number, string>();
  keys.forEach((key, i) => {
    const ch = decoded[i] ?? '';
    if (!addChar(table, ch, Buffer.from([key >> 8, key & 0xff]))) return;
    forward.set(key, ch);
  });
  return forward;
}

const isOneChar = (s: string): boolean => {
  const cp = s.codePointAt(0);
  return cp !== undefined && cp !== 0xfffd && cp >= 0x80 && String.fromCodePoint(cp) === s;
};

/** Characters of longer sequences (GB18030 four bytes, EUC-JP three) learnt while reading, at most this many per encoding. */
const LEARNT_LIMIT = 65_536;

const inRange = (b: number | undefined, lo: number, hi: number): boolean => b !== undefined && b >= lo && b <= hi;

/** How many bytes the sequence at i takes (1 when none), or 0 when it may continue past the end. */
function sequenceLength(encoding: string, pairs: Map<number, string>, bytes: Buffer, i: number): number {
  if (encoding === 'gb18030' && inRange(bytes[i + 1], 0x30, 0x39)) return longer(bytes, i, 4, 0x81, 0xfe, 0x30, 0x39);
  if (encoding === 'euc-jp' && bytes[i] === 0x8f) return longer(bytes, i, 3, 0xa1, 0xfe, 0xa1, 0xfe);
  if (bytes.length - i < 2) return 0;
  return pairs.has(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)) ? 2 : 1;
}

/** A sequence of `len` bytes whose last two are in [lo2, hi2] and [lo3, hi3]: `len`, 1 when not, 0 when cut by the end. */
function longer(bytes: Buffer, i: number, len: number, lo2: number, hi2: number, lo3: number, hi3: number): number {
  if (bytes.length - i < len) return 0;
  return inRange(bytes[i + len - 2], lo2, hi2) && inRange(bytes[i + len - 1], lo3, hi3) ? len : 1;
}

function doubleByteReader(encoding: string, units: Uint16Array, pairs: Map<number, string>, table: Map<number, Buffer>): (raw: Buffer, final: boolean) => string {
  let carry = Buffer.alloc(0);
  const decoder = new TextDecoder(encoding);
  const char = (bytes: Buffer, i: number, len: number): string => {
    const b = bytes[i] ?? 0;
    if (len === 1) return String.fromCharCode(units[b] ?? UNMAPPED + b);
    if (len === 2) return pairs.get((b << 8) | (bytes[i + 1] ?? 0)) ?? '';
    return learn(decoder, table, bytes.subarray(i, i + len));
  };
  return (raw, final) => {
    const bytes = carry.length === 0 ? raw : Buffer.concat([carry, raw]);
    const out: string[] = [];
    let i = 0;
    while (i < bytes.length) {
      if ((bytes[i] ?? 0) < 0x80) {
        const j = asciiEnd(bytes, i);
        out.push(bytes.toString('latin1', i, j));
        i = j;
        continue;
      }
      const len = sequenceLength(encoding, pairs, bytes, i);
      if (len === 0 && !final) break;
      out.push(char(bytes, i, Math.max(len, 1)));
      i += Math.max(len, 1);
    }
    carry = Buffer.from(bytes.subarray(i));
    return out.join('');
  };
}

function asciiEnd(bytes: Buffer, i: number): number {
  let j = i + 1;
  while (j < bytes.length && (bytes[j] ?? 0) < 0x80) j++;
  return j;
}

/** A longer sequence's character, remembered for encoding back (UNMAPPED + first byte when it decodes to none: then byte by byte). */
function learn(decoder: TextDecoder, table: Map<number, Buffer>, bytes: Buffer): string {
  const ch = decoder.decode(bytes);
  if (!isOneChar(ch)) return [...bytes].map((b) => String.fromCharCode(UNMAPPED + b)).join('');
  if (table.size < LEARNT_LIMIT * 2) addChar(table, ch, Buffer.from(bytes));
  return ch;
}

/** Maps a non-ASCII character to its bytes (the first form kept; lead bytes alone, errors and sequences of several characters skipped). */
function addChar(table: Map<number, Buffer>, decoded: string, bytes: Buffer): boolean {
  if (!isOneChar(decoded)) return false;
  const cp = decoded.codePointAt(0) ?? 0;
  if (!table.has(cp)) table.set(cp, bytes);
  return true;
}

const utf16 = new TextDecoder('utf-16le');

function decodeSingle(units: Uint16Array, raw: Buffer): string {
  const out = new Uint16Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = units[raw[i] ?? 0] ?? 0;
  return utf16.decode(out);
}

/** Text the encoding's decoder produced (and ASCII), encoded back to its bytes. */
function encodeWith(table: Map<number, Buffer>, text: string): Buffer {
  const out: Buffer[] = [];
  let ascii = 0;
  let i = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x80) {
      i += 1;
      continue;
    }
    if (i > ascii) out.push(Buffer.from(text.slice(ascii, i), 'latin1'));
    out.push(table.get(cp) ?? REPLACEMENT);
    i += ch.length;
    ascii = i;
  }
  if (i > ascii) out.push(Buffer.from(text.slice(ascii, i), 'latin1'));
  return out.length === 1 ? (out[0] ?? Buffer.alloc(0)) : Buffer.concat(out);
}
