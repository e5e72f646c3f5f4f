// A bounded prefix of a text's masked form, without masking the whole text: what a record keeps of
// a command far larger than any record should hold (a 16 MiB query costs seconds to mask whole).
import type { MaskSession } from './types.ts';

/** Input handed to the stream masker at a time while looking for the prefix. */
const CHUNK_CHARS = 16 * 1024;

export interface MaskedPrefix {
  /** The longest prefix of maskText(text) the bound allows, cut on a character boundary. */
  text: string;
  /** Whether `text` is less than maskText(text). */
  truncated: boolean;
}

/**
 * At most `maxBytes` UTF-8 bytes of `session.maskText(text)`, masking at most about `maxChars`
 * characters of `text`.
 *
 * The text goes through the session's stream masker, which emits only output no later input can
 * change: it holds back the last characters where an identifier could still be growing (README,
 * "Streams"), so everything emitted is exactly a prefix of maskText(text). An identifier that
 * straddles where masking stops is therefore either masked whole (it started early enough to be
 * complete in what the stream held) or not emitted at all; cutting that output afterwards can only
 * shorten a mask or plain text, never uncover part of an identifier. `maxChars` bounds the work when
 * masking shortens the text a lot (addresses become a few characters): what was emitted by then is
 * kept, shorter than `maxBytes`.
 */
export function maskedPrefix(session: MaskSession, text: string, maxBytes: number, maxChars: number): MaskedPrefix {
  // A UTF-16 unit is at most 3 UTF-8 bytes; masking only maps a text to a text of similar size, so
  // a short text is masked whole as before (the same record as without a bound).
  if (text.length <= maxBytes && (text.length * 3 <= maxBytes || Buffer.byteLength(text) <= maxBytes)) {
    return { text: session.maskText(text), truncated: false };
  }
  const stream = session.textStream();
  const parts: string[] = [];
  let units = 0;
  let at = 0;
  // Stop once the output holds maxBytes UTF-16 units (so at least maxBytes bytes), or the input bound.
  while (at < text.length && units < maxBytes && at < maxChars) {
    const out = stream.push(text.slice(at, at + CHUNK_CHARS));
    at += CHUNK_CHARS;
    units += out.length;
    if (out !== '') parts.push(out);
  }
  const whole = at >= text.length;
  if (whole) parts.push(stream.end());
  const cut = utf8Prefix(parts.join(''), maxBytes);
  return { text: cut.text, truncated: !whole || cut.truncated };
}

/** At most maxBytes UTF-8 bytes of `text`, never cutting a character (nor a surrogate pair). */
export function utf8Prefix(text: string, maxBytes: number): { text: string; truncated: boolean } {
  if (text.length * 3 <= maxBytes) return { text, truncated: false };
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return { text, truncated: false };
  let end = maxBytes;
  // Back to the first byte of the character the bound falls in (continuation bytes are 10xxxxxx).
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return { text: buf.toString('utf8', 0, end), truncated: true };
}
