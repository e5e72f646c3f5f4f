// Response bodies: which are masked (JSON and text), how they are decoded (content-encoding,
// charset), and the streaming pipeline bytes → text → masked text → UTF-8 bytes.
import { createBrotliDecompress, createGunzip, createInflate, createZstdDecompress } from 'node:zlib';
import type { Transform } from 'node:stream';
import { TextDecoder } from 'node:util';
import type { MaskSession, StreamMasker } from '../enforcement.ts';

export type BodyKind = 'json' | 'text' | 'binary';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json$/;
const TEXT_TYPES = /^(?:text\/[\w.+-]+|application\/(?:[\w.+-]+\+)?xml|application\/(?:x-ndjson|ndjson|jsonl|x-www-form-urlencoded|javascript|ecmascript|csv|graphql|yaml|x-yaml|sql)|application\/[\w.+-]+\+(?:xml|yaml))$/;

export interface ContentType { mime: string; charset?: string; raw: string }

export function parseContentType(value: string | undefined): ContentType | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const [mime = '', ...params] = value.split(';').map((p) => p.trim());
  const charsetParam = params.find((p) => p.toLowerCase().startsWith('charset='));
  const charset = charsetParam?.slice('charset='.length).replace(/^"|"$/g, '').toLowerCase();
  return { mime: mime.toLowerCase(), raw: value, ...(charset === undefined || charset === '' ? {} : { charset }) };
}

/** JSON → JSON stream masking; text-like and unlabeled → text masking; everything else binary. */
export function bodyKind(type: ContentType | undefined): BodyKind {
  if (type === undefined) return 'text';
  if (JSON_TYPE.test(type.mime)) return 'json';
  return TEXT_TYPES.test(type.mime) ? 'text' : 'binary';
}

/** The content type as sent after masking: same type, UTF-8. */
export function maskedContentType(type: ContentType | undefined): string | undefined {
  if (type === undefined) return undefined;
  if (type.charset === undefined || type.charset === 'utf-8' || type.charset === 'utf8') return type.raw;
  return `${type.mime}; charset=utf-8`;
}

/** A decompressor for a content-encoding; undefined for identity; a string problem when unsupported. */
export function decoderFor(encoding: string | undefined): Transform | undefined | string {
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
  try {
    return new TextDecoder(charset ?? 'utf-8', { fatal: false });
  } catch {
    return `charset ${charset ?? ''} is not supported`;
  }
}

/** Bytes in, masked UTF-8 out; keeps a bounded masked sample for the record. */
export class MaskingPipeline {
  readonly #decoder: TextDecoder;
  readonly #masker: StreamMasker;
  readonly #sampleLimit: number;
  #sample = '';
  #sampleBytes = 0;
  #truncated = false;
  bytesOut = 0;

  constructor(session: MaskSession, kind: 'json' | 'text', decoder: TextDecoder, sampleLimit: number) {
    this.#decoder = decoder;
    this.#masker = kind === 'json' ? session.jsonStream() : session.textStream();
    this.#sampleLimit = sampleLimit;
  }

  push(chunk: Buffer): Buffer {
    return this.#emit(this.#masker.push(this.#decoder.decode(chunk, { stream: true })));
  }

  end(): Buffer {
    const rest = this.#decoder.decode();
    const text = (rest === '' ? '' : this.#masker.push(rest)) + this.#masker.end();
    return this.#emit(text);
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
