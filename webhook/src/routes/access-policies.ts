// AccessPolicy validation: what the schema and CEL cannot check (RE2 patterns, Secrets, ports).
import type { FastifyInstance } from 'fastify';
import type { AccessPolicy } from '../../../crds/types.ts';
import { checkAccessPolicy, referencedSecrets } from '../access-policy.ts';
import { allow, deny } from '../admission.ts';
import { PATHS, WEBHOOK_NAMES } from '../constants.ts';
import type { WebhookContext } from '../context.ts';
import type { AdmissionRequest, AdmissionResponse } from '../kube-types.ts';
import { admissionRoute } from './admission-route.ts';

/** Not the pod hot path: read the namespace's policies live (the cache if that fails). */
async function others(ctx: WebhookContext, namespace: string): Promise<readonly AccessPolicy[]> {
  try {
    return await ctx.policies.fetchNamespace(namespace);
  } catch (err) {
    ctx.log.warn({ err, namespace }, 'live AccessPolicy list failed; checking port collisions against the cache');
    return ctx.policies.list(namespace);
  }
}

async function validate(req: AdmissionRequest, ctx: WebhookContext): Promise<AdmissionResponse> {
  if ((req.operation !== 'CREATE' && req.operation !== 'UPDATE') || (req.subResource ?? '') !== '' || req.object === undefined) return allow(req.uid);
  const policy = req.object as AccessPolicy;
  const namespace = req.namespace ?? policy.metadata.namespace ?? '';
  policy.metadata.namespace = namespace;
  const [existingSecrets, otherPolicies, namespaceLabels] = await Promise.all([
    ctx.lookups.existingSecrets(namespace, referencedSecrets(policy).map((r) => r.name)),
    others(ctx, namespace),
    ctx.lookups.namespaceLabels(namespace),
  ]);
  const verdict = checkAccessPolicy(policy, {
    existingSecrets, otherPolicies, adminPort: ctx.injector.sidecar.adminPort, maskingCheck: ctx.maskingCheck,
    missingSecret: ctx.missingSecret, ...(namespaceLabels === undefined ? {} : { namespaceLabels }),
  });
  if (verdict.errors.length > 0) return deny(req.uid, `AccessPolicy ${policy.metadata.name} is invalid: ${verdict.errors.join('; ')}`, 422, verdict.warnings);
  return allow(req.uid, { warnings: verdict.warnings });
}

export function accessPolicyRoutes(ctx: WebhookContext) {
  return (app: FastifyInstance): Promise<void> => {
    admissionRoute(app, ctx, PATHS.validateAccessPolicies, WEBHOOK_NAMES.validateAccessPolicies, validate);
    return Promise.resolve();
  };
}
