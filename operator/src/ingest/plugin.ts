// The ingest API (docs/ingest-contract.md): sidecars register their chain and send batches of
// records with the signed checkpoint covering them (format 1 records: signed each). Callers authenticate with a projected service-account token bound to the
// operator's audience (TokenReview), bound to a pod that is a genuine injected proxy in an opted-in
// namespace (auth/evidence-source.ts), and may only touch their own pod's chains. A batch is
// answered 200 only after the store has fsync'd it; gaps, forks and bad records are refused,
// counted (guarita_chain_integrity_failures_total) and reported as a Warning Event. A record may
// name only a policy that governs the sending pod (its guarita.io/policies), and a pod may register
// only a few chains (chain-quota.ts).
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { importPublicKey } from '../../../core/recording/index.ts';
import { boundPodOf, type BoundPod } from '../../../core/kube/evidence-source.ts';
import type { EvidenceSources } from '../auth/evidence-source.ts';
import { bearerToken, serviceAccountOf, type KubeAuth, type ServiceAccountIdentity } from '../auth/kube-auth.ts';
import type { EventRecorder, ObjectRef } from '../events.ts';
import type { Metrics } from '../metrics.ts';
import type { AppendResult, ChainState, SessionRecord, SessionStore } from '../store/types.ts';
import { checkPolicies, TreeUnknownError } from '../../../core/recording/batch-check.ts';
import { markAuthorized } from '../connection-limits.ts';
import { ChainQuota } from './chain-quota.ts';
import { batchSchema, registerSchema } from './schemas.ts';

/** Chains one pod may register by default (--max-chains-per-pod). */
export const MAX_CHAINS_PER_POD = 8;

export interface IngestLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface IngestDeps {
  /** The store while this replica may write it (the leader), else undefined: answer 503. */
  store: () => SessionStore | undefined;
  auth: KubeAuth;
  /** Is the token's bound pod an injected proxy in an opted-in namespace (core/kube/evidence-source.ts)? */
  sources: EvidenceSources;
  audience: string;
  metrics: Metrics;
  events: EventRecorder;
  log: IngestLogger;
  maxBatchRecords: number;
  /** Chains one pod (by UID) may register; MAX_CHAINS_PER_POD when unset. */
  maxChainsPerPod?: number;
  /** Namespaces this operator serves (undefined: all). */
  namespaces?: ReadonlySet<string>;
  /** The object a chain-integrity Event is attached to (the AccessPolicy if it exists, else the Pod). */
  eventTarget: (namespace: string, policy: string | undefined, pod: string) => ObjectRef;
  /** Called after records are durably stored (approval consumption, status hints). */
  onStored?: (records: readonly SessionRecord[]) => void;
  retryAfterSeconds?: number;
}

interface RegisterBody { chainId: string; namespace: string; pod: string; publicJwk: { kty: string; crv: string; x: string } }
interface BatchBody { records: SessionRecord[]; checkpoint?: string }
type ChainParams = { chainId: string };
/** An ingest caller: its service account, the injected proxy's pod its token is bound to, and the policies governing that pod. */
type Sender = ServiceAccountIdentity & { pod: string; bound: BoundPod; policies: readonly string[] };

class HttpError extends Error {
  readonly status: number;
  readonly outcome: string;
  constructor(status: number, outcome: string, message: string) {
    super(message);
    this.status = status;
    this.outcome = outcome;
  }
}

function position(c: ChainState): { chainId: string; keyId: string; seq: number; head: string } {
  return { chainId: c.chainId, keyId: c.keyId, seq: c.seq, head: c.head };
}

export function registerIngest(app: FastifyInstance, deps: IngestDeps): void {
  const unavailable = (reply: FastifyReply): FastifyReply => {
    deps.metrics.ingestBatches.inc({ outcome: 'unavailable' });
    return reply.code(503).header('retry-after', String(deps.retryAfterSeconds ?? 2)).send({ message: 'this operator replica is not the leader (or its store is not open yet): retry later' });
  };

  // `fresh`: chain registration asks the apiserver again; batches reuse a recent verdict.
  const caller = async (req: FastifyRequest, fresh: boolean): Promise<Sender> => {
    const token = bearerToken(req.headers.authorization);
    if (token === undefined) throw new HttpError(401, 'unauthenticated', 'missing bearer token (a projected service-account token with audience ' + deps.audience + ')');
    const result = await deps.auth.authenticate(token, deps.audience);
    if (!result.ok) throw new HttpError(401, 'unauthenticated', result.reason);
    const sa = serviceAccountOf(result.identity);
    if (sa === undefined) throw new HttpError(403, 'forbidden', `${result.identity.username} is not a service account: only sidecars send records`);
    if (deps.namespaces !== undefined && !deps.namespaces.has(sa.namespace)) throw new HttpError(403, 'forbidden', `namespace ${sa.namespace} is not served by this operator`);
    const bound = boundPodOf(sa.namespace, result.identity.extra);
    if (!bound.ok) throw new HttpError(403, 'forbidden', bound.reason);
    const verdict = await deps.sources.check(bound.pod, fresh);
    if (!verdict.ok) {
      deps.log.warn({ sa: `${sa.namespace}/${sa.name}`, pod: bound.pod.name, reason: verdict.reason }, 'refused evidence from a pod that is not an injected proxy');
      throw new HttpError(403, 'forbidden', `service account ${sa.namespace}/${sa.name}: ${verdict.reason}`);
    }
    markAuthorized(req.raw.socket);
    return { ...sa, pod: bound.pod.name, bound: bound.pod, policies: verdict.policies };
  };
  const quota = new ChainQuota(deps.maxChainsPerPod ?? MAX_CHAINS_PER_POD);

  // A chain is its pod's: another pod of the namespace (even an injected one) may not read or extend it.
  const owned = (store: SessionStore, chainId: string, sender: Sender): ChainState => {
    const chain = store.getChain(chainId);
    if (chain === undefined) throw new HttpError(404, 'unknown-chain', `chain ${chainId} is not registered: POST /v1/chains first`);
    if (chain.namespace !== sender.namespace) throw new HttpError(403, 'forbidden', `chain ${chainId} belongs to namespace ${chain.namespace}, not ${sender.namespace}`);
    if (chain.pod !== sender.pod) throw new HttpError(403, 'forbidden', `chain ${chainId} belongs to pod ${chain.pod}, the token is bound to pod ${sender.pod}: each proxy sends its own chain`);
    return chain;
  };

  const fail = (reply: FastifyReply, err: unknown): FastifyReply => {
    if (err instanceof HttpError) {
      deps.metrics.ingestBatches.inc({ outcome: err.outcome });
      return reply.code(err.status).send({ message: err.message });
    }
    if (err instanceof TreeUnknownError) {
      deps.metrics.ingestBatches.inc({ outcome: 'error' });
      deps.log.error({ err: err.message }, 'ingest: cannot check a batch');
      return reply.code(503).header('retry-after', String(deps.retryAfterSeconds ?? 2)).send({ message: err.message });
    }
    deps.metrics.ingestBatches.inc({ outcome: 'error' });
    deps.log.error({ err: err instanceof Error ? err.message : String(err) }, 'ingest failed');
    return reply.code(503).header('retry-after', String(deps.retryAfterSeconds ?? 2)).send({ message: 'the store could not take the batch, or the apiserver did not answer whether the sender is an injected proxy; retry later' });
  };

  // Who sends is settled before the body is read (onRequest runs before Fastify reads and parses
  // it): an unauthenticated client gets its 401 at once, and its connection closed, instead of
  // making the operator buffer, parse and validate up to the body limit first.
  const senders = new WeakMap<FastifyRequest, Sender>();
  const authenticated = (fresh: boolean) => async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    if (deps.store() === undefined) return unavailable(reply.header('connection', 'close'));
    try {
      senders.set(req, await caller(req, fresh));
      return undefined;
    } catch (err) {
      return fail(reply.header('connection', 'close'), err);
    }
  };
  const senderOf = (req: FastifyRequest): Sender => {
    const sender = senders.get(req);
    if (sender === undefined) throw new HttpError(401, 'unauthenticated', 'the request was not authenticated');
    return sender;
  };

  app.post<{ Body: RegisterBody }>('/v1/chains', { schema: { body: registerSchema }, onRequest: authenticated(true) }, async (req, reply) => {
    const store = deps.store();
    if (store === undefined) return unavailable(reply);
    try {
      const sa = senderOf(req);
      const body = req.body;
      checkRegistration(body, sa);
      const slot = store.getChain(body.chainId) === undefined ? quota.reserve(sa.bound.uid, body.chainId) : 'counted';
      if (slot === 'full') {
        throw new HttpError(429, 'too-many-chains', `pod ${sa.namespace}/${sa.pod} registered ${quota.maxPerPod} chains already (--max-chains-per-pod): a proxy registers one per spool; keep sending to a registered chain, or recreate the pod`);
      }
      const registered = await registerCounted(store, body, sa, () => { if (slot === 'reserved') quota.release(sa.bound.uid, body.chainId); });
      const { outcome, chain } = registered;
      quota.add(sa.bound.uid, chain.chainId);
      if (outcome === 'created') deps.log.info({ chainId: chain.chainId, keyId: chain.keyId, sa: `${sa.namespace}/${sa.name}` }, 'chain registered');
      return await reply.code(outcome === 'created' ? 201 : 200).send(position(chain));
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.get<{ Params: ChainParams }>('/v1/chains/:chainId', { onRequest: authenticated(false) }, async (req, reply) => {
    const store = deps.store();
    if (store === undefined) return unavailable(reply);
    try {
      return await reply.send(position(owned(store, req.params.chainId, senderOf(req))));
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.post<{ Params: ChainParams; Body: BatchBody }>('/v1/chains/:chainId/records', { schema: { body: batchSchema(deps.maxBatchRecords) }, onRequest: authenticated(false) }, async (req, reply) => {
    const store = deps.store();
    if (store === undefined) return unavailable(reply);
    try {
      const sender = senderOf(req);
      const chain = owned(store, req.params.chainId, sender);
      // Before the store: a policy no AccessPolicy of the pod names gets no directory, segment or status.
      const result = checkPolicies(req.body.records, sender.policies) ?? await store.append(chain.chainId, req.body.records, req.body.checkpoint);
      return await answer(reply, chain, req.body.records, result);
    } catch (err) {
      return fail(reply, err);
    }
  });

  const answer = (reply: FastifyReply, chain: ChainState, records: SessionRecord[], result: AppendResult): FastifyReply => {
    if (result.ok) {
      deps.metrics.ingestBatches.inc({ outcome: 'ok' });
      deps.metrics.ingestRecords.inc({ result: 'stored' }, result.stored);
      if (result.duplicates > 0) deps.metrics.ingestRecords.inc({ result: 'duplicate' }, result.duplicates);
      if (result.stored > 0) deps.onStored?.(records.filter((r) => r.seq > result.seq - result.stored));
      return reply.send({ seq: result.seq, head: result.head });
    }
    alert(chain, records, result);
    const { ok: _ok, status, ...rest } = result;
    return reply.code(status).send(rest);
  };

  const alert = (chain: ChainState, records: SessionRecord[], result: Extract<AppendResult, { ok: false }>): void => {
    deps.metrics.ingestBatches.inc({ outcome: result.problem === 'gap' || result.problem === 'fork' ? result.problem : 'invalid' });
    deps.metrics.integrityFailures.inc({ problem: result.problem, namespace: chain.namespace });
    const first = records[0];
    deps.log.warn({ chainId: chain.chainId, problem: result.problem, message: result.message }, 'refused a batch that breaks chain integrity');
    deps.events.emit(deps.eventTarget(chain.namespace, first?.policy, chain.pod), 'Warning', 'ChainIntegrity',
      `Refused a batch from chain ${chain.chainId} (pod ${chain.pod}): ${result.message}. Nothing of it was stored.`);
  };
}

/**
 * Registers the chain (its key checked first); `release` gives back the pod's quota slot when the
 * registration fails or conflicts with another key.
 */
async function registerCounted(store: SessionStore, body: RegisterBody, sa: Sender, release: () => void): Promise<{ outcome: 'created' | 'exists'; chain: ChainState }> {
  try {
    const key = importKey(body.publicJwk);
    const { outcome, chain } = await store.registerChain({
      chainId: body.chainId, namespace: body.namespace, pod: body.pod, publicJwk: body.publicJwk, keyId: key,
      registeredBy: `system:serviceaccount:${sa.namespace}:${sa.name}`, registeredAt: new Date().toISOString(),
    });
    if (outcome === 'conflict') throw new HttpError(409, 'conflict', `chain ${body.chainId} is registered with another key (${chain.keyId})`);
    return { outcome, chain };
  } catch (err) {
    release();
    throw err;
  }
}

function checkRegistration(body: RegisterBody, sa: Sender): void {
  if (body.namespace !== sa.namespace) throw new HttpError(403, 'forbidden', `service account ${sa.namespace}/${sa.name} cannot register a chain for namespace ${body.namespace}`);
  if (sa.pod !== body.pod) throw new HttpError(403, 'forbidden', `the token is bound to pod ${sa.pod}, not ${body.pod}`);
  if (!body.chainId.startsWith(`${body.namespace}/${body.pod}/`) || body.chainId.length === `${body.namespace}/${body.pod}/`.length) {
    throw new HttpError(400, 'invalid', `chainId must be <namespace>/<pod>/<random>, i.e. start with ${body.namespace}/${body.pod}/`);
  }
}

function importKey(jwk: RegisterBody['publicJwk']): string {
  try {
    importPublicKey(jwk);
  } catch (err) {
    throw new HttpError(400, 'invalid', `publicJwk: ${err instanceof Error ? err.message : String(err)}`);
  }
  // RFC 7638 thumbprint, as core/recording computes keyId.
  return keyIdOf(jwk);
}

function keyIdOf(jwk: { crv: string; kty: string; x: string }): string {
  return createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x })).digest('base64url');
}
