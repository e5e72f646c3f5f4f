// The operator's read API (docs/ingest-contract.md) as the user: the CLI connects to the operator
// directly over HTTPS, because the apiserver's service proxy does not forward the user's token,
// and sends the user's own Kubernetes bearer token (from the kubeconfig: token, token file, exec
// or OIDC plugin). The operator authenticates it with TokenReview and authorizes every request
// with a SubjectAccessReview on sessions.guarita.io, so Kubernetes RBAC decides who reads what.
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { Agent, request, type Dispatcher } from 'undici';
import { parse } from 'yaml';
import { retryAfterSeconds } from '../../core/retry-after.ts';
import { UsageError } from './args.ts';
// kube.ts loads @kubernetes/client-node (~0.7 s): imported when a command connects, so commands
// that never do (verify --file, a million records offline) do not pay for it.
import type { KubeAccess } from './kube.ts';

// The flags live in operator-flags.ts (no HTTP client there); re-exported for the commands.
import { PORT_FORWARD, type OperatorFlags } from './operator-flags.ts';

export { OPERATOR_HELP, OPERATOR_OPTIONS, PORT_FORWARD, type OperatorFlags } from './operator-flags.ts';

export interface OperatorEndpoint { url: URL; ca?: string; servername?: string }

function pick(flag: string | undefined, env: string | undefined): string | undefined {
  const v = flag ?? env;
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** --operator-url / GUARITA_OPERATOR_URL and the TLS settings; a UsageError says how to get them. */
export function operatorEndpoint(flags: OperatorFlags, env: NodeJS.ProcessEnv): OperatorEndpoint {
  const raw = pick(flags['operator-url'], env.GUARITA_OPERATOR_URL);
  if (raw === undefined) {
    throw new UsageError(`where is the Guarita operator? Its read API is reached directly (the apiserver proxy would not pass your token on):\n  ${PORT_FORWARD}\nthen pass --operator-url https://127.0.0.1:8443 (or set GUARITA_OPERATOR_URL), with --operator-ca and --operator-tls-server-name (see --help)`);
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--operator-url must be a URL like https://127.0.0.1:8443 (got '${raw}')`);
  }
  if (url.protocol !== 'https:') throw new UsageError(`--operator-url must use https: the operator serves only HTTPS, and your token must not travel in clear text (got '${raw}')`);
  const caFile = pick(flags['operator-ca'], env.GUARITA_OPERATOR_CA);
  const servername = pick(flags['operator-tls-server-name'], env.GUARITA_OPERATOR_TLS_SERVER_NAME);
  return { url, ...(caFile === undefined ? {} : { ca: readCa(caFile) }), ...(servername === undefined ? {} : { servername }) };
}

function readCa(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --operator-ca ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--operator-ca ${file} holds no PEM certificate`);
  return pem;
}

/**
 * kubectl's `tokenFile` of a kubeconfig user, which @kubernetes/client-node does not read (it knows
 * only `token-file`): looked up in the kubeconfig file itself, relative to its directory.
 */
export function kubectlTokenFile(kubeconfigFile: string | undefined, userName: string): string | undefined {
  if (kubeconfigFile === undefined) return undefined;
  try {
    const doc = parse(readFileSync(kubeconfigFile, 'utf8')) as { users?: { name?: string; user?: { tokenFile?: unknown } }[] } | null;
    const file = doc?.users?.find((u) => u.name === userName)?.user?.tokenFile;
    if (typeof file !== 'string' || file === '') return undefined;
    return readFileSync(resolve(dirname(kubeconfigFile), file), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The Authorization header @kubernetes/client-node computes for the current user (running exec/OIDC plugins). */
async function authorizationHeader(kc: KubeConfig, userName: string): Promise<unknown> {
  try {
    // Plain option headers (not fetch Headers, which refuse a token file's trailing newline).
    const opts: { headers?: Record<string, string | string[] | number | undefined> } = { headers: {} };
    await kc.applyToHTTPSOptions(opts);
    return opts.headers?.Authorization ?? opts.headers?.authorization;
  } catch (err) {
    throw new Error(`cannot get a token for kubeconfig user '${userName}' (${err instanceof Error ? err.message : String(err)}): log in again, then check with 'kubectl auth whoami'`, { cause: err });
  }
}

/** The bearer token of the kubeconfig's current user, however it is obtained (token, file, exec, OIDC). */
export async function bearerToken(kc: KubeConfig, kubeconfigFile?: string): Promise<string> {
  const user = kc.getCurrentUser();
  if (user === null) throw new UsageError(`the context '${kc.getCurrentContext()}' names no user: pick another with --context`);
  const auth = await authorizationHeader(kc, user.name);
  const token = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : kubectlTokenFile(kubeconfigFile, user.name) ?? '';
  if (token !== '') return token;
  if (user.certFile !== undefined || user.certData !== undefined) {
    throw new UsageError(`kubeconfig user '${user.name}' authenticates with a client certificate, but the operator's read API needs a bearer token (it checks it with a TokenReview): use a context whose user has a token, an OIDC/exec login, or a service-account token ('kubectl create token NAME')`);
  }
  throw new UsageError(`kubeconfig user '${user.name}' has no bearer token (token, token file, exec or OIDC plugin); the operator's read API needs one`);
}

/** A failure talking to the operator, already phrased for the user. `status` is the HTTP status, if any. */
export class OperatorError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.name = 'OperatorError';
    this.status = status;
  }
}

const TLS_UNTRUSTED = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT']);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'ETIMEDOUT']);

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  if (typeof e.code === 'string' && e.code !== 'UND_ERR_SOCKET') return e.code;
  if (typeof e.cause?.code === 'string') return e.cause.code;
  return typeof e.code === 'string' ? e.code : '';
}

/** Connection-level failures (nothing answered) phrased with what to do next. */
export function explainTransportError(err: unknown, action: string, url: URL): OperatorError {
  const code = errorCode(err);
  const cause = (err instanceof Error ? err.message : String(err)).replace(/^\w*Error(?: \[\w+\])?: /, '');
  if (TLS_UNTRUSTED.has(code)) {
    return new OperatorError(`${action}: the operator's TLS certificate at ${url.origin} is not trusted (${code}): pass its CA with --operator-ca FILE (see --help). TLS verification is never switched off`);
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new OperatorError(`${action}: the operator's certificate is not valid for ${url.hostname} (${cause}): through a port-forward, pass --operator-tls-server-name guarita-operator.guarita-system.svc (the Service name it was issued for)`);
  }
  if (code === 'CERT_HAS_EXPIRED') return new OperatorError(`${action}: the operator's certificate has expired; ask the cluster administrator to renew it`);
  if (UNREACHABLE.has(code) || code.startsWith('UND_ERR')) {
    return new OperatorError(`${action}: cannot reach the Guarita operator at ${url.origin} (${cause}). Is the port-forward running?\n  ${PORT_FORWARD}\nthen pass --operator-url https://127.0.0.1:8443`);
  }
  return new OperatorError(`${action}: request to the operator at ${url.origin} failed: ${cause}`);
}

/** An HTTP error answer of the read API (JSON `{message}`) phrased with what to do next. */
export function explainStatus(status: number, body: string, action: string, retryAfter?: string): OperatorError {
  let message = body.trim();
  try { message = (JSON.parse(body) as { message?: string }).message ?? message; } catch { /* keep the raw text */ }
  if (status === 401) return new OperatorError(`${action}: not authenticated: the operator rejected your token (${message}). Your kubeconfig credentials may have expired: log in again and check with 'kubectl auth whoami'`, status);
  if (status === 403) return new OperatorError(`${action}: not authorized (403): ${message}`, status);
  if (status === 404) return new OperatorError(`${action}: not found: ${message}`, status);
  if (status === 503) return new OperatorError(`${action}: the operator is not serving right now (${message}): retry in ${retryAfter ?? 'a few'} seconds`, status);
  if (status === 400) return new OperatorError(`${action}: the operator refused the request: ${message}`, status);
  return new OperatorError(`${action}: the operator answered ${status}: ${message}`, status);
}

type Query = Record<string, string | undefined>;

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Largest store-log proof the CLI reads (GET .../chain/proof): a real one is a few kilobytes (a
 * checkpoint, one link, two hash lists of at most 2·log2(size) hashes). A compromised operator, or
 * whatever answers on a hijacked port-forward, chooses its answer's size; the verifier checks the
 * content, this bounds the memory reading it takes.
 */
export const STORE_PROOF_MAX_BYTES = 1024 * 1024;

function sizeText(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;
}

/** The answer's body as text, refused (and the connection dropped) once it is larger than `maxBytes`. */
async function boundedText(res: Dispatcher.ResponseData, maxBytes: number, action: string): Promise<string> {
  const tooLarge = (detail: string): OperatorError => new OperatorError(`${action}: the operator's answer is larger than ${sizeText(maxBytes)}${detail}, more than this answer can hold: the operator (or whatever answers on its address) is not answering as it should; nothing of it was used`);
  const declared = Number(headerValue(res.headers['content-length']) ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.body.destroy();
    throw tooLarge(` (it declares ${declared} bytes)`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > maxBytes) {
      res.body.destroy();
      throw tooLarge('');
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A 503 (the operator builds one store-log proof at a time, or is not ready yet) is asked again,
 * this many times in all, after the Retry-After it names: every request here is a GET. A wait
 * longer than BUSY_WAIT_MAX_MS is not waited for: the error says when to retry.
 */
export const BUSY_ATTEMPTS = 3;
export const BUSY_WAIT_MAX_MS = 10_000;

/** How long to wait before asking again, or undefined when the operator asks for longer than BUSY_WAIT_MAX_MS. */
export function busyWaitMs(retryAfter: string | undefined): number | undefined {
  // An HTTP date or anything else: one second.
  const ms = (retryAfterSeconds(retryAfter) ?? 1) * 1000;
  return ms > BUSY_WAIT_MAX_MS ? undefined : Math.max(ms, 100);
}

/** One user's session with the operator's read API, for one namespace. */
export class OperatorClient {
  readonly endpoint: OperatorEndpoint;
  readonly namespace: string;
  readonly #token: string;
  readonly #agent: Agent;

  readonly #release: (() => Promise<void>) | undefined;

  /** `release`: what close() also ends (the CLI's own port-forward to the operator). */
  constructor(endpoint: OperatorEndpoint, token: string, namespace: string, release?: () => Promise<void>) {
    this.#release = release;
    this.endpoint = endpoint;
    this.#token = token;
    this.namespace = namespace;
    this.#agent = new Agent({
      connect: { ...(endpoint.ca === undefined ? {} : { ca: endpoint.ca }), ...(endpoint.servername === undefined ? {} : { servername: endpoint.servername }) },
      connectTimeout: 10_000,
    });
  }

  /** `/v1/namespaces/{ns}/...` under the operator's base URL (which may carry a path prefix). */
  url(path: string, query: Query = {}): URL {
    const base = this.endpoint.url.pathname.replace(/\/+$/, '');
    const url = new URL(`${base}/v1/namespaces/${encodeURIComponent(this.namespace)}${path}`, this.endpoint.url);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
    return url;
  }

  async #send(path: string, query: Query, action: string, accept: string): Promise<Dispatcher.ResponseData> {
    const url = this.url(path, query);
    for (let attempt = 1; ; attempt++) {
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method: 'GET', dispatcher: this.#agent, headersTimeout: 60_000, bodyTimeout: 120_000,
          headers: { authorization: `Bearer ${this.#token}`, accept, 'user-agent': 'guarita-cli' },
        });
      } catch (err) {
        throw explainTransportError(err, action, url);
      }
      if (res.statusCode >= 200 && res.statusCode < 300) return res;
      const text = await res.body.text().catch(() => '');
      const retryAfter = headerValue(res.headers['retry-after']);
      const wait = res.statusCode === 503 && attempt < BUSY_ATTEMPTS ? busyWaitMs(retryAfter) : undefined;
      if (wait === undefined) throw explainStatus(res.statusCode, text, action, retryAfter);
      await sleep(wait);
    }
  }

  /** `maxBytes`: an answer known to be small (a store-log proof) is refused past it while it streams, not held whole. */
  async json<T>(path: string, query: Query, action: string, o: { maxBytes?: number } = {}): Promise<T> {
    const res = await this.#send(path, query, action, 'application/json');
    const text = o.maxBytes === undefined ? undefined : await boundedText(res, o.maxBytes, action);
    try {
      return (text === undefined ? await res.body.json() : JSON.parse(text)) as T;
    } catch (err) {
      throw new OperatorError(`${action}: the operator's answer is not JSON (${err instanceof Error ? err.message : String(err)})`);
    }
  }

  /** A streamed answer (JSONL exports and chain entries): the body as chunks. */
  async stream(path: string, query: Query, action: string): Promise<AsyncIterable<Buffer>> {
    const res = await this.#send(path, query, action, 'application/x-ndjson');
    return res.body;
  }

  async close(): Promise<void> {
    await this.#agent.close();
    await this.#release?.();
  }
}

export interface Connection { kube: KubeAccess; operator: OperatorClient }

/** The kubeconfig context (namespace, token) and the operator endpoint, each failing with what to do next. */
export async function connect(flags: OperatorFlags & { kubeconfig?: string | undefined; context?: string | undefined; namespace?: string | undefined }, env: NodeJS.ProcessEnv): Promise<Connection> {
  const { loadKube } = await import('./kube.ts');
  const kube = loadKube(flags, env);
  const forward = pick(flags['operator-url'], env.GUARITA_OPERATOR_URL) === undefined ? await forwardedEndpoint(kube, flags, env) : undefined;
  const endpoint = forward?.endpoint ?? operatorEndpoint(flags, env);
  // The file among those merged that gives the current user a kubectl tokenFile, if any.
  const user = kube.kc.getCurrentUser()?.name ?? '';
  const file = kube.files.find((f) => kubectlTokenFile(f, user) !== undefined);
  const token = await bearerToken(kube.kc, file);
  return { kube, operator: new OperatorClient(endpoint, token, kube.namespace, forward?.close) };
}

/** No --operator-url: the CLI's own port-forward to the operator's Service (cli/src/port-forward.ts). */
async function forwardedEndpoint(kube: KubeAccess, flags: OperatorFlags, env: NodeJS.ProcessEnv): Promise<{ endpoint: OperatorEndpoint; close: () => Promise<void> }> {
  const { forwardToOperator, parseServiceRef } = await import('./port-forward.ts');
  const ref = parseServiceRef(pick(flags['operator-service'], env.GUARITA_OPERATOR_SERVICE));
  const caFile = pick(flags['operator-ca'], env.GUARITA_OPERATOR_CA);
  let forward: Awaited<ReturnType<typeof forwardToOperator>>;
  try {
    forward = await forwardToOperator(kube.kc, ref, kube.namespace, caFile === undefined ? undefined : readCa(caFile));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    // Same exit as before the CLI forwarded by itself: where the operator is stays the user's to say.
    throw new UsageError(`where is the Guarita operator? The CLI could not reach it through the apiserver by itself: ${err instanceof Error ? err.message : String(err)}\nEither fix that, or port-forward yourself:\n  ${PORT_FORWARD}\nthen pass --operator-url https://127.0.0.1:8443 (or set GUARITA_OPERATOR_URL), with --operator-ca and --operator-tls-server-name (see --help)`);
  }
  const servername = pick(flags['operator-tls-server-name'], env.GUARITA_OPERATOR_TLS_SERVER_NAME) ?? forward.servername;
  return { endpoint: { url: forward.url, ca: forward.ca, servername }, close: () => forward.close() };
}
