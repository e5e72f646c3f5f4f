// The webhook probe's reading of a refused dry-run pod (pure: gather.ts calls it with the apiserver's answer).
import type { WebhookProbe } from './facts.ts';

/**
 * What a refused dry-run pod says about the webhook. Mutating webhooks run before validation
 * (PodSecurity, object validation, validating webhooks): a refusal there, or by the webhook
 * itself, means the apiserver reached it; "failed calling webhook" means it did not. Anything
 * else (RBAC, quota) says nothing about the webhook and is reported as it is.
 */
export function admissionVerdict(code: number, message: string): WebhookProbe | undefined {
  if (/failed calling webhook/i.test(message)) return { reached: false, injected: false, message };
  if (/denied the request/i.test(message) || /violates PodSecurity/i.test(message) || code === 422) return { reached: true, injected: false, message };
  return undefined;
}
