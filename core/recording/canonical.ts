// Canonical JSON is RFC 8785, the JSON Canonicalization Scheme (JCS), so a record hashes the same on
// the sidecar, in the operator and in an auditor's verifier written in any language, whatever order
// fields were set in:
//   - no whitespace; object members sorted by their names as arrays of UTF-16 code units (not by
//     locale, not by UTF-8 bytes: "\r" < "1" < "\u0080" < "ö" < "€" < "😀" < "דּ");
//   - numbers as ECMAScript Number.prototype.toString writes them (JSON.stringify: 1e+30, 4.5,
//     0.002, 1e-27, -0 as 0); NaN and ±Infinity are refused;
//   - strings as ECMAScript JSON.stringify writes them: only '"', '\\' and U+0000..U+001F escaped
//     (\b \t \n \f \r, else \u00xx in lowercase hex); everything else literal, hashed as UTF-8.
// Members whose value is undefined are left out, undefined array elements become null (what
// JSON.stringify does, so a record reads back from its JSON line with the same hash).
//
// Outside I-JSON (RFC 7493), which JCS assumes, one input has no JCS form: a string holding a lone
// UTF-16 surrogate. It is written as JSON.stringify writes it (\udxxx), which is what the function
// always did; records hashed before it was documented as JCS hash identically (checked against the
// earlier implementation in canonical.test.ts), so no record format needed a new version for it.
export function canonicalJson(value: unknown): string {
  if (typeof value === 'string') return quoted(value);
  if (value === null || typeof value !== 'object') return primitive(value);
  if (Array.isArray(value)) return array(value);
  return members(value as Record<string, unknown>, sortedKeys(value), undefined);
}

/**
 * The canonical JSON of an object without some of its top-level members (a record without its
 * `hash` and `sig`): the same string as canonicalJson of a copy without them, without the copy.
 */
export function canonicalJsonWithout(value: Record<string, unknown>, excluded: readonly string[]): string {
  return members(value, sortedKeys(value), excluded);
}

// This runs for every record the sidecar writes, the operator ingests and a verifier checks, so it
// is written for speed (a record in ~half the time of the straightforward map/sort/join form, which
// canonical.test.ts keeps as the reference and compares on random values): plain loops and string
// concatenation, Array.prototype.sort without a comparator (it compares strings by UTF-16 code
// units, RFC 8785's order, natively; skipped when the keys already come sorted, as in a record read
// back from its canonical line), member names quoted once and cached, and strings that need no
// escape quoted without calling JSON.stringify.

/** Own enumerable keys in RFC 8785 §3.2.3 order (UTF-16 code units). */
function sortedKeys(value: object): string[] {
  const keys = Object.keys(value);
  for (let i = 1; i < keys.length; i++) {
    if (!((keys[i - 1] as string) < (keys[i] as string))) return keys.sort();
  }
  return keys;
}

/** `"name":` for member names seen before (records repeat a few dozen names); bounded, as names can come from input. */
const QUOTED_NAMES = new Map<string, string>();
const QUOTED_NAMES_MAX = 4096;

function memberPrefix(name: string): string {
  let prefix = QUOTED_NAMES.get(name);
  if (prefix === undefined) {
    prefix = `${quoted(name)}:`;
    if (QUOTED_NAMES.size < QUOTED_NAMES_MAX) QUOTED_NAMES.set(name, prefix);
  }
  return prefix;
}

function members(value: Record<string, unknown>, names: readonly string[], excluded: readonly string[] | undefined): string {
  let out = '{';
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    const v = value[name];
    if (v === undefined || (excluded !== undefined && excluded.includes(name))) continue;
    out += out.length > 1 ? `,${memberPrefix(name)}${canonicalJson(v)}` : `${memberPrefix(name)}${canonicalJson(v)}`;
  }
  return `${out}}`;
}

function array(value: readonly unknown[]): string {
  let out = '[';
  for (let i = 0; i < value.length; i++) {
    if (i > 0) out += ',';
    const v = value[i];
    out += v === undefined ? 'null' : canonicalJson(v);
  }
  return `${out}]`;
}

/**
 * A string as JSON.stringify writes it: unchanged between quotes unless it holds a character
 * JSON.stringify escapes ('"', '\\', U+0000..U+001F) or a surrogate (a lone one is escaped; pairs
 * are left to JSON.stringify, which keeps them).
 */
function quoted(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return `"${s}"`;
}

function primitive(value: unknown): string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number ${value} has no JSON form (RFC 8785 refuses NaN and Infinity)`);
    // Number.prototype.toString, as JSON.stringify writes a finite number (-0 as 0).
    return `${value}`;
  }
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  throw new TypeError(`canonicalJson: unsupported ${typeof value}`);
}
