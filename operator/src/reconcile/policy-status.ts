// AccessPolicy validity, pure: the schema (ajv + CEL, as the apiserver checks it), the masking
// spec (RE2 patterns and the like, which the schema cannot check) and the policy engine's compiler
// (globs, approvals, ...). The result becomes two conditions, both with observedGeneration:
//
//   valid:   Ready=True  (Compiled)   Invalid=False (Valid)
//   invalid: Ready=False (<reason>)   Invalid=True  (<reason>)   reason: SchemaInvalid | MaskingInvalid | CompileFailed
import type { AccessPolicy, AccessPolicyStatus, Condition } from '../../../crds/types.ts';
import { validateAccessPolicy } from '../../../crds/validators.ts';
import { validateMaskingSpec } from '../../../core/masking/index.ts';
import { compilePolicy } from '../../../core/policy/index.ts';
import { kubeTime } from '../../../core/duration.ts';

export type InvalidReason = 'SchemaInvalid' | 'MaskingInvalid' | 'CompileFailed';

export type PolicyEvaluation =
  | { valid: true; ruleCount: number; policy: AccessPolicy }
  | { valid: false; reason: InvalidReason; message: string };

const MAX_MESSAGE = 4000;

function listed(errors: { field: string; message: string }[]): string {
  return errors.map((e) => `${e.field}: ${e.message}`).join('; ').slice(0, MAX_MESSAGE);
}

export function evaluatePolicy(obj: unknown): PolicyEvaluation {
  const checked = validateAccessPolicy(obj);
  if (!checked.ok) return { valid: false, reason: 'SchemaInvalid', message: listed(checked.errors) };
  const policy = checked.value;
  if (policy.spec.masking !== undefined) {
    const problems = validateMaskingSpec(policy.spec.masking);
    if (problems.length > 0) return { valid: false, reason: 'MaskingInvalid', message: listed(problems) };
  }
  try {
    compilePolicy(policy);
  } catch (err) {
    return { valid: false, reason: 'CompileFailed', message: (err instanceof Error ? err.message : String(err)).slice(0, MAX_MESSAGE) };
  }
  return { valid: true, ruleCount: policy.spec.rules.length, policy };
}

type OwnedStatus = Pick<AccessPolicyStatus, 'observedGeneration' | 'conditions' | 'ruleCount'>;

export interface PolicyStatusDecision {
  /** Status fields to merge-patch (undefined: already right). */
  patch?: OwnedStatus;
  /** Set when Ready flips or the reason changes: worth an Event. */
  transition?: { type: 'Normal' | 'Warning'; reason: string; message: string };
}

function condition(type: string, status: 'True' | 'False', reason: string, message: string, generation: number, previous: Condition | undefined, now: number): Condition {
  const same = previous?.status === status;
  return { type, status, observedGeneration: generation, lastTransitionTime: same && previous !== undefined ? previous.lastTransitionTime : kubeTime(now), reason, message };
}

function sameConditions(a: readonly Condition[] | undefined, b: readonly Condition[]): boolean {
  const strip = (c: Condition): string => JSON.stringify([c.type, c.status, c.reason, c.message, c.observedGeneration, c.lastTransitionTime]);
  return a !== undefined && a.length === b.length && a.every((c, i) => b[i] !== undefined && strip(c) === strip(b[i]));
}

function conditionsFor(ev: PolicyEvaluation, generation: number, old: readonly Condition[], now: number): [Condition, Condition] {
  const oldReady = old.find((c) => c.type === 'Ready');
  const oldInvalid = old.find((c) => c.type === 'Invalid');
  if (ev.valid) {
    return [
      condition('Ready', 'True', 'Compiled', `${ev.ruleCount} rule(s) in force`, generation, oldReady, now),
      condition('Invalid', 'False', 'Valid', 'the policy validates and compiles', generation, oldInvalid, now),
    ];
  }
  return [
    condition('Ready', 'False', ev.reason, `not in force: ${ev.message}`.slice(0, MAX_MESSAGE), generation, oldReady, now),
    condition('Invalid', 'True', ev.reason, ev.message, generation, oldInvalid, now),
  ];
}

function transitionOf(ev: PolicyEvaluation, ready: Condition): PolicyStatusDecision['transition'] {
  return ev.valid
    ? { type: 'Normal', reason: 'Ready', message: `Policy compiled: ${ready.message}` }
    : { type: 'Warning', reason: 'Invalid', message: `Policy not in force (${ev.reason}): ${ev.message}` };
}

export function policyStatus(obj: AccessPolicy, ev: PolicyEvaluation, now: number): PolicyStatusDecision {
  const generation = obj.metadata.generation ?? 0;
  const status = obj.status ?? {};
  const old = status.conditions ?? [];
  const conditions = conditionsFor(ev, generation, old, now);
  const desired: OwnedStatus = { observedGeneration: generation, conditions, ruleCount: ev.valid ? ev.ruleCount : 0 };
  const unchanged = status.observedGeneration === generation && status.ruleCount === desired.ruleCount && sameConditions(old, conditions);
  const ready = conditions[0];
  const changedState = !old.some((c) => c.type === 'Ready' && c.status === ready.status && c.reason === ready.reason);
  return { ...(unchanged ? {} : { patch: desired }), ...(changedState ? { transition: transitionOf(ev, ready) } : {}) };
}
