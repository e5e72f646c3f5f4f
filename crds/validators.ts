// Runtime validation of Guarita resources with ajv, compiled from the same schema the CRDs are
// generated from. Used wherever a resource is read from outside (files, the API, admission), so a
// malformed policy is refused with the field and the fix, never half-applied.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import * as cel from '@marcbachmann/cel-js';
import { accessPolicyCrd, approvalRequestCrd, API_VERSION } from './definitions.ts';
import { toStrict } from './openapi.ts';
import type { AccessPolicy, ApprovalRequest } from './types.ts';
import type { CelRule } from './schema/common.ts';

export interface FieldError { field: string; message: string }

export class ValidationError extends Error {
  readonly errors: FieldError[];
  constructor(what: string, errors: FieldError[]) {
    super(`${what} is invalid:\n${errors.map((e) => `  - ${e.field}: ${e.message}`).join('\n')}`);
    this.name = 'ValidationError';
    this.errors = errors;
  }
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

function celRuleErrors(rules: CelRule[], self: unknown): string[] {
  const failures: string[] = [];
  for (const r of rules) {
    // Transition rules (oldSelf) only make sense on update; the apiserver enforces them.
    if (r.rule.includes('oldSelf')) continue;
    try {
      if (cel.evaluate(r.rule, { self }) !== true) failures.push(`${r.fieldPath ?? ''}\u0000${r.message}`);
    } catch (err) {
      failures.push(`\u0000cannot evaluate rule "${r.rule}": ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return failures;
}

function duplicateKeyErrors(keys: string[], list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  const seen = new Set<string>();
  const dups: string[] = [];
  list.forEach((item: unknown, i) => {
    const id = JSON.stringify(keys.map((k) => (item as Json | null)?.[k]));
    if (seen.has(id)) dups.push(`[${i}]\u0000Duplicate value: ${keys.map((k) => `${k}=${JSON.stringify((item as Json)[k])}`).join(', ')}`);
    seen.add(id);
  });
  return dups;
}

function keywordErrors(kind: string, instancePath: string, failures: string[]): ErrorObject[] {
  return failures.map((f) => {
    const [suffix = '', message = ''] = f.split('\u0000');
    return { keyword: kind, instancePath, schemaPath: '', params: { suffix }, message };
  });
}

interface DataContext { instancePath: string }

function buildAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: true });
  const addFormats = addFormatsModule as unknown as (a: Ajv) => Ajv;
  addFormats(ajv);
  ajv.addKeyword({ keyword: 'x-kubernetes-list-type' });
  ajv.addKeyword({ keyword: 'x-kubernetes-preserve-unknown-fields' });
  ajv.addKeyword({
    keyword: 'x-kubernetes-list-map-keys',
    errors: true,
    validate: function listKeys(this: unknown, keys: string[], data: unknown, _parent?: unknown, ctx?: DataContext): boolean {
      const errs = keywordErrors('x-kubernetes-list-map-keys', ctx?.instancePath ?? '', duplicateKeyErrors(keys, data));
      (listKeys as ValidateFunction).errors = errs;
      return errs.length === 0;
    },
  });
  ajv.addKeyword({
    keyword: 'x-kubernetes-validations',
    errors: true,
    validate: function celRules(this: unknown, rules: CelRule[], data: unknown, _parent?: unknown, ctx?: DataContext): boolean {
      const errs = keywordErrors('x-kubernetes-validations', ctx?.instancePath ?? '', celRuleErrors(rules, data));
      (celRules as ValidateFunction).errors = errs;
      return errs.length === 0;
    },
  });
  return ajv;
}

function schemaOf(crd: Json): Json {
  const versions = (crd.spec as { versions: { schema: { openAPIV3Schema: Json } }[] }).versions;
  const root = versions[0]?.schema.openAPIV3Schema;
  if (root === undefined) throw new Error('CRD without a schema');
  const strict = toStrict(root);
  // metadata is validated by the apiserver; offline we only require a name.
  (strict.properties as Json).metadata = { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } };
  return strict;
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

// Compiled on first use, per kind: a process validates one or two kinds, and each compiled
// validator costs start-up time and several MB (the sidecar only ever checks AccessPolicies).
let ajv: Ajv | undefined;
const compiled = new Map<Json, ValidateFunction>();
function validatorFor(crd: Json): ValidateFunction {
  let v = compiled.get(crd);
  if (v === undefined) {
    ajv ??= buildAjv();
    v = ajv.compile(schemaOf(crd));
    compiled.set(crd, v);
  }
  return v;
}

function check<T>(validator: ValidateFunction, kind: string, value: unknown): { ok: true; value: T } | { ok: false; errors: FieldError[] } {
  // JSON round-trip rather than structuredClone: objects stay in this realm (CEL checks prototypes).
  const copy = JSON.parse(JSON.stringify(value ?? null)) as Json;
  const errors: FieldError[] = [];
  if (copy?.apiVersion !== API_VERSION) errors.push({ field: 'apiVersion', message: `must be ${API_VERSION}` });
  if (copy?.kind !== kind) errors.push({ field: 'kind', message: `must be ${kind}` });
  if (!validator(copy)) errors.push(...toFieldErrors(validator.errors));
  return errors.length === 0 ? { ok: true, value: copy as T } : { ok: false, errors };
}

/** Validates (and fills defaults into a copy of) an AccessPolicy. */
export function validateAccessPolicy(value: unknown): { ok: true; value: AccessPolicy } | { ok: false; errors: FieldError[] } {
  return check<AccessPolicy>(validatorFor(accessPolicyCrd), 'AccessPolicy', value);
}

export function validateApprovalRequest(value: unknown): { ok: true; value: ApprovalRequest } | { ok: false; errors: FieldError[] } {
  return check<ApprovalRequest>(validatorFor(approvalRequestCrd), 'ApprovalRequest', value);
}

/** Like validateAccessPolicy, but throws a ValidationError naming every bad field. */
export function parseAccessPolicy(value: unknown, source = 'AccessPolicy'): AccessPolicy {
  const result = validateAccessPolicy(value);
  if (!result.ok) throw new ValidationError(source, result.errors);
  return result.value;
}

export function parseApprovalRequest(value: unknown, source = 'ApprovalRequest'): ApprovalRequest {
  const result = validateApprovalRequest(value);
  if (!result.ok) throw new ValidationError(source, result.errors);
  return result.value;
}
