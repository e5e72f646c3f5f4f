// What every kind's validation shares: field errors named the way kubectl names fields, the error
// a parse throws, and the check around a generated validator (crds/generated/*.validator.ts):
// apiVersion and kind, defaults filled into a copy, every bad field listed.
import type { ErrorObject } from 'ajv';
import { API_VERSION } from './api.ts';

export interface FieldError { field: string; message: string }

export class ValidationError extends Error {
  readonly errors: FieldError[];
  constructor(what: string, errors: FieldError[]) {
    super(`${what} is invalid:\n${errors.map((e) => `  - ${e.field}: ${e.message}`).join('\n')}`);
    this.name = 'ValidationError';
    this.errors = errors;
  }
}

/** An ajv standalone validator: true when valid, else its errors in `errors`. It fills schema defaults into `data`. */
export interface GeneratedValidator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

type Json = Record<string, unknown>;

/** `/spec/rules/1/name` → `spec.rules[1].name`, the way kubectl reports fields. */
export function fieldPath(pointer: string): string {
  return pointer.split('/').slice(1).reduce((acc, part) => {
    const seg = part.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(seg)) return `${acc}[${seg}]`;
    return acc === '' ? seg : `${acc}.${seg}`;
  }, '');
}

function errorField(e: ErrorObject): string {
  const base = fieldPath(e.instancePath);
  const join = (child: string): string => (base === '' ? child : `${base}.${child}`);
  if (e.keyword === 'required') return join((e.params as { missingProperty: string }).missingProperty);
  if (e.keyword === 'additionalProperties') return join((e.params as { additionalProperty: string }).additionalProperty);
  return `${base}${(e.params as { suffix?: string }).suffix ?? ''}`;
}

function errorMessage(e: ErrorObject): string {
  if (e.keyword === 'enum') return `must be one of: ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
  if (e.keyword === 'additionalProperties') return 'unknown field (check spelling against `kubectl explain`)';
  return e.message ?? 'invalid';
}

function toFieldErrors(errors: ErrorObject[] | null | undefined): FieldError[] {
  return (errors ?? []).map((e) => ({ field: errorField(e) || '(root)', message: errorMessage(e) }));
}

export type Checked<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/** Validates a copy of `value` as `kind` (defaults filled into the copy). */
export function check<T>(validate: GeneratedValidator, kind: string, value: unknown): Checked<T> {
  // JSON round-trip rather than structuredClone: objects stay in this realm (CEL checks prototypes).
  const copy = JSON.parse(JSON.stringify(value ?? null)) as Json;
  const errors: FieldError[] = [];
  if (copy?.apiVersion !== API_VERSION) errors.push({ field: 'apiVersion', message: `must be ${API_VERSION}` });
  if (copy?.kind !== kind) errors.push({ field: 'kind', message: `must be ${kind}` });
  if (!validate(copy)) errors.push(...toFieldErrors(validate.errors));
  return errors.length === 0 ? { ok: true, value: copy as T } : { ok: false, errors };
}

/** The value of a check, or a ValidationError naming every bad field. */
export function parsed<T>(result: Checked<T>, source: string): T {
  if (!result.ok) throw new ValidationError(source, result.errors);
  return result.value;
}
