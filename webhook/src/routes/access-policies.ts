// AccessPolicy validation: what the schema and CEL cannot check (RE2 patterns, Secrets, ports).
import type { FastifyInstance } from 'fastify';
import type { AccessPolicy } from '../../../crds/types.ts';
import { checkAccessPolicy, referencedSecrets } from '../access-policy.ts';
import { allow, deny, WrongObject } from '../admission.ts';
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

/**
 * What the webhook reads with its own grants (cluster-wide `get secrets`, namespaces, policies)
 * is told to the requester only as far as the requester could read it (SubjectAccessReview), so a
 * review cannot be used as an oracle on Secrets, labels or other policies' names.
 */
interface RequesterMay { unreadableSecrets: Set<string>; labels: boolean; policies: boolean }

async function requesterMay(req: AdmissionRequest, ctx: WebhookContext, namespace: string, names: readonly string[]): Promise<RequesterMay> {
  const may = (verb: string, resource: string, extra: { group?: string; name?: string } = {}): Promise<boolean> => ctx.lookups.userMay(req.userInfo, { verb, resource, namespace, ...extra });
  const [secrets, labels, policies] = await Promise.all([
    Promise.all([...new Set(names)].map(async (name) => ((await may('get', 'secrets', { name })) ? undefined : name))),
    may('get', 'namespaces', { name: namespace }),
    may('list', 'accesspolicies', { group: 'guarita.io' }),
  ]);
  return { unreadableSecrets: new Set(secrets.filter((n): n is string => n !== undefined)), labels, policies };
}

function objectOf(req: AdmissionRequest): AccessPolicy {
  const o = req.object as { metadata?: unknown; spec?: { target?: unknown; rules?: unknown } } | undefined;
  if (typeof o?.metadata !== 'object' || o.metadata === null || typeof o.spec?.target !== 'object' || o.spec.target === null || !Array.isArray(o.spec.rules)) {
    throw new WrongObject('request.object is not an AccessPolicy (metadata, spec.target and spec.rules are required)');
  }
  return req.object as AccessPolicy;
}

async function validate(req: AdmissionRequest, ctx: WebhookContext): Promise<AdmissionResponse> {
  if ((req.operation !== 'CREATE' && req.operation !== 'UPDATE') || (req.subResource ?? '') !== '') return allow(req.uid);
  const policy = objectOf(req);
  const namespace = req.namespace ?? policy.metadata.namespace ?? '';
  policy.metadata.namespace = namespace;
  const names = referencedSecrets(policy).map((r) => r.name);
  const may = await requesterMay(req, ctx, namespace, names);
  const [existingSecrets, otherPolicies, namespaceLabels] = await Promise.all([
    ctx.lookups.existingSecrets(namespace, names.filter((n) => !may.unreadableSecrets.has(n))),
    others(ctx, namespace),
    may.labels ? ctx.lookups.namespaceLabels(namespace) : Promise.resolve(undefined),
  ]);
  const verdict = checkAccessPolicy(policy, {
    existingSecrets, otherPolicies, adminPort: ctx.injector.sidecar.adminPort, maskingCheck: ctx.maskingCheck,
    missingSecret: ctx.missingSecret, usernameMappings: ctx.usernameMappings, ...(namespaceLabels === undefined ? {} : { namespaceLabels }),
    unreadableSecrets: may.unreadableSecrets, nameOtherPolicies: may.policies,
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
