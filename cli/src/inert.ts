// Text from outside the CLI (records: the agent's own commands; CRDs anyone with write access
// filled in; an operator's answers) shown so that it cannot act on the auditor's terminal or
// reorder what it shows: control characters (C0 but newline, DEL, C1: ESC and CSI sequences
// erase lines, draw fake verdicts, set the window title), bidirectional overrides, isolates and
// marks, and line separators become \u escapes. Structured output keeps its value: JSON and YAML
// get the same characters as escapes their parsers read back as the original.
import { stringify } from 'yaml';

// eslint-disable-next-line no-control-regex -- control characters are what is matched
const ACTS_ON_TERMINAL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const escape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** One string as a terminal may show it. */
export function inertText(text: string): string {
  return text.replace(ACTS_ON_TERMINAL, escape);
}

/** Every string in a value (keys too) as a terminal may show it: for text output only, it changes the value. */
export function inert<T>(value: T): T {
  if (typeof value === 'string') return inertText(value) as T;
  if (Array.isArray(value)) return value.map((x: unknown) => inert(x)) as T;
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, x]) => [inertText(k), inert(x)])) as T;
  return value;
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
