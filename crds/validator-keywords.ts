// The Kubernetes schema keywords ajv has no built-in for, as plain functions the generated
// validators (crds/generated/*.validator.ts) call at run time: list-map keys must be unique
// (x-kubernetes-list-map-keys) and CEL rules must hold (x-kubernetes-validations). Each returns
// ajv error objects, or null when the value passes, so the generated code only concatenates them.
import * as cel from '@marcbachmann/cel-js';
import type { ErrorObject } from 'ajv';
import type { CelRule } from './schema/common.ts';

type Json = Record<string, unknown>;

function keywordError(keyword: string, instancePath: string, suffix: string, message: string): ErrorObject {
  return { keyword, instancePath, schemaPath: `#/${keyword}`, params: { suffix }, message };
}

/** Duplicate entries of a list-map (`[i]` named with the values of its keys), as the apiserver reports them. */
export function listMapKeyErrors(keys: string[], list: unknown, instancePath: string): ErrorObject[] | null {
  if (!Array.isArray(list)) return null;
  const seen = new Set<string>();
  const errors: ErrorObject[] = [];
  list.forEach((item: unknown, i) => {
    const id = JSON.stringify(keys.map((k) => (item as Json | null)?.[k]));
    if (seen.has(id)) errors.push(keywordError('x-kubernetes-list-map-keys', instancePath, `[${i}]`, `Duplicate value: ${keys.map((k) => `${k}=${JSON.stringify((item as Json)[k])}`).join(', ')}`));
    seen.add(id);
  });
  return errors.length === 0 ? null : errors;
}

/** The CEL rules `self` breaks (transition rules, which need oldSelf, are the apiserver's to enforce on update). */
export function celRuleErrors(rules: CelRule[], self: unknown, instancePath: string): ErrorObject[] | null {
  const errors: ErrorObject[] = [];
  for (const r of rules) {
    if (r.rule.includes('oldSelf')) continue;
    try {
      if (cel.evaluate(r.rule, { self }) !== true) errors.push(keywordError('x-kubernetes-validations', instancePath, r.fieldPath ?? '', r.message));
    } catch (err) {
      errors.push(keywordError('x-kubernetes-validations', instancePath, '', `cannot evaluate rule "${r.rule}": ${err instanceof Error ? err.message : String(err)}`));
    }
  }
  return errors.length === 0 ? null : errors;
}
