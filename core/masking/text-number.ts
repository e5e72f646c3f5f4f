// Integers spelled as decimals in text. Writers print integers with a zero fraction or an exponent as often in text as
// in JSON: pandas' to_csv of a float column (`52998224725.0`), Python's repr and logging of a dict with a float,
// Java's Double.toString (`5.2998224725E10`), printf %e (`5.2998224725e+10`), a numeric with a scale
// (`52998224725.00`). A reader sees the identifier in each (round 10 review, finding 2). The candidate rules refuse
// digits inside a decimal (detect.ts), so these tokens are read here, exactly as a JSON number token is
// (json-number.ts): the integer they denote is scanned like bare digits, and a hit replaces the whole token.
// Real decimals (`52998224725.5`) denote no integer and stay, as in JSON.
import { MIN_SCANNED_DIGITS, readJsonNumber } from './json-number.ts';

/**
 * A number token with a zero fraction or an exponent, at the boundaries candidates have (detect.ts B and E): not
 * after a letter/digit or "digit." / "digit-", not before a letter/digit or ".digit" / "-digit". A sign before it
 * stays outside (the mask keeps it, as JSON's does).
 */
const SPELLING = /(?<![0-9A-Za-z]|[0-9][.-])[0-9]+(?:\.0+(?![0-9])|(?:\.[0-9]+)?[eE][+-]?[0-9]+)(?![0-9A-Za-z]|[.-][0-9])/g;
/** Where SPELLING can match at all: a digit before `.0` or an exponent. A text without either costs one search. */
const TRIGGER = /[0-9](?:\.0|[eE][+-]?[0-9])/;
/** Longer tokens are no writer's integer (and must fit the stream lookahead, engine.ts HOLD). */
const MAX_TOKEN = 64;
/** Identifiers have at most 19 digits (cards); longer integers are not scanned. */
const MAX_DIGITS = 19;

/** A token in `s` and the integer it denotes. */
export interface IntegerSpelling {
  start: number;
  end: number;
  digits: string;
}

/** The integer spellings of 8 to 19 digits that start in [from, limit) of `s`. */
export function integerSpellings(s: string, from: number, limit: number): IntegerSpelling[] {
  const found: IntegerSpelling[] = [];
  if (!TRIGGER.test(s)) return found;
  SPELLING.lastIndex = from;
  for (let m = SPELLING.exec(s); m !== null && m.index < limit; m = SPELLING.exec(s)) {
    if (m[0].length > MAX_TOKEN) continue;
    const n = readJsonNumber(m[0]);
    if (n.kind !== 'integer' || n.digits.length < MIN_SCANNED_DIGITS || n.digits.length > MAX_DIGITS) continue;
    found.push({ start: m.index, end: m.index + m[0].length, digits: n.digits });
  }
  return found;
}
