// The AccessPolicy validator alone: what the sidecar loads (it validates no other kind), without
// ajv's compiler: the function is generated ahead of time from the CRD schema (crds/generate.ts).
import { validate } from './generated/access-policy.validator.ts';
import type { AccessPolicy } from './types.ts';
import { check, parsed, type Checked, type GeneratedValidator } from './validation.ts';

const generated = validate as unknown as GeneratedValidator;

/** Validates (and fills defaults into a copy of) an AccessPolicy. */
export function validateAccessPolicy(value: unknown): Checked<AccessPolicy> {
  return check<AccessPolicy>(generated, 'AccessPolicy', value);
}

/** Like validateAccessPolicy, but throws a ValidationError naming every bad field. */
export function parseAccessPolicy(value: unknown, source = 'AccessPolicy'): AccessPolicy {
  return parsed(validateAccessPolicy(value), source);
}
