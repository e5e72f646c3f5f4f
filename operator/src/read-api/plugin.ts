// The read API (docs/ingest-contract.md): users call with their own Kubernetes token; TokenReview
// authenticates it and a SubjectAccessReview on the virtual resource sessions.guarita.io in the
// namespace decides, so Kubernetes RBAC says who may list, replay, export and verify recordings:
//
//   verb list  : GET sessions, GET chains, GET export (with get; a verifiable export, format
//                guarita-export/v2: ?policy, ?session, ?since, ?until), GET .../chain/entries (with get)
//   verb get   : GET sessions/{id} (name = session id), GET export, GET policies/{name}/chain[...]
//                (chain/proof?from=&to=: the store log's growth between two sizes)
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken, type Identity, type KubeAuth } from '../auth/kube-auth.ts';
import { durationMs } from '../../../core/duration.ts';
import type { Metrics } from '../metrics.ts';
import type { ExportFilter, SessionRecord, SessionStore } from '../store/types.ts';
import { exportRecordLine } from '../../../core/recording/export-format.ts';
import { verifyPolicyEntries } from '../../../core/recording/store-verify.ts';
import { markAuthorized } from '../connection-limits.ts';

export interface Anchor { head: string; records: number; anchoredAt: string }

export interface ReadDeps {
  store: () => SessionStore | undefined;
  auth: KubeAuth;
  metrics: Metrics;
  /** AccessPolicy status.chain as last seen (the anchored head), if the policy exists. */
  anchored: (namespace: string, policy: string) => Anchor | undefined;
  retryAfterSeconds?: number;
  now?: () => number;
}

const DNS = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Store links one store-log proof spans at most (to - from). Building it holds every link hash
 * between the two in a Merkle tree (about 65 bytes a link: 1,000,000 links ~ 65 MB); the caller
 * chooses from and to, and the operator (memory limit 512 MiB) also ingests every sidecar's
 * evidence. An export older than that verifies offline with --anchor and the head of its time.
 */
export const MAX_PROOF_GROWTH = 1_000_000;

class ReadError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

type NsParams = { ns: string };
type SessionParams = { ns: string; sessionId: string };
type PolicyParams = { ns: string; name: string };
type Query = Record<string, string | undefined>;

/** RFC 3339 time, or a duration meaning "that long ago" (24h, 7d). */
export function parseTime(value: string | undefined, field: string, now: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  const ago = durationMs(value);
  if (ago !== undefined) return now - ago;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new ReadError(400, `${field}: expected an RFC 3339 time (2026-11-01T00:00:00Z) or a duration (24h), got ${JSON.stringify(value)}`);
  return t;
}

/** A store log size (a link seq) given as a query parameter. */
function linkSeq(value: string | undefined, field: string): number {
  const n = value === undefined || !/^[1-9][0-9]{0,15}$/.test(value) ? Number.NaN : Number(value);
  if (!Number.isSafeInteger(n)) throw new ReadError(400, `${field}: expected a store link number (a positive integer, as AccessPolicy status.chain.records), got ${JSON.stringify(value ?? '')}`);
  return n;
}

function ns(value: string): string {
  if (!DNS.test(value) || value.length > 63) throw new ReadError(400, `namespace ${JSON.stringify(value)} is not a valid namespace name`);
  return value;
}

export function registerReadApi(app: FastifyInstance, deps: ReadDeps): void {
  const now = deps.now ?? Date.now;
  let proofBuilding = false;
  let verifying = false;

  const authorize = async (req: FastifyRequest, namespace: string, verbs: string[], name?: string): Promise<Identity> => {
    const token = bearerToken(req.headers.authorization);
    if (token === undefined) throw new ReadError(401, 'missing bearer token: send your Kubernetes token (kubectl config view --raw, or kubectl create token)');
    const result = await deps.auth.authenticate(token);
    if (!result.ok) throw new ReadError(401, result.reason);
    for (const verb of verbs) {
      if (!(await deps.auth.allowed(result.identity, verb, namespace, 'sessions', name))) {
        throw new ReadError(403, `${result.identity.username} cannot ${verb} sessions.guarita.io in namespace ${namespace} (grant it with a Role on apiGroups [guarita.io], resources [sessions], verbs [get, list])`);
      }
    }
    markAuthorized(req.raw.socket);
    return result.identity;
  };

  const handle = async (endpoint: string, reply: FastifyReply, fn: (store: SessionStore) => Promise<unknown>): Promise<FastifyReply> => {
    const store = deps.store();
    if (store === undefined) {
      deps.metrics.readRequests.inc({ endpoint, result: 'unavailable' });
      return reply.code(503).header('retry-after', String(deps.retryAfterSeconds ?? 2)).send({ message: 'this operator replica is not the leader: retry later' });
    }
    try {
      const body = await fn(store);
      deps.metrics.readRequests.inc({ endpoint, result: 'ok' });
      return reply.sent ? reply : await reply.send(body);
    } catch (err) {
      const status = err instanceof ReadError ? err.status : 500;
      deps.metrics.readRequests.inc({ endpoint, result: String(status) });
      if (reply.sent) return reply;
      return reply.code(status).send({ message: err instanceof Error ? err.message : String(err) });
    }
  };

  app.get<{ Params: NsParams; Querystring: Query }>('/v1/namespaces/:ns/sessions', (req, reply) => handle('sessions', reply, async (store) => {
    const namespace = ns(req.params.ns);
    await authorize(req, namespace, ['list']);
    const q = req.query;
    const since = parseTime(q.since, 'since', now());
    const items = store.listSessions(namespace, { ...(q.policy === undefined ? {} : { policy: q.policy }), ...(q.subject === undefined ? {} : { subject: q.subject }), ...(since === undefined ? {} : { since }) });
    return { items };
  }));

  app.get<{ Params: SessionParams }>('/v1/namespaces/:ns/sessions/:sessionId', (req, reply) => handle('session', reply, async (store) => {
    const namespace = ns(req.params.ns);
    await authorize(req, namespace, ['get'], req.params.sessionId);
    const records = await store.sessionRecords(namespace, req.params.sessionId);
    if (records === undefined) throw new ReadError(404, `no session ${req.params.sessionId} in namespace ${namespace}`);
    return { records };
  }));

  app.get<{ Params: NsParams; Querystring: Query }>('/v1/namespaces/:ns/export', (req, reply) => handle('export', reply, async (store) => {
    const namespace = ns(req.params.ns);
    await authorize(req, namespace, ['list', 'get']);
    const t = now();
    const since = parseTime(req.query.since, 'since', t);
    const until = parseTime(req.query.until, 'until', t);
    if (since !== undefined && until !== undefined && since >= until) throw new ReadError(400, `since (${new Date(since).toISOString()}) must be before until (${new Date(until).toISOString()})`);
    const filter: ExportFilter = {
      ...(req.query.policy === undefined ? {} : { policy: req.query.policy }), ...(req.query.session === undefined ? {} : { sessionId: req.query.session }),
      ...(since === undefined ? {} : { since }), ...(until === undefined ? {} : { until }),
    };
    // The anchors AccessPolicy status shows now: the export carries the store link each names.
    await streamJsonl(reply, store.exportLines(namespace, filter, (policy) => deps.anchored(namespace, policy)), `${namespace}-sessions.jsonl`);
  }));

  app.get<{ Params: NsParams }>('/v1/namespaces/:ns/chains', (req, reply) => handle('chains', reply, async (store) => {
    const namespace = ns(req.params.ns);
    await authorize(req, namespace, ['list']);
    return { items: store.listChains(namespace).map((c) => ({ chainId: c.chainId, keyId: c.keyId, publicJwk: c.publicJwk, pod: c.pod, seq: c.seq, head: c.head, registeredAt: c.registeredAt })) };
  }));

  app.get<{ Params: PolicyParams }>('/v1/namespaces/:ns/policies/:name/chain', (req, reply) => handle('policy-chain', reply, async (store) => {
    const namespace = ns(req.params.ns);
    await authorize(req, namespace, ['get']);
    const info = store.policyChain(namespace, req.params.name);
    if (info === undefined) throw new ReadError(404, `nothing is stored for policy ${req.params.name} in namespace ${namespace}`);
    const anchored = deps.anchored(namespace, req.params.name);
    return { ...info, ...(anchored === undefined ? {} : { anchored }) };
  }));

  app.get<{ Params: PolicyParams }>('/v1/namespaces/:ns/policies/:name/chain/entries', (req, reply) => handle('policy-entries', reply, async (store) => {
    const namespace = ns(req.params.ns);
    await authorize(req, namespace, ['list', 'get']);
    if (store.policyChain(namespace, req.params.name) === undefined) throw new ReadError(404, `nothing is stored for policy ${req.params.name} in namespace ${namespace}`);
    await streamJsonl(reply, store.policyEntries(namespace, req.params.name), `${namespace}-${req.params.name}-chain.jsonl`);
  }));

  // The store log's growth between two of its sizes (an export's store head and a newer anchored
  // one): guarita verify --file --policy checks it against the export's store key and roots.
  app.get<{ Params: PolicyParams; Querystring: Query }>('/v1/namespaces/:ns/policies/:name/chain/proof', (req, reply) => handle('policy-proof', reply, async (store) => {
    const namespace = ns(req.params.ns);
    await authorize(req, namespace, ['get']);
    const from = linkSeq(req.query.from, 'from');
    const to = linkSeq(req.query.to, 'to');
    if (from >= to) throw new ReadError(400, `from (${from}) must be smaller than to (${to}): the proof shows the store log grown from one to the other`);
    if (to - from > MAX_PROOF_GROWTH) throw new ReadError(400, `the proof from store link #${from} to #${to} spans more than ${MAX_PROOF_GROWTH} store links, more than one proof is built for: verify the export with --anchor and the head AccessPolicy status showed when it was taken, or export again`);
    // One proof at a time: each holds the hashes it spans in memory.
    if (proofBuilding) {
      reply.header('retry-after', String(deps.retryAfterSeconds ?? 2));
      throw new ReadError(503, 'another store-log proof is being built on this operator: retry shortly');
    }
    proofBuilding = true;
    try {
      const proof = await store.storeProof(namespace, req.params.name, from, to);
      if (typeof proof === 'string') throw new ReadError(404, proof);
      return proof;
    } finally {
      proofBuilding = false;
    }
  }));

  app.get<{ Params: PolicyParams }>('/v1/namespaces/:ns/policies/:name/verify', (req, reply) => handle('policy-verify', reply, async (store) => {
    const namespace = ns(req.params.ns);
    await authorize(req, namespace, ['get']);
    if (store.policyChain(namespace, req.params.name) === undefined) throw new ReadError(404, `nothing is stored for policy ${req.params.name} in namespace ${namespace}`);
    // One verification at a time: each holds the policy's whole log in memory while it checks it.
    if (verifying) {
      reply.header('retry-after', String(deps.retryAfterSeconds ?? 2));
      throw new ReadError(503, 'another policy log is being verified on this operator: retry shortly');
    }
    verifying = true;
    try {
      const lines = [];
      for await (const l of store.policyEntries(namespace, req.params.name)) lines.push(l);
      const anchored = deps.anchored(namespace, req.params.name);
      return { ...verifyPolicyEntries(namespace, req.params.name, lines, anchored), ...(anchored === undefined ? {} : { anchored }) };
    } finally {
      verifying = false;
    }
  }));
}

/** A record of an export (not one of its other lines): written canonically, hash last (export-format.ts). */
function isExportRecord(line: unknown): line is SessionRecord {
  const l = line as { seq?: unknown; hash?: unknown; chainId?: unknown };
  return typeof l.seq === 'number' && typeof l.hash === 'string' && typeof l.chainId === 'string';
}

async function streamJsonl(reply: FastifyReply, lines: AsyncIterable<unknown>, filename: string): Promise<void> {
  reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'content-disposition': `attachment; filename="${filename}"` });
  reply.hijack();
  for await (const line of lines) {
    const text = isExportRecord(line) ? exportRecordLine(line) : JSON.stringify(line);
    if (!reply.raw.write(`${text}\n`)) await new Promise<void>((resolve) => reply.raw.once('drain', resolve));
  }
  reply.raw.end();
}
