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
  /** A check is running: it lags the label's masking by a window, so what that masking released is not final yet. */
  readonly checking: boolean;
}

/** The other readings to check for a body decoded as `encoding` (a TextDecoder's name). */
export function otherReadings(session: MaskSession, encoding: string, kind: 'json' | 'text'): OtherReadings {
  if (encoding === 'utf-16le' || encoding === 'utf-16be') {
    return new BothReadings([new RoundTrip(session, utf16Other(encoding, 'latin1'), kind), new RoundTrip(session, utf16Other(encoding, 'utf-8'), kind)]);
  }
  return new RoundTrip(session, encoding === 'utf-8' ? latin1Other : utf8Other(encoding), kind);
}

const countsTotal = (session: MaskSession): number => Object.values(session.counts()).reduce((n, c) => n + c, 0);

/** Both checks of a UTF-16 label: the first problem either finds. */
class BothReadings implements OtherReadings {
  readonly #readings: readonly OtherReadings[];

  constructor(readings: readonly OtherReadings[]) {
    this.#readings = readings;
  }

  get checking(): boolean {
    return this.#readings.some((r) => r.checking);
  }

  push(raw: Buffer, text: string): string | undefined {
    for (const r of this.#readings) {
      const problem = r.push(raw, text);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }

  end(): string | undefined {
    for (const r of this.#readings) {
      const problem = r.end();
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
}

/**
 * The label's reading with its identifiers removed, encoded back to the label's bytes, read the
 * other way (`Other`) and masked. Until the first byte the two readings may disagree on (a byte
 * over 0x7F, or for UTF-8 one it rejects) they are the same text and nothing is masked twice: the
 * last WINDOW bytes are kept, and the check starts from them there (they hold any identifier that
 * reaches that byte, and its keyword).
 */
class RoundTrip implements OtherReadings {
  readonly #session: MaskSession;
  readonly #kind: 'json' | 'text';
  readonly #other: Other;
  /** Set at the start (nothing is made for a body that never needs the check: most UTF-8 answers). */
  #check: Check | undefined;
  /** The bytes before the check started (at least the last WINDOW of them), and how many. */
  #ring: Buffer | undefined;
  #held = 0;

  constructor(session: MaskSession, other: Other, kind: 'json' | 'text') {
    this.#session = session;
    this.#other = other;
    this.#kind = kind;
  }

  push(raw: Buffer, text: string): string | undefined {
    let check = this.#check;
    if (check === undefined) {
      if (!this.#other.differs(raw, text)) {
        this.#keep(raw);
        return undefined;
      }
      check = new Check(this.#session, this.#other, this.#kind);
      this.#check = check;
      raw = this.#held === 0 ? raw : Buffer.concat([(this.#ring ?? raw).subarray(0, this.#held), raw]);
      this.#ring = undefined;
    }
    return check.push(raw);
  }

  end(): string | undefined {
    return this.#check?.end();
  }

  get checking(): boolean {
    return this.#check !== undefined;
  }

  /**
   * Keeps at least the last WINDOW bytes, in a buffer of twice that made at the first chunk and
   * compacted when full (no allocation per chunk: this runs on every UTF-8 answer).
   */
  #keep(raw: Buffer): void {
    const ring = (this.#ring ??= Buffer.allocUnsafe(2 * WINDOW));
    if (raw.length >= WINDOW) {
      ring.set(raw.subarray(raw.length - WINDOW));
      this.#held = WINDOW;
      return;
    }
    if (this.#held + raw.length > ring.length) {
      ring.copyWithin(0, this.#held - WINDOW, this.#held);
      this.#held = WINDOW;
    }
    ring.set(raw, this.#held);
    this.#held += raw.length;
  }
}

/** The round trip itself, from the byte where the readings may differ. */
class Check {
  /** What the label's reading finds is removed by this one (its own counts)... */
  readonly #removed: StreamMasker;
  /** ...and what the other reading of the rest finds is counted by this one. */
  readonly #found: MaskSession;
  readonly #reading: StreamMasker;
  readonly #other: Other;
  readonly #codec: Codec;
  readonly #decode: (raw: Buffer, final: boolean) => string;
  readonly #readOther: (bytes: Buffer, final: boolean) => string;

  constructor(session: MaskSession, other: Other, kind: 'json' | 'text') {
    // Removed as the answer is masked (a JSON value under a name rule whole), so what is left is what the answer shows.
    const removing = session.removingSession();
    this.#removed = kind === 'json' ? removing.jsonStream() : removing.textStream();
    this.#found = session.removingSession();
    this.#reading = this.#found.textStream();
    this.#other = other;
    this.#codec = other.codec();
    this.#decode = this.#codec.reader();
    this.#readOther = other.reader();
  }

  push(raw: Buffer): string | undefined {
    return this.#read(this.#removed.push(this.#decode(raw, false)), false);
  }

  end(): string | undefined {
    const last = this.#decode(Buffer.alloc(0), true);
    const problem = this.#read((last === '' ? '' : this.#removed.push(last)) + this.#removed.end(), true);
    if (problem !== undefined) return problem;
    this.#reading.end();
    return this.#problem();
  }

  #read(removed: string, final: boolean): string | undefined {
    if (removed === '' && !final) return undefined;
    const text = this.#readOther(this.#codec.encode(removed), final);
    if (text !== '') this.#reading.push(text);
    return this.#problem();
  }

  #problem(): string | undefined {
    return countsTotal(this.#found) === 0 ? undefined : this.#other.problem;
  }
}

/** The other way a body's bytes are read, for RoundTrip. */
interface Other {
  /** Whether these bytes (or the label's text of them) may read differently: the check starts there. */
  differs(raw: Buffer, text: string): boolean;
  /** How the label's bytes are read and written exactly (codecFor). */
  codec(): Codec;
  /** A reader of bytes the other way, for one body. */
  reader(): (bytes: Buffer, final: boolean) => string;
  problem: string;
}

/** A label that is not UTF-8 (single- or double-byte): the other reading is UTF-8. */
function utf8Other(encoding: string): Other {
  return {
    differs: (raw) => !isAscii(raw),
    codec: () => codecFor(encoding),
    reader: () => {
      const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
      return (bytes, final) => (final ? decoder.decode(bytes) : decoder.decode(bytes, { stream: true }));
    },
    problem: `the body is labelled charset ${encoding}, but its bytes are also UTF-8 text in which an identifier is readable that the ${encoding} reading does not show as one (printed with no-break spaces, typographic dashes or other scripts' digits, which ${encoding} turns into other characters): a client or person reading it as UTF-8 would get it unmasked; label the answer charset=utf-8`,
  };
}

/**
 * A UTF-16 label (or byte-order mark): the label's text with what its masking finds removed is
 * encoded back to UTF-16 and read as ASCII (latin1) and as UTF-8. Genuine UTF-16 then reads as the
 * masked text with a NUL beside each character, which the engine reads with the NULs dropped and
 * finds nothing in; bytes that are text another way read back as that text: ASCII or UTF-8 under a
 * UTF-16 label, UTF-16 of the other byte order, or shifted by one byte (round 11b: reading the raw
 * bytes instead refused every genuine UTF-16 body, and reading their NULs as a boundary missed the
 * other byte order).
 */
function utf16Other(encoding: 'utf-16le' | 'utf-16be', readAs: 'latin1' | 'utf-8'): Other {
  return {
    differs: () => true,
    codec: () => utf16Codec(encoding),
    reader: () => {
      if (readAs === 'latin1') return (bytes) => bytes.toString('latin1');
      const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
      return (bytes, final) => (final ? decoder.decode(bytes) : decoder.decode(bytes, { stream: true }));
    },
    problem: `the body is decoded as ${encoding} (its label or byte-order mark), but its bytes read as ASCII or UTF-8 carry identifiers the ${encoding} reading does not show (text of another encoding, or UTF-16 of the other byte order): a client that reads it that way would get them unmasked`,
  };
}

/**
 * UTF-16 both ways, exactly: code units as they are, a lone surrogate included (a decoder's U+FFFD
 * would lose the two bytes, the halves of the UTF-8 characters around it: Arabic-Indic digits in
 * UTF-8 read as UTF-16 are mostly surrogates). An odd last byte is dropped (one byte holds no identifier).
 */
function utf16Codec(encoding: 'utf-16le' | 'utf-16be'): Codec {
  const swap = encoding === 'utf-16be';
  return {
    reader: () => {
      let carry: Buffer | undefined;
      return (raw) => {
        const bytes = carry === undefined ? raw : Buffer.concat([carry, raw]);
        const even = bytes.length - (bytes.length % 2);
        carry = even < bytes.length ? Buffer.from(bytes.subarray(even)) : undefined;
        const units = Buffer.from(bytes.subarray(0, even));
        return (swap ? units.swap16() : units).toString('utf16le');
      };
    },
    encode: (text) => {
      const bytes = Buffer.from(text, 'utf16le');
      return swap ? bytes.swap16() : bytes;
    },
  };
}

/**
 * A UTF-8 label on bytes UTF-8 rejects: the other reading is windows-1252, what clients fall back
 * to (latin1 text labelled UTF-8, a common misconfiguration: a CPF with the latin1 no-break space
 * 0xA0 between its groups decodes to U+FFFD between them, which no pattern spans and a person
 * reads through).
 */
const latin1Other: Other = {
  differs: (_raw, text) => text.includes('\ufffd'),
  codec: utf8Codec,
  reader: () => codecFor('windows-1252').reader(),
  problem: 'the body is labelled UTF-8 but is not valid UTF-8, and read as windows-1252 (what clients fall back to) it shows an identifier the UTF-8 reading does not (separated by bytes UTF-8 rejects, such as the latin1 no-break space 0xA0): a client or person reading it that way would get it unmasked; label the answer with its charset',
};

/**
 * Bytes kept before the check starts: more than the longest candidate and its keyword window
 * (core/masking HOLD + LEFT: 344 characters) in UTF-8's widest characters.
 */
const WINDOW = 4096;

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

/** Sentinels of the UTF-8 codec: the bytes UTF-8 rejects, as U+40000 + byte (unassigned, two units, a symbol to every detector). */
const REJECTED = 0x40000;
/** Their lead surrogate (all 256 share it), searched for when encoding back. */
const REJECTED_LEAD = String.fromCodePoint(REJECTED)[0] ?? '';

let utf8: Codec | undefined;

/** UTF-8 read and written exactly: every byte it rejects is REJECTED + byte and written back as itself. */
function utf8Codec(): Codec {
  utf8 ??= { reader: utf8Reader, encode: encodeUtf8 };
  return utf8;
}

function utf8Reader(): (raw: Buffer, final: boolean) => string {
  let carry = Buffer.alloc(0);
  return (raw, final) => {
    const bytes = carry.length === 0 ? raw : Buffer.concat([carry, raw]);
    const out: string[] = [];
    let run = 0;
    let i = 0;
    while (i < bytes.length) {
      const n = utf8SequenceAt(bytes, i);
      if (n > 0) {
        i += n;
        continue;
      }
      if (n === 0 && !final) break;
      out.push(bytes.toString('utf8', run, i), String.fromCodePoint(REJECTED + (bytes[i] ?? 0)));
      i += 1;
      run = i;
    }
    out.push(bytes.toString('utf8', run, i));
    carry = Buffer.from(bytes.subarray(i));
    return out.join('');
  };
}

/** The second byte's range after each lead (WHATWG UTF-8 decoder: no overlong forms, surrogates or code points past U+10FFFF). */
function secondRange(b: number): [number, number] {
  if (b === 0xe0) return [0xa0, 0xbf];
  if (b === 0xed) return [0x80, 0x9f];
  if (b === 0xf0) return [0x90, 0xbf];
  if (b === 0xf4) return [0x80, 0x8f];
  return [0x80, 0xbf];
}

/** The length of the sequence each lead byte starts (0: a byte UTF-8 never starts a character with). */
const LEAD_LENGTH = new Uint8Array(256);
LEAD_LENGTH.fill(1, 0, 0x80);
LEAD_LENGTH.fill(2, 0xc2, 0xe0);
LEAD_LENGTH.fill(3, 0xe0, 0xf0);
LEAD_LENGTH.fill(4, 0xf0, 0xf5);

/** The length of the valid UTF-8 sequence at i, -1 when the byte there is rejected, 0 when the sequence is cut by the end. */
function utf8SequenceAt(bytes: Buffer, i: number): number {
  const b = bytes[i] ?? 0;
  const len = LEAD_LENGTH[b] ?? 0;
  if (len <= 1) return len === 1 ? 1 : -1;
  const [lo, hi] = secondRange(b);
  for (let k = 1; k < len; k++) {
    if (i + k >= bytes.length) return 0;
    const ok = k === 1 ? inRange(bytes[i + k], lo, hi) : inRange(bytes[i + k], 0x80, 0xbf);
    if (!ok) return -1;
  }
  return len;
}

function encodeUtf8(text: string): Buffer {
  if (!text.includes(REJECTED_LEAD)) return Buffer.from(text, 'utf8');
  const out: Buffer[] = [];
  let from = 0;
  for (let i = text.indexOf(REJECTED_LEAD); i !== -1; i = text.indexOf(REJECTED_LEAD, from)) {
    const cp = text.codePointAt(i) ?? 0;
    if (cp < REJECTED || cp > REJECTED + 0xff) {
      out.push(Buffer.from(text.slice(from, i + 1), 'utf8'));
      from = i + 1;
      continue;
    }
    out.push(Buffer.from(text.slice(from, i), 'utf8'), Buffer.from([cp - REJECTED]));
    from = i + 2;
  }
  out.push(Buffer.from(text.slice(from), 'utf8'));
  return Buffer.concat(out);
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
