// Pod admission: injection (mutating) and the credentials guard (validating).
import type { FastifyInstance } from 'fastify';
import type { AccessPolicy } from '../../../crds/types.ts';
import { allow, deny, podOf } from '../admission.ts';
import { BINDING_TOPOLOGY_LABELS, GROUP, INJECTION_NAMESPACE_LABEL, INJECTION_NAMESPACE_VALUE, PATHS, SKIP_AUDIT_KEY, WEBHOOK_NAMES } from '../constants.ts';
import type { WebhookContext } from '../context.ts';
import { decideInjection, type InjectionDecision } from '../inject.ts';
import type { AdmissionRequest, AdmissionResponse, Pod } from '../kube-types.ts';
import { connectViolation, ephemeralViolations, missingProxyViolations, optInViolations, podViolations, selectionViolations, updateViolations, type GuardConfig } from '../pod-guard.ts';
import { optInRefusal } from '../sidecar-namespaces.ts';
import { admissionRoute } from './admission-route.ts';

/**
 * The pod webhooks are registered with a namespaceSelector on guarita.io/injection=enabled: the
 * apiserver only calls them for opted-in namespaces, so the request itself is the proof of opt-in
 * (no namespace lookup, no cache that could disagree with the apiserver's view).
 */
const OPTED_IN_BY_SELECTOR = { [INJECTION_NAMESPACE_LABEL]: INJECTION_NAMESPACE_VALUE };

function namespaceOf(req: AdmissionRequest, pod: Pod): string {
  return req.namespace ?? pod.metadata.namespace ?? '';
}

/** The cache's policies, or a live read when the cache has none for the namespace (or has not synced). */
async function namespacePolicies(ctx: WebhookContext, namespace: string): Promise<readonly AccessPolicy[]> {
  const cached = ctx.policies.list(namespace);
  if (cached.length > 0 && ctx.policies.synced()) return cached;
  return ctx.policies.fetchNamespace(namespace);
}

/** A policy created an instant before the pod may not be in the cache yet: confirm a miss live before skipping. */
async function confirmMiss(req: AdmissionRequest, pod: Pod, ctx: WebhookContext, first: InjectionDecision): Promise<InjectionDecision> {
  if (first.action !== 'skip' || first.reason !== 'no-matching-policy') return first;
  const namespace = namespaceOf(req, pod);
  try {
    const live = await ctx.policies.fetchNamespace(namespace);
    const again = decideInjection({ pod, namespace: { name: namespace, labels: OPTED_IN_BY_SELECTOR }, policies: live, config: ctx.injector });
    ctx.metrics.policyConfirmations.inc({ outcome: again.action === 'skip' ? 'none' : 'found' });
    return again;
  } catch (err) {
    ctx.metrics.policyConfirmations.inc({ outcome: 'error' });
    ctx.log.warn({ err, namespace }, 'could not confirm a policy-cache miss; deciding from the cache');
    return first;
  }
}

function respond(req: AdmissionRequest, pod: Pod, d: InjectionDecision, ctx: WebhookContext): AdmissionResponse {
  if (d.action === 'skip') {
    ctx.metrics.injections.inc({ result: 'skipped', reason: d.reason });
    // Why a pod runs without the proxy is recorded where operators look (issue 20, item 6; Linkerd's
    // injector does the same): the apiserver's audit event, and one log line. The key has no
    // prefix: the apiserver prefixes it with the webhook's name (inject.pods.guarita.io/
    // injection-skipped) and drops a key that already has one (two slashes are no qualified name).
    ctx.log.info({ uid: req.uid, namespace: req.namespace, name: req.name ?? pod.metadata.name, generateName: pod.metadata.generateName, reason: d.reason, detail: d.message, dryRun: req.dryRun === true }, 'pod not injected');
    return allow(req.uid, { auditAnnotations: { [SKIP_AUDIT_KEY]: d.reason } });
  }
  if (d.action === 'reject') {
    ctx.metrics.injections.inc({ result: 'rejected', reason: 'unsatisfiable' });
    return deny(req.uid, d.message);
  }
  ctx.metrics.injections.inc({ result: d.reinvocation ? 'reinvoked' : 'injected', reason: '' });
  ctx.log.debug({ uid: req.uid, namespace: req.namespace, policies: d.policies, dryRun: req.dryRun === true }, 'pod injected');
  return allow(req.uid, { patch: d.patch, warnings: d.warnings, auditAnnotations: { policies: d.policies.join(',') } });
}

async function mutatePod(req: AdmissionRequest, ctx: WebhookContext): Promise<AdmissionResponse> {
  if (req.operation !== 'CREATE' || (req.subResource ?? '') !== '') return allow(req.uid);
  const pod = podOf(req, 'object');
  const namespace = namespaceOf(req, pod);
  const first = decideInjection({ pod, namespace: { name: namespace, labels: OPTED_IN_BY_SELECTOR }, policies: ctx.policies.list(namespace), config: ctx.injector });
  return respond(req, pod, await confirmMiss(req, pod, ctx, first), ctx);
}

function guardConfig(ctx: WebhookContext): GuardConfig {
  return { sidecar: ctx.injector.sidecar, allowedCsiDrivers: ctx.allowedCsiDrivers };
}

/** The pod subresources this webhook judges on UPDATE (its configuration's rules name the same). */
const JUDGED_SUBRESOURCES = new Set(['', 'ephemeralcontainers', 'resize']);

/**
 * CREATE: the whole pod, and (without the proxy) whether the injector would have governed it. UPDATE of the pod (images, labels...): the proxy must not change, nor
 * which AccessPolicies its labels select, nor (a pod admitted without the proxy) whether the
 * injector would govern it. UPDATE of pods/resize (in-place resize, Kubernetes 1.33+): the proxy's
 * resources are frozen like the rest of it; agent containers stay resizable.
 * UPDATE of pods/ephemeralcontainers (kubectl debug): the added debug containers. An UPDATE without
 * its oldObject cannot be compared, so it is refused (fail closed). Other subresources are not
 * registered; should one arrive, it is refused rather than waved through.
 */
async function podSpecViolations(req: AdmissionRequest, ctx: WebhookContext, sub: string): Promise<string[]> {
  if (req.operation === 'DELETE') return [];
  if (!JUDGED_SUBRESOURCES.has(sub)) return [`subresource pods/${sub} is not judged by this webhook; remove it from the webhook configuration's rules`];
  const pod = podOf(req, 'object');
  const namespace = namespaceOf(req, pod);
  if (req.operation === 'CREATE' && sub === '') {
    const policies = await namespacePolicies(ctx, namespace);
    return [...podViolations(pod, policies, guardConfig(ctx)), ...missingProxyViolations(pod, policies, { namespace, config: ctx.injector })];
  }
  if (req.operation !== 'UPDATE') return [`operation ${req.operation} on pods${sub === '' ? '' : `/${sub}`} is not judged by this webhook`];
  const old = podOf(req, 'oldObject');
  if (sub === 'resize') return updateViolations(pod, old);
  const policies = await namespacePolicies(ctx, namespace);
  if (sub === '') return [...updateViolations(pod, old), ...selectionViolations(pod, old, policies, { namespace, config: ctx.injector })];
  return ephemeralViolations(pod, old, policies, guardConfig(ctx));
}

async function violations(req: AdmissionRequest, ctx: WebhookContext): Promise<string[]> {
  const sub = req.subResource ?? '';
  if (req.operation !== 'CONNECT') return podSpecViolations(req, ctx, sub);
  const v = sub === 'exec' || sub === 'attach' ? connectViolation(sub, req.object) : undefined;
  return v === undefined ? [] : [v];
}

async function validatePod(req: AdmissionRequest, ctx: WebhookContext): Promise<AdmissionResponse> {
  const problems = await violations(req, ctx);
  return problems.length === 0 ? allow(req.uid) : deny(req.uid, `guarita: ${problems.join('; ')}`);
}

/**
 * UPDATE of pods/status: the status strategy resets the spec but keeps the request's labels and
 * annotations, so a status write relabels a pod like an update of the pod does, and is judged by
 * the same label rules (selectionViolations: a pod with the proxy keeps its AccessPolicies; a pod
 * without it may not become one the injector governs). The configuration sends only writes that
 * change labels or annotations (matchConditions); anything else that arrives is judged the same.
 */
async function validatePodStatus(req: AdmissionRequest, ctx: WebhookContext): Promise<AdmissionResponse> {
  if (req.operation !== 'UPDATE' || req.subResource !== 'status') return deny(req.uid, `guarita: ${req.operation} on ${req.resource.resource}/${req.subResource ?? ''} is not judged by this webhook; remove it from the webhook configuration's rules`);
  const pod = podOf(req, 'object');
  const namespace = namespaceOf(req, pod);
  const problems = selectionViolations(pod, podOf(req, 'oldObject'), await namespacePolicies(ctx, namespace), { namespace, config: ctx.injector });
  return problems.length === 0 ? allow(req.uid) : deny(req.uid, `guarita: ${problems.join('; ')} (the labels and annotations were written through pods/status)`);
}

/** A metadata map (labels, annotations) of an object, or an empty one when absent or not a map. */
function metadataMap(o: unknown, field: 'labels' | 'annotations'): Record<string, unknown> {
  const map = (o as { metadata?: Record<string, unknown> } | null | undefined)?.metadata?.[field];
  return typeof map === 'object' && map !== null ? map as Record<string, unknown> : {};
}

function labelsOf(o: unknown): Record<string, unknown> {
  return metadataMap(o, 'labels');
}

const TOPOLOGY_LABELS: ReadonlySet<string> = new Set(BINDING_TOPOLOGY_LABELS);

/**
 * CREATE of pods/binding or of the legacy bindings resource: the apiserver merges the Binding's
 * annotations into the pod, and from Kubernetes 1.35 (PodTopologyLabelsAdmission) writes its labels
 * over the pod's, past the pod rules (guarita.io/inject: "true" over an opt-out; app=billing-agent
 * moving a proxied pod out of its AccessPolicy). Schedulers set neither; the apiserver adds only the
 * node's topology labels. So a Binding carrying a guarita.io/ annotation or any other label is
 * refused outright (judging the merged labels would need the pod); the configuration sends only
 * those (matchConditions).
 */
function validateBinding(req: AdmissionRequest): AdmissionResponse {
  const annotations = Object.keys(metadataMap(req.object, 'annotations')).filter((key) => key.startsWith(`${GROUP}/`));
  const labels = Object.keys(labelsOf(req.object)).filter((key) => !TOPOLOGY_LABELS.has(key));
  const problems = [
    ...(annotations.length === 0 ? [] : [`${annotations.join(', ')} (annotations: the apiserver merges a Binding's annotations into the pod)`]),
    ...(labels.length === 0 ? [] : [`${labels.join(', ')} (labels: from Kubernetes 1.35 the apiserver writes a Binding's labels over the pod's; it adds the node's topology labels itself)`]),
  ];
  if (problems.length === 0) return allow(req.uid);
  return deny(req.uid, `guarita: a Binding may not set ${problems.join('; ')}: that changes the pod past the rules that judge its labels and annotations, and schedulers set neither: remove them from the Binding, and set them when the pod is created`);
}

/**
 * A namespace UPDATE that turns guarita.io/injection=enabled on: refused while the namespace runs
 * pods the pod guard refuses, since the pod webhooks never judged them. The webhook configuration
 * calls this on that transition only; anything else that arrives is allowed (the label is off, or
 * was already on). Listing fails closed.
 */
function optsIn(o: unknown): boolean {
  return labelsOf(o)[INJECTION_NAMESPACE_LABEL] === INJECTION_NAMESPACE_VALUE;
}

/**
 * An UPDATE that turns the label on is judged, whichever subresource wrote it: namespaces/status
 * and namespaces/finalize keep the request's labels like the namespace itself. A missing oldObject
 * counts as "was off" (fail closed).
 */
function turnsOptInOn(req: AdmissionRequest): boolean {
  return req.operation === 'UPDATE' && optsIn(req.object) && !optsIn(req.oldObject);
}

async function validateNamespaceOptIn(req: AdmissionRequest, ctx: WebhookContext): Promise<AdmissionResponse> {
  if (!turnsOptInOn(req)) return allow(req.uid);
  const namespace = req.name ?? '';
  const unlisted = ctx.injector.sidecarNamespaces === undefined ? undefined : optInRefusal(ctx.injector.sidecarNamespaces, namespace);
  if (unlisted !== undefined) return deny(req.uid, `guarita: ${unlisted}`);
  if (ctx.lookups.podsIn === undefined) return deny(req.uid, `guarita: namespace ${namespace} cannot be opted in to injection: this webhook cannot list its pods to judge them; grant it list on pods`);
  let pods: Pod[];
  try {
    pods = await ctx.lookups.podsIn(namespace);
  } catch (err) {
    ctx.log.warn({ err, namespace }, 'could not list pods of a namespace being opted in');
    return deny(req.uid, `guarita: namespace ${namespace} cannot be opted in to injection now: its pods could not be listed to judge them (${err instanceof Error ? err.message : String(err)}); retry`, 500);
  }
  const problems = optInViolations(pods, await ctx.policies.fetchNamespace(namespace), guardConfig(ctx));
  if (problems.length === 0) return allow(req.uid);
  return deny(req.uid, `guarita: namespace ${namespace} cannot be opted in to injection (${INJECTION_NAMESPACE_LABEL}=${INJECTION_NAMESPACE_VALUE}) while it runs pods admitted without the pod guard that it refuses; delete or fix them first: ${problems.join('; ')}`);
}

export function podRoutes(ctx: WebhookContext) {
  return (app: FastifyInstance): Promise<void> => {
    admissionRoute(app, ctx, PATHS.mutatePods, WEBHOOK_NAMES.injectPods, mutatePod);
    admissionRoute(app, ctx, PATHS.validatePods, WEBHOOK_NAMES.validatePods, validatePod);
    admissionRoute(app, ctx, PATHS.validatePodStatus, WEBHOOK_NAMES.validatePodStatus, validatePodStatus);
    admissionRoute(app, ctx, PATHS.validateBindings, WEBHOOK_NAMES.validateBindings, validateBinding);
    admissionRoute(app, ctx, PATHS.validateNamespaceOptIn, WEBHOOK_NAMES.validateNamespaceOptIn, validateNamespaceOptIn);
    return Promise.resolve();
  };
}
