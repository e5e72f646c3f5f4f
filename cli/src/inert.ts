// Text from outside the CLI (records: the agent's own commands; CRDs anyone with write access
// filled in; an operator's or apiserver's answers and errors) shown so that it cannot act on the
// auditor's terminal or hide or reorder what it shows: control characters (C0 but newline, DEL,
// C1 U+0080-U+009F: ESC and CSI sequences erase lines, draw fake verdicts, set the window title,
// write the clipboard; CR and BS overprint), bidirectional overrides, isolates and marks,
// zero-width and other invisible characters (they split or hide words), and line separators
// become \u escapes. Every text the CLI prints for people goes through one function of this module:
// - inertText: a block whose own newlines stay (structured output, inside the others);
// - inertLine: one field on one line: a newline is shown as ⏎, so it cannot start a fake line;
// - inertLines: a block as its lines, each inert (commands and samples, indented by the caller);
// - inertPreview: the first line of a block, cut, with a visible mark when more follows (table cells);
// - safeTerminalText: a recorded terminal stream (SSH, exec), played as a terminal shows it.
// Structured output keeps its value: JSON and YAML get the same characters as escapes their
// parsers read back as the original.
import { stringify } from 'yaml';

// Unicode tag characters (U+E0000-U+E007F) are invisible and spell ASCII a model reads ("ASCII
// smuggling"); the rest are the controls, format and separator characters described above.
// eslint-disable-next-line no-control-regex -- control characters are what is matched
const ACTS_ON_TERMINAL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\u{e0000}-\u{e007f}]/gu;

/** \uXXXX (astral characters as their UTF-16 pair, as JSON writes them). */
const escape = (c: string): string => [...Array(c.length).keys()].map((i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');

/**
 * The marks the CLI adds to inert text, escaped where the text itself holds them so that a mark is
 * always the CLI's: ⏎ (a newline) everywhere; … (more follows) in the lines of a block, which stand
 * beside the CLI's own "… (truncated)" lines. Within one line … stays: the CLI's messages use it.
 */
const NEWLINE_MARK = '⏎';
const MORE_MARK = '…';
const MARKS = /[⏎…]/g;

/** One string as a terminal may show it (its newlines stay). */
export function inertText(text: string): string {
  return text.replace(ACTS_ON_TERMINAL, escape);
}

/** One field on one line: inert, its own ⏎ escaped, each newline shown as ⏎. */
export function inertLine(text: string): string {
  return inertText(text).replace(/⏎/g, escape).replace(/\n/g, NEWLINE_MARK);
}

/** A block's lines, each inert (marks escaped): the caller lays them out, nothing is hidden. */
export function inertLines(text: string): string[] {
  return text.split('\n').map((l) => inertText(l).replace(MARKS, escape));
}

/**
 * The first line of a block, cut to `width` characters, as a table cell: when the line was cut it
 * ends in "…", and when lines follow it says how many ("⏎… (+2 lines)"), so a harmless first line
 * cannot stand for a statement that goes on.
 */
export function inertPreview(text: string, width = 80): string {
  const lines = inertLines(text.replace(/\n+$/, ''));
  const first = lines[0] ?? '';
  const cut = first.length > width ? `${first.slice(0, width)}${MORE_MARK}` : first;
  const more = lines.length - 1;
  return more > 0 ? `${cut} ${NEWLINE_MARK}${MORE_MARK} (+${more} line${more === 1 ? '' : 's'})` : cut;
}

/**
 * Every string in a value (keys too) through `text` (default inertText): for text output only, it
 * changes the value.
 */
export function inert<T>(value: T, text: (s: string) => string = inertText): T {
  if (typeof value === 'string') return text(value) as T;
  if (Array.isArray(value)) return value.map((x: unknown) => inert(x, text)) as T;
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, x]) => [text(k), inert(x, text)])) as T;
  return value;
}

/** An error's message (often an apiserver's or operator's text) as one may print it. */
export function inertError(err: unknown): string {
  return inertText(err instanceof Error ? err.message : String(err));
}

/**
 * JSON text of `value` with those characters escaped. They can only stand inside strings (JSON's
 * own syntax is ASCII, its newlines are not matched), where \uXXXX reads back as the same character.
 */
export function inertJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(ACTS_ON_TERMINAL, escape);
}

/**
 * YAML text of `value`, the same value to a parser. When a string holds such a character, every
 * scalar is written double-quoted (keys too, no block scalars), the one YAML style in which
 * \uXXXX is an escape, and the characters are escaped there.
 */
export function inertYaml(value: unknown): string {
  const plain = stringify(value);
  ACTS_ON_TERMINAL.lastIndex = 0;
  if (!ACTS_ON_TERMINAL.test(plain)) return plain;
  return stringify(value, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'QUOTE_DOUBLE', blockQuote: false }).replace(ACTS_ON_TERMINAL, escape);
}

// ---- terminal streams ------------------------------------------------------------------------------

// In core (core/recording/terminal-text.ts): the asciicast conversion applies it too, for any caller.
export { safeTerminalText } from '../../core/recording/terminal-text.ts';
