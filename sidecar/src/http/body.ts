// Response bodies: which are masked (JSON and text), how they are decoded (content-encoding,
// charset), and the streaming pipeline bytes → text → masked text → UTF-8 bytes.
import { createBrotliDecompress, createGunzip, createInflate, createZstdDecompress } from 'node:zlib';
import { isUtf8 } from 'node:buffer';
import type { Transform } from 'node:stream';
import { TextDecoder } from 'node:util';
import { utf8JsonKeysMayBeNamed } from '../../../core/masking/index.ts';
import type { MaskSession, StreamMasker } from '../enforcement.ts';
import { otherReadings, type OtherReadings } from './other-readings.ts';

export type BodyKind = 'json' | 'text' | 'binary';

// JSON by any of its labels: application/json, +json suffixes, and the older text/json, text/x-json, application/x-json.
// NDJSON and JSON Lines (application/x-ndjson, jsonl, x-jsonlines) are masked as text: the text masker reads each line
// that opens a JSON document as JSON (core/masking/json-lines.ts), with a fresh reading per line, so one broken line
// does not turn the rest of the stream into plain text as it would in one JSON stream. So are server-sent events
// (`data: {...}`), JSON in text/html (PHP's echo json_encode) and JSON in bodies sniffed as text (sniffText).
const JSON_TYPE = /^(?:application\/(?:[\w.+-]+\+)?json|application\/x-json|text\/(?:x-)?json)$/;
const TEXT_TYPES = /^(?:text\/[\w.+-]+|application\/(?:[\w.+-]+\+)?xml|application\/(?:x-ndjson|ndjson|jsonl|x-jsonlines|jsonlines|x-www-form-urlencoded|javascript|ecmascript|csv|graphql|yaml|x-yaml|sql)|application\/[\w.+-]+\+(?:xml|yaml))$/;

export interface ContentType { mime: string; charset?: string; raw: string }

/** Content types parsed, by the header's value: an upstream answers with a handful of them. */
const parsedTypes = new Map<string, Readonly<ContentType>>();
const PARSED_TYPES_KEPT = 256;

/** The header's value parsed (the same frozen object for the same value: parsing and classifying it was per answer). */
export function parseContentType(value: string | undefined): ContentType | undefined {
  if (value === undefined) return undefined;
  const known = parsedTypes.get(value);
  if (known !== undefined) return known;
  if (value.trim() === '') return undefined;
  const [mime = '', ...params] = value.split(';').map((p) => p.trim());
  const charsetParam = params.find((p) => p.toLowerCase().startsWith('charset='));
  const charset = charsetParam?.slice('charset='.length).replace(/^"|"$/g, '').toLowerCase();
  const parsed = Object.freeze({ mime: mime.toLowerCase(), raw: value, ...(charset === undefined || charset === '' ? {} : { charset }) });
  // Bounded: an upstream that varies its parameters (a boundary per answer) cannot grow it.
  if (parsedTypes.size >= PARSED_TYPES_KEPT) parsedTypes.clear();
  parsedTypes.set(value, parsed);
  return parsed;
}

const kinds = new WeakMap<ContentType, BodyKind>();

/** JSON → JSON stream masking; text-like and unlabeled → text masking; everything else binary. */
export function bodyKind(type: ContentType | undefined): BodyKind {
  if (type === undefined) return 'text';
  let kind = kinds.get(type);
  if (kind === undefined) {
    kind = JSON_TYPE.test(type.mime) ? 'json' : TEXT_TYPES.test(type.mime) ? 'text' : 'binary';
    kinds.set(type, kind);
  }
  return kind;
}

/** The content type as sent after masking: same type, UTF-8. */
export function maskedContentType(type: ContentType | undefined): string | undefined {
  if (type === undefined) return undefined;
  if (type.charset === undefined || type.charset === 'utf-8' || type.charset === 'utf8') return type.raw;
  return `${type.mime}; charset=utf-8`;
}

/** A decompressor for a content-encoding; undefined for identity; a string problem when unsupported. */
export function decoderFor(encoding: string | undefined): Transform | undefined | string {
  if (encoding === undefined) return undefined;
  const list = (encoding ?? '').split(',').map((e) => e.trim().toLowerCase()).filter((e) => e !== '' && e !== 'identity');
  if (list.length === 0) return undefined;
  if (list.length > 1) return `stacked content-encodings (${list.join(', ')}) are not decoded`;
  switch (list[0]) {
    case 'gzip': case 'x-gzip': return createGunzip();
    case 'deflate': return createInflate();
    case 'br': return createBrotliDecompress();
    case 'zstd': return createZstdDecompress();
    default: return `content-encoding ${list[0]} cannot be decoded`;
  }
}

export function textDecoderFor(charset: string | undefined): TextDecoder | string {
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset ?? 'utf-8', { fatal: false });
  } catch {
    return `charset ${charset ?? ''} is not supported`;
  }
  // ISO-2022-JP is stateful: an escape sequence turns the ASCII bytes after it into two-byte JIS
  // characters, so an identifier in the bytes decodes to kanji no detector matches, and a client
  // encoding the answer back to ISO-2022-JP reads it again. Refused rather than masked wrong.
  if (decoder.encoding === 'iso-2022-jp') return `charset ${charset ?? ''} (ISO-2022-JP: escape sequences turn ASCII bytes into two-byte characters, hiding identifiers from the masking) is not supported`;
  // x-user-defined maps every byte over 0x7F to a private-use character, which no identifier
  // pattern skips and a reader does not see: a UTF-8 separator's bytes between the digits of a CPF
  // hide it from the masking while the digits stay readable.
  if (decoder.encoding === 'x-user-defined') return `charset ${charset ?? ''} (x-user-defined: bytes over 0x7F become invisible private-use characters that hide identifiers from the masking) is not supported`;
  return decoder;
}

/** A body the sidecar cannot mask reliably: refused (502) before its headers, cut after. */
export class UnmaskableBody extends Error {}

// Control characters no text or JSON body needs (tab, LF, FF and CR are kept). Decoded under the
// wrong charset, text in another encoding shows them: UTF-16 or UTF-32 read as UTF-8 puts a NUL
// beside every ASCII digit (59083016633 becomes 5\0 9\0 ...), which no pattern matches, and a
// client that decodes the bytes as UTF-16 reads the identifier whole. Such a body is refused.
// eslint-disable-next-line no-control-regex -- control characters are what this looks for
const CONTROL = /[\u0000-\u0008\u000b\u000e-\u001f]/;

function checkedText(text: string): string {
  const at = text.search(CONTROL);
  if (at < 0) return text;
  const code = text.charCodeAt(at).toString(16).padStart(4, '0');
  throw new UnmaskableBody(`the body contains the control character U+${code}, which no text body carries: it is probably in another encoding than its label says (UTF-16 or UTF-32 hide identifiers from the masking)`);
}

/** The encoding a byte-order mark at the start of `head` names, if any. */
export function bomEncoding(head: Buffer): string | undefined {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return 'utf-8';
  if (head[0] === 0xff && head[1] === 0xfe) return 'utf-16le';
  if (head[0] === 0xfe && head[1] === 0xff) return 'utf-16be';
  return undefined;
}

/**
 * The text encoding a body labelled binary (application/octet-stream, multipart/*, image/*...) is
 * really in, judged on its first bytes: a byte-order mark, or text without control characters in
 * UTF-8, UTF-16LE or UTF-16BE; undefined when it looks binary. An agent can often choose the
 * representation (`Accept: application/octet-stream`, `?download=1`) and a label must not decide
 * alone whether identifiers are masked.
 */
export function sniffText(head: Buffer, complete: boolean): string | undefined {
  if (head.length === 0) return undefined;
  return bomEncoding(head) ?? ['utf-8', 'utf-16le', 'utf-16be'].find((encoding) => readsAsText(head, encoding, complete));
}

function readsAsText(head: Buffer, encoding: string, complete: boolean): boolean {
  // An odd tail (a character cut by the chunking) is not held against UTF-16.
  const bytes = encoding === 'utf-8' || head.length % 2 === 0 ? head : head.subarray(0, head.length - 1);
  let text: string;
  try {
    text = new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(bytes, { stream: !complete });
  } catch {
    return false;
  }
  if (text.length === 0 || CONTROL.test(text)) return false;
  // Random bytes can decode as UTF-16 (CJK): text in UTF-16 is mostly ASCII where identifiers are.
  return encoding === 'utf-8' || (text.match(/[\x20-\x7e]/g)?.length ?? 0) * 2 >= text.length;
}

/** Whether a byte is one of the control characters `CONTROL` matches (all ASCII, so the byte test is exact in UTF-8). */
function isControlByte(b: number): boolean {
  return b <= 0x08 || b === 0x0b || (b >= 0x0e && b <= 0x1f);
}

/**
 * Whether a whole UTF-8 body is exactly what MaskingPipeline would send for it, so it may be
 * forwarded as the bytes it arrived in (no decode, no masking, no re-encode). It must be strict
 * UTF-8 without a byte-order mark (the pipeline drops a BOM and turns invalid sequences into
 * U+FFFD), hold no control character the pipeline refuses, and nothing masking could change: the
 * masker's byte pre-scan says no candidate of its detectors can be there (custom patterns always
 * may), and for JSON no key has a name rule (jsonKeysMayBeNamed). body.test.ts checks it against
 * the pipeline on corpora of bodies with and without identifiers.
 */
export function passesUnchanged(body: Buffer, kind: 'json' | 'text', session: MaskSession): boolean {
  // The pre-scan first: a body with identifiers (the common case under masking) stops at its first digit.
  if (session.textMayChange(body)) return false;
  if (bomEncoding(body) !== undefined) return false;
  for (const b of body) if (isControlByte(b)) return false;
  if (!isUtf8(body)) return false;
  return kind === 'text' || !jsonKeysMayBeNamed(body, session);
}

/** An empty value: asked about a key alone, only its name rule can make it change. */
const NO_VALUE = new Uint8Array(0);

/**
 * Whether a key of this JSON text may carry a name rule, which masks its value whatever the value
 * is (`{"email":"ana at exemplo"}`, `{"telefone":"não informado"}`: no digit, no '@', masked all
 * the same): the policy's own fields and the built-in names (`cpf`, `email`, `telefone`,
 * `nascimento`... core/masking/names.ts), as the pipeline's JSON masker asks the session for each
 * key. The byte scan is the engine's (utf8JsonKeysMayBeNamed: every string followed by ':' is a
 * key, escaped keys and strings that may hold a JSON document count as named).
 */
export function jsonKeysMayBeNamed(body: Buffer, session: MaskSession): boolean {
  // A name with a rule makes any value "change" (cellMayChange of an empty value: the rule alone).
  return utf8JsonKeysMayBeNamed(body, (key) => session.cellMayChange(key, NO_VALUE));
}

/** A masked body and the record's sample of it. */
export interface MaskedWhole { bytes: Buffer; sample: { sample: string; truncated: boolean } }

/**
 * A whole body in strict UTF-8 without a byte-order mark, masked in one pass: the bytes, sample and
 * counts MaskingPipeline gives for the body in one chunk (its masker fed the same text, then ended),
 * without the pipeline's head bookkeeping, TextDecoder, second encode and concatenation; the small
 * answer of declared length is the common case. Undefined for a body the pipeline must decode (a
 * byte-order mark switches its decoder; invalid bytes become U+FFFD). The sample is cut on a byte
 * past `sampleLimit` as for bytes forwarded unchanged (the enforcer cuts it on a character boundary
 * at the same limit, so the record is the pipeline's). body.test.ts checks it against the pipeline.
 * Throws UnmaskableBody as the pipeline does.
 */
export function maskWholeUtf8(body: Buffer, kind: 'json' | 'text', session: MaskSession, sampleLimit: number): MaskedWhole | undefined {
  if (bomEncoding(body) !== undefined || !isUtf8(body)) return undefined;
  const text = checkedText(body.toString('utf8'));
  const masker = kind === 'json' ? session.jsonStream() : session.textStream();
  const masked = (text === '' ? '' : masker.push(text)) + masker.end();
  const bytes = Buffer.from(masked, 'utf8');
  const truncated = bytes.length > sampleLimit;
  return { bytes, sample: { sample: truncated ? bytes.subarray(0, sampleLimit + 4).toString('utf8') : masked, truncated } };
}

/**
 * The text of the next bytes (undefined: the end). Node's ICU decoders (GBK, GB18030) throw on
 * some invalid sequences cut by a chunk even when not fatal: the body is refused naming that.
 */
function decoded(decoder: TextDecoder, bytes: Buffer | undefined): string {
  try {
    return bytes === undefined ? decoder.decode() : decoder.decode(bytes, { stream: true });
  } catch (err) {
    throw new UnmaskableBody(`its bytes are not valid ${decoder.encoding}, its label (the decoder failed: ${err instanceof Error ? err.message : String(err)})`);
  }
}

/** Bytes in, masked UTF-8 out; keeps a bounded masked sample for the record. */
export class MaskingPipeline {
  #decoder: TextDecoder;
  #head: Buffer | undefined = Buffer.alloc(0);
  #bomEncoding: string | undefined;
  readonly #masker: StreamMasker;
  readonly #session: MaskSession;
  readonly #kind: 'json' | 'text';
  /**
   * The body's other readings, checked alongside (other-readings.ts): UTF-8 text under a UTF-16 or
   * single-byte label, or latin1 under a UTF-8 label, hides identifiers from the masking of the
   * label's reading while a client reading it the other way (or as the original bytes) gets them.
   */
  #other: OtherReadings | undefined;
  readonly #sampleLimit: number;
  #sample = '';
  #sampleBytes = 0;
  #truncated = false;
  bytesOut = 0;

  constructor(session: MaskSession, kind: 'json' | 'text', decoder: TextDecoder, sampleLimit: number) {
    this.#decoder = decoder;
    this.#masker = kind === 'json' ? session.jsonStream() : session.textStream();
    this.#session = session;
    this.#kind = kind;
    this.#sampleLimit = sampleLimit;
  }

  push(chunk: Buffer): Buffer {
    if (this.#head !== undefined) {
      // A byte-order mark outranks the label (WHATWG Encoding, as browsers and most clients decode):
      // the first bytes are held until it can be told apart.
      // The first chunk is most often the whole head (and the whole body): no copy of it then.
      this.#head = this.#head.length === 0 ? chunk : Buffer.concat([this.#head, chunk]);
      if (this.#head.length < 3) return Buffer.alloc(0);
      return this.#decodeHead();
    }
    return this.#emit(this.#masker.push(this.#checkedOther(chunk, checkedText(decoded(this.#decoder, chunk)))));
  }

  end(): Buffer {
    const head = this.#head === undefined ? Buffer.alloc(0) : this.#decodeHead();
    const rest = this.#checkedOther(Buffer.alloc(0), checkedText(decoded(this.#decoder, undefined)));
    this.#refuse(this.#other?.end());
    const text = (rest === '' ? '' : this.#masker.push(rest)) + this.#masker.end();
    const tail = this.#emit(text);
    return head.length === 0 ? tail : tail.length === 0 ? head : Buffer.concat([head, tail]);
  }

  /**
   * Whether what push() returned is final: no other reading of the body is being checked behind
   * it (that check lags by a window and may still refuse the body: review 39).
   */
  get releasesFinal(): boolean {
    return this.#other?.checking !== true;
  }

  /** The encoding a byte-order mark switched the decoding to (the label was wrong); undefined when none did. */
  get bomEncoding(): string | undefined { return this.#bomEncoding; }

  #decodeHead(): Buffer {
    const head = this.#head ?? Buffer.alloc(0);
    this.#head = undefined;
    const bom = bomEncoding(head);
    if (bom !== undefined && bom !== this.#decoder.encoding) {
      this.#decoder = new TextDecoder(bom);
      this.#bomEncoding = bom;
    }
    this.#other = otherReadings(this.#session, this.#decoder.encoding, this.#kind);
    return head.length === 0 ? head : this.#emit(this.#masker.push(this.#checkedOther(head, checkedText(decoded(this.#decoder, head)))));
  }

  /** `text` (decoded from `raw`) once the body's other readings hold no identifier it does not show; throws otherwise. */
  #checkedOther(raw: Buffer, text: string): string {
    if (this.#other !== undefined) this.#refuse(this.#other.push(raw, text));
    return text;
  }

  #refuse(problem: string | undefined): void {
    if (problem !== undefined) throw new UnmaskableBody(problem);
  }

  #emit(text: string): Buffer {
    const buf = Buffer.from(text, 'utf8');
    this.bytesOut += buf.length;
    if (this.#sampleBytes < this.#sampleLimit) {
      this.#sample += text;
      this.#sampleBytes += buf.length;
    } else if (buf.length > 0) {
      this.#truncated = true;
    }
    return buf;
  }

  sample(): { sample: string; truncated: boolean } {
    return { sample: this.#sample, truncated: this.#truncated || this.#sampleBytes > this.#sampleLimit };
  }
}
