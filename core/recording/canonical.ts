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
  if (value === null || typeof value !== 'object') return primitive(value);
  if (Array.isArray(value)) return array(value);
  return members(value as Record<string, unknown>, Object.keys(value).sort(byCodeUnits));
}

/**
 * The canonical JSON of an object without some of its top-level members (a record without its
 * `hash` and `sig`): the same string as canonicalJson of a copy without them, without the copy.
 */
export function canonicalJsonWithout(value: Record<string, unknown>, excluded: readonly string[]): string {
  return members(value, Object.keys(value).filter((k) => !excluded.includes(k)).sort(byCodeUnits));
}

// Loops and string concatenation rather than map/filter/join: this runs for every record the
// sidecar writes and every record a verifier checks.
function members(value: Record<string, unknown>, names: readonly string[]): string {
  let out = '{';
  for (const name of names) {
    const v = value[name];
    if (v === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(name)}:${canonicalJson(v)}`;
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

/** RFC 8785 §3.2.3: compare names as sequences of UTF-16 code units (what `<` on strings does). */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function primitive(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number ${value} has no JSON form (RFC 8785 refuses NaN and Infinity)`);
  if (typeof value === 'bigint' || typeof value === 'function' || typeof value === 'symbol' || value === undefined) throw new TypeError(`canonicalJson: unsupported ${typeof value}`);
  return JSON.stringify(value);
}
