// Form bodies as the policy judges them (match.http.jsonBody). Frameworks bind the fields of a form
// to the same names as a JSON body's keys: Express's urlencoded parser (qs) and multer, Rails
// params, Laravel input(), ASP.NET Core [FromForm]; Rack reads an unlabelled POST as a form. So a
// body rule reads a form's fields as the body: `filter[status]=x` and `filter.status=x` as
// {"filter":{"status":"x"}} (qs, Rack, PHP nest brackets; ASP.NET Core binds dots), a repeated
// name as the array of its values (qs keeps them all; PHP and Rails the last, ASP.NET the first:
// restrictive rules read any element), and restrictive rules fold case as for JSON
// (core/policy/http.ts bodyMatches). A name read as a value and as an object (`a=1&a[b]=2`) is
// refused: upstreams keep either one.
import { partNames } from './headers.ts';

export type FormReading = { ok: true; fields: Record<string, unknown> } | { ok: false; problem: string };

const FORM = /^application\/x-www-form-urlencoded\b/i;
const MULTIPART = /^multipart\//i;

/** Whether frameworks read a body of this Content-Type (as it reaches the upstream; '' for none) as form fields. */
export function isFormType(type: string): boolean {
  return type.trim() === '' || FORM.test(type) || MULTIPART.test(type);
}

/**
 * The path of a field name as nesting binders read it: up to a NUL (PHP), leading spaces and
 * brackets dropped (PHP, Rack, qs), split at `[`...`]` and `.`; `a[]` and `a[0]` are `a` (an
 * array's element: its values are read as the array of them, as a repeated name's are).
 */
export function fieldPath(name: string): string[] {
  const n = (name.split('\0', 1)[0] ?? '').trimStart().replace(/^[[\]]+/, '');
  const path = n.split(/[[\].]+/).filter((s) => s !== '');
  return path.length > 1 && /^\d+$/.test(path[path.length - 1] ?? '') ? path.slice(0, -1) : path;
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

function build(pairs: Iterable<[string, string]>): FormReading {
  const fields = emptyNode();
  for (const [name, value] of pairs) {
    const path = fieldPath(name);
    if (path.length === 0) continue;
    const clash = addField(fields, path, value);
    if (clash !== undefined) return { ok: false, problem: `the form field ${clash} is sent both as a value and as an object (upstreams keep either one)` };
  }
  return { ok: true, fields };
}

/** The text fields of a multipart body (read as latin1): parts with a filename are files, which binders keep apart from fields. */
function* multipartFields(body: string, boundary: string): Generator<[string, string]> {
  for (const part of body.split(`--${boundary}`).slice(1)) {
    const sep = /\r?\n\r?\n/.exec(part);
    if (sep === null) continue;
    const head = part.slice(0, sep.index);
    const disposition = /^content-disposition[ \t]*:(.*)$/im.exec(head)?.[1] ?? '';
    if (/\bfilename\*?[ \t]*=/i.test(disposition)) continue;
    const value = part.slice(sep.index + sep[0].length).replace(/\r?\n$/, '');
    for (const name of partNames(disposition)) yield [name, value];
  }
}

/** The boundary parameter of a multipart Content-Type; undefined when there is none. */
function boundaryOf(type: string): string | undefined {
  const m = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(type);
  return m === null ? undefined : m[1] ?? m[2];
}

/**
 * The fields of a form body of `type` (isFormType) as an object (see the file's comment), or why
 * it cannot be judged. URL-encoded and unlabelled bodies are read as UTF-8 (the browser default,
 * and what the frameworks named decode by default).
 */
export function readFormBody(data: Buffer, type: string): FormReading {
  if (!MULTIPART.test(type)) return build(new URLSearchParams(data.toString('utf8')));
  const boundary = boundaryOf(type);
  if (boundary === undefined) return { ok: false, problem: 'the multipart body has no boundary parameter in its Content-Type' };
  return build(multipartFields(data.toString('latin1'), boundary));
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
