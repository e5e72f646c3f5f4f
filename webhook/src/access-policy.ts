// AccessPolicy admission: what the CRD schema and its CEL rules cannot say, as a pure function of
// the policy and what the handler looked up. Messages start with the field they are about.
import type { AccessPolicy } from '../../crds/types.ts';
import type { SpecProblem } from '../../core/masking/types.ts';
import { approvalMappingWarnings, type OidcUsernameMapping } from '../../core/approvals/requester.ts';
import { INJECTION_NAMESPACE_LABEL, INJECTION_NAMESPACE_VALUE } from './constants.ts';
import { selectorsMayOverlap } from './selector.ts';

export interface SecretReference { field: string; name: string }

export type MaskingCheck = (masking: NonNullable<AccessPolicy['spec']['masking']>, fieldPrefix: string) => SpecProblem[];

export interface AccessPolicyContext {
  /** Which of the referenced Secrets exist in the policy's namespace. */
  existingSecrets: ReadonlySet<string>;
  /** The other AccessPolicies of the namespace (this one excluded or not: matched by name). */
  otherPolicies: readonly AccessPolicy[];
  /** The sidecar's admin port, which no target may take. */
  adminPort: number;
  maskingCheck: MaskingCheck;
  /** A missing Secret rejects the policy, or only warns (GitOps tools that create Secrets later). */
  missingSecret: 'reject' | 'warn';
  /** The apiserver's OIDC username mappings: a policy whose approvals could never be decided is warned about. */
  usernameMappings?: readonly OidcUsernameMapping[];
  /** Labels of the policy's namespace, when known (for the "no pod will be injected" warning). */
  namespaceLabels?: Record<string, string>;
  /**
   * Referenced Secrets the requester may not get: their existence is neither checked nor told
   * (one warning, the same whether they exist or not), or the webhook would be an oracle.
   */
  unreadableSecrets?: ReadonlySet<string>;
  /** false when the requester may not list AccessPolicies here: collisions are reported without other policies' names. */
  nameOtherPolicies?: boolean;
}

export interface PolicyVerdict { errors: string[]; warnings: string[] }

/** Every Secret the policy names, with the field naming it. */
export function referencedSecrets(policy: AccessPolicy): SecretReference[] {
  const { target, masking } = policy.spec;
  const refs: SecretReference[] = [];
  if (target.credentialsSecretRef !== undefined) refs.push({ field: 'spec.target.credentialsSecretRef.name', name: target.credentialsSecretRef.name });
  if (target.tls?.caSecretRef !== undefined) refs.push({ field: 'spec.target.tls.caSecretRef.name', name: target.tls.caSecretRef.name });
  if (masking?.hashKeySecretRef !== undefined) refs.push({ field: 'spec.masking.hashKeySecretRef.name', name: masking.hashKeySecretRef.name });
  return refs;
}

function secretProblems(policy: AccessPolicy, ctx: AccessPolicyContext): string[] {
  const ns = policy.metadata.namespace ?? '';
  return referencedSecrets(policy)
    .filter((r) => ctx.unreadableSecrets?.has(r.name) !== true && !ctx.existingSecrets.has(r.name))
    .map((r) => `${r.field}: Secret ${r.name} does not exist in namespace ${ns}; create it first (the sidecar cannot start without it)`);
}

/** The same text whether the Secret exists or not. */
function uncheckedSecrets(policy: AccessPolicy, ctx: AccessPolicyContext): string[] {
  const ns = policy.metadata.namespace ?? '';
  return referencedSecrets(policy).filter((r) => ctx.unreadableSecrets?.has(r.name) === true)
    .map((r) => `${r.field}: Secret ${r.name} was not checked: you may not get Secrets in namespace ${ns}; make sure it exists before pods start (the sidecar cannot start without it)`);
}

function collisionProblems(policy: AccessPolicy, ctx: AccessPolicyContext): string[] {
  const self = policy.spec;
  const errors: string[] = [];
  const named = ctx.nameOtherPolicies !== false;
  const who = (other: AccessPolicy): string => (named ? `AccessPolicy ${other.metadata.name} (target ${other.spec.target.name})` : 'another AccessPolicy of this namespace');
  if (self.target.listenPort === ctx.adminPort) errors.push(`spec.target.listenPort: ${ctx.adminPort} is the Guarita sidecar's admin port; pick another port`);
  for (const other of ctx.otherPolicies) {
    if (other.metadata.name === policy.metadata.name) continue;
    if (!selectorsMayOverlap(self.podSelector, other.spec.podSelector)) continue;
    if (other.spec.target.listenPort === self.target.listenPort) {
      errors.push(`spec.target.listenPort: port ${self.target.listenPort} is already used by ${who(other)}, whose podSelector can select the same pods; pick another port`);
    }
    if (other.spec.target.name === self.target.name) {
      errors.push(`spec.target.name: target ${self.target.name} is already defined by ${named ? `AccessPolicy ${other.metadata.name}` : 'another AccessPolicy of this namespace'}, whose podSelector can select the same pods (agents would get two ${self.target.name} endpoints); rename it`);
    }
  }
  return errors;
}

const DURATION_UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** `1h30m` → 5400; undefined when malformed (the schema pattern already refuses that). */
export function durationSeconds(text: string): number | undefined {
  const parts = [...text.matchAll(/(\d+)([smhd])/g)];
  if (parts.length === 0 || parts.map((m) => m[0]).join('') !== text) return undefined;
  return parts.reduce((sum, m) => sum + Number(m[1]) * (DURATION_UNIT_SECONDS[m[2] ?? 's'] ?? 1), 0);
}

function ruleProblems(policy: AccessPolicy): string[] {
  return policy.spec.rules.flatMap((r, i) => {
    const ttl = r.approval?.ttl;
    if (ttl === undefined || (durationSeconds(ttl) ?? 0) > 0) return [];
    return [`spec.rules[${i}].approval.ttl: ${ttl} leaves no time to review; use a positive duration such as 15m`];
  });
}

function namespaceWarnings(policy: AccessPolicy, ctx: AccessPolicyContext): string[] {
  if (ctx.namespaceLabels === undefined || ctx.namespaceLabels[INJECTION_NAMESPACE_LABEL] === INJECTION_NAMESPACE_VALUE) return [];
  return [`namespace ${policy.metadata.namespace ?? ''} is not labelled ${INJECTION_NAMESPACE_LABEL}=${INJECTION_NAMESPACE_VALUE}: no pod will get the Guarita sidecar until it is`];
}

export function checkAccessPolicy(policy: AccessPolicy, ctx: AccessPolicyContext): PolicyVerdict {
  const masking = policy.spec.masking === undefined ? [] : ctx.maskingCheck(policy.spec.masking, 'spec.masking').map((p) => `${p.field}: ${p.message}`);
  const secrets = secretProblems(policy, ctx);
  const errors = [...masking, ...collisionProblems(policy, ctx), ...ruleProblems(policy)];
  const warnings = [...namespaceWarnings(policy, ctx), ...uncheckedSecrets(policy, ctx), ...(ctx.usernameMappings === undefined ? [] : approvalMappingWarnings(policy, ctx.usernameMappings))];
  if (ctx.missingSecret === 'reject') errors.push(...secrets);
  else warnings.push(...secrets);
  return { errors, warnings };
}
