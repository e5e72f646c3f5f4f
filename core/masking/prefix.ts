// A bounded prefix of a text's masked form, without masking the whole text: what a record keeps of
// a command far larger than any record should hold (a 16 MiB query costs seconds to mask whole).
import type { MaskSession } from './types.ts';

/**
 * Masked output dropped from the end of a window's masked form when the text goes on past the
 * window: an identifier cut by the window's end is not recognized there and would be copied as is.
 * The longest candidate is an e-mail address of 254 characters written as HTML references (up to 10
 * characters each: 2,540), and a mask is at most about twice what it replaces.
 */
const WINDOW_TAIL = 8192;

export interface MaskedPrefix {
  /** The longest prefix of maskText(text) the bound allows, cut on a character boundary. */
  text: string;
  /** Whether `text` is less than maskText(text). */
  truncated: boolean;
}

/**
 * At most `maxBytes` UTF-8 bytes of `session.maskText(text)`, masking at most `maxChars`
 * characters of `text`.
 *
 * A text within `maxChars` is masked whole (maskText, one pass with no boundary inside it) and the
 * result cut: cutting can only shorten a mask or plain text, never uncover part of an identifier.
 * (Feeding the text to the stream masker in chunks, as a first version did, missed escaped
 * candidates longer than the stream's 264-character holdback across a chunk boundary: a
 * \u-escaped e-mail address was recorded as is; README "Streams".) A longer text is masked up to
 * `maxChars` and the last WINDOW_TAIL characters of that are dropped, where an identifier cut by the
 * window may have been left unmasked: what remains is a prefix of maskText(text).
 */
export function maskedPrefix(session: MaskSession, text: string, maxBytes: number, maxChars: number): MaskedPrefix {
  if (text.length <= maxChars) return utf8Prefix(session.maskText(text), maxBytes);
  const masked = session.maskText(text.slice(0, maxChars));
  let keep = Math.max(0, masked.length - WINDOW_TAIL);
  // Never end on the first half of a surrogate pair.
  if (keep > 0 && /[\ud800-\udbff]/.test(masked.charAt(keep - 1))) keep--;
  return { text: utf8Prefix(masked.slice(0, keep), maxBytes).text, truncated: true };
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
