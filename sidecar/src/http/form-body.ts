// Form bodies as the policy judges them (match.http.jsonBody). Frameworks bind the fields of a form
// to the same names as a JSON body's keys: Express's urlencoded parser (qs) and multer, Rails
// params, Laravel input(), ASP.NET Core [FromForm]; Rack reads an unlabelled POST as a form. So a
// body rule reads a form's fields as the body: `filter[status]=x` and `filter.status=x` as
// {"filter":{"status":"x"}} (qs, Rack, PHP nest brackets; ASP.NET Core binds dots), a repeated
// name as the array of its values (qs keeps them all; PHP and Rails the last, ASP.NET the first:
// restrictive rules read any element), and restrictive rules fold case as for JSON
// (core/policy/http.ts bodyMatches). A name read as a value and as an object (`a=1&a[b]=2`) is
// refused: upstreams keep either one. Each field is also read under the name PHP registers it as
// (`include.pii`, `include pii` and `include[pii` are include_pii: core/policy/http.ts
// phpFieldPath), as the query's names are (paramName).
import { fieldPath, phpFieldPath } from '../../../core/policy/http.ts';
import { partNames } from './headers.ts';

export { fieldPath };

export type FormReading = { ok: true; fields: Record<string, unknown> } | { ok: false; problem: string };

const FORM = /^application\/x-www-form-urlencoded\b/i;
const MULTIPART = /^multipart\//i;

/** Whether frameworks read a body of this Content-Type (as it reaches the upstream; '' for none) as form fields. */
export function isFormType(type: string): boolean {
  return type.trim() === '' || FORM.test(type) || MULTIPART.test(type);
}

type Node = Record<string, unknown>;

function emptyNode(): Node {
  return Object.create(null) as Node;
}

const isObject = (v: unknown): v is Node => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A leaf's value once `value` is added: a repeated leaf becomes the array of its values. */
function leaf(existing: unknown, value: string): unknown {
  if (existing === undefined) return value;
  return [...(Array.isArray(existing) ? existing as unknown[] : [existing]), value];
}

/** Adds one field at `path`; a name that is both a value and an object is the problem returned (its path). */
function addField(root: Node, path: readonly string[], value: string): string | undefined {
  let node = root;
  for (const [i, key] of path.entries()) {
    const existing = node[key];
    if (i === path.length - 1) {
      if (isObject(existing)) return path.join('.');
      node[key] = leaf(existing, value);
      return undefined;
    }
    if (existing === undefined) node[key] = emptyNode();
    else if (!isObject(existing)) return path.slice(0, i + 1).join('.');
    node = node[key] as Node;
  }
  return undefined;
}

const clashProblem = (field: string, php: boolean): string => `the form field ${field} is sent both as a value and as an object${php ? ' as PHP reads the names' : ''} (upstreams keep either one); send it under one name, as a value or as an object`;

/**
 * Adds `from` (the fields whose names PHP reads otherwise, under PHP's reading) into `into`: a
 * name both give gets the values of both; one that is a value in one and an object in the other is
 * the problem returned.
 */
function mergeInto(into: Node, from: Node, at: readonly string[]): string | undefined {
  for (const [key, value] of Object.entries(from)) {
    const existing = into[key];
    const path = [...at, key];
    if (existing === undefined) into[key] = value;
    else if (isObject(existing) !== isObject(value)) return path.join('.');
    else if (isObject(existing)) {
      const clash = mergeInto(existing, value as Node, path);
      if (clash !== undefined) return clash;
    } else into[key] = [...[existing].flat(), ...[value].flat()];
  }
  return undefined;
}

function build(pairs: Iterable<[string, string]>): FormReading {
  const fields = emptyNode();
  // The fields whose names PHP registers under another path than the nested reading.
  const php = emptyNode();
  for (const [name, value] of pairs) {
    const nested = fieldPath(name);
    const clash = nested.length === 0 ? undefined : addField(fields, nested, value);
    if (clash !== undefined) return { ok: false, problem: clashProblem(clash, false) };
    const phpPath = phpFieldPath(name);
    const phpClash = phpPath.length === 0 || phpPath.join('\0') === nested.join('\0') ? undefined : addField(php, phpPath, value);
    if (phpClash !== undefined) return { ok: false, problem: clashProblem(phpClash, true) };
  }
  const clash = mergeInto(fields, php, []);
  return clash === undefined ? { ok: true, fields } : { ok: false, problem: clashProblem(clash, true) };
}

/**
 * Whether a part is a file, which binders keep apart from fields: its Content-Disposition has a
 * plain `filename` parameter (outside quoted values). PHP (rfc1867.c) and python-multipart read
 * no other: a part with only `filename*` (RFC 2231) is a field to them, and judged as one (busboy
 * and Django take it for a file: judging it as a field only makes restrictive rules match more).
 */
function isFilePart(disposition: string): boolean {
  const unquoted = disposition.replace(/"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?/g, '""');
  return /(?:^|;)[ \t]*filename[ \t]*=/i.test(unquoted);
}

/** The text fields of a multipart body (read as latin1): file parts (isFilePart) are not fields. */
function* multipartFields(body: string, boundary: string): Generator<[string, string]> {
  for (const part of body.split(`--${boundary}`).slice(1)) {
    const sep = /\r?\n\r?\n/.exec(part);
    if (sep === null) continue;
    const head = part.slice(0, sep.index);
    const disposition = /^content-disposition[ \t]*:(.*)$/im.exec(head)?.[1] ?? '';
    if (isFilePart(disposition)) continue;
    const value = part.slice(sep.index + sep[0].length).replace(/\r?\n$/, '');
    for (const name of partNames(disposition)) yield [name, value];
  }
}

/** The parameters of a Content-Type (after its media type), names lower-cased, values unquoted. */
function typeParameters(type: string): [string, string][] {
  const params: [string, string][] = [];
  for (const m of type.matchAll(/;\s*([^=;\s]*)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;]*))?/g)) {
    const raw = (m[2] ?? '').trim();
    params.push([(m[1] ?? '').toLowerCase(), raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw]);
  }
  return params;
}

/**
 * The boundary as PHP's rfc1867.c finds it: the first `boundary` in the Content-Type (a
 * case-sensitive search, then a case-blind one), the text after the next `=`, quoted or up to
 * `,` or `;`. PHP finds it inside `xboundary=`, and skips `BOUNDARY=` for a later `boundary=`.
 */
function phpBoundary(type: string): string | undefined {
  let at = type.indexOf('boundary');
  if (at < 0) at = type.toLowerCase().indexOf('boundary');
  const eq = at < 0 ? -1 : type.indexOf('=', at);
  if (eq < 0) return undefined;
  const rest = type.slice(eq + 1);
  return rest.startsWith('"') ? rest.slice(1, rest.indexOf('"', 1) < 0 ? undefined : rest.indexOf('"', 1)) : rest.split(/[,;]/)[0];
}

/**
 * The boundary of a multipart Content-Type, or why it cannot be judged: none, or one that parsers
 * read differently (a second boundary parameter in any case, a parameter whose name holds
 * `boundary`, or a value PHP reads otherwise): the sidecar would split the body on another
 * boundary than the upstream and judge other fields.
 */
function boundaryOf(type: string): { ok: true; boundary: string } | { ok: false; problem: string } {
  const named = typeParameters(type).filter(([name]) => name.includes('boundary'));
  const [only] = named;
  if (only === undefined || only[1] === '') return { ok: false, problem: 'the multipart body has no boundary parameter in its Content-Type; send one boundary=' };
  if (named.length > 1 || only[0] !== 'boundary') {
    return { ok: false, problem: `the multipart Content-Type names its boundary more than once or in another parameter (${named.map(([n]) => n).join(', ')}), which upstreams read differently; send one boundary= parameter` };
  }
  if (phpBoundary(type) !== only[1]) return { ok: false, problem: 'the multipart Content-Type\'s boundary parameter is read differently by upstreams (PHP reads up to , or ;); send a boundary of letters, digits and - _ \' ( ) + . / : = ? only, quoted if need be' };
  return { ok: true, boundary: only[1] };
}

/**
 * The fields of a form body of `type` (isFormType) as an object (see the file's comment), or why
 * it cannot be judged. URL-encoded and unlabelled bodies are read as UTF-8 (the browser default,
 * and what the frameworks named decode by default).
 */
export function readFormBody(data: Buffer, type: string): FormReading {
  if (!MULTIPART.test(type)) return build(new URLSearchParams(data.toString('utf8')));
  const boundary = boundaryOf(type);
  return boundary.ok ? build(multipartFields(data.toString('latin1'), boundary.boundary)) : boundary;
}

/** Whether a form field holds a non-empty value somewhere (a JSON text read as a form gives fields named by its text, without values). */
function hasValue(v: unknown): boolean {
  if (typeof v === 'string') return v !== '';
  if (Array.isArray(v)) return v.some(hasValue);
  return v !== null && typeof v === 'object' && Object.values(v).some(hasValue);
}

/**
 * The body the policy judges when a body is read both as JSON (a lenient reader takes it for JSON)
 * and as a form (its label or its lack of one): the JSON object with the form's fields added, so a
 * rule sees both readings (`{"a":"&action=export&"}` is harmless JSON, but the form field
 * action=export); a field both give is the problem returned, as is a form field beside JSON that
 * is not an object.
 */
export function mergedReadings(json: unknown, form: Record<string, unknown>): { ok: true; body: unknown } | { ok: false; problem: string } {
  const names = Object.keys(form).filter((k) => hasValue(form[k]));
  if (names.length === 0) return { ok: true, body: json };
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return { ok: false, problem: `it reads as JSON and as a form with the field ${names[0] ?? ''}` };
  const keys = new Set(Object.keys(json).map((k) => k.toLowerCase()));
  const both = names.find((n) => keys.has(n.toLowerCase()));
  if (both !== undefined) return { ok: false, problem: `it reads as JSON and as a form, both with the field ${both}` };
  return { ok: true, body: { ...(json as Record<string, unknown>), ...form } };
}
