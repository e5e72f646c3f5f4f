// A small Kubernetes API client for what the sidecar does: list/watch AccessPolicies, create,
// watch and patch ApprovalRequests, and TokenReview. Raw HTTP with undici, so the watch's health
// is ours to observe (staleness) and the projected token is re-read as the kubelet rotates it.
// In a pod: KUBERNETES_SERVICE_HOST/PORT, the cluster CA, and the projected `kube` token.
// Outside (local e2e, demo): GUARITA_KUBECONFIG; a `kube` token in the token dir, when present,
// replaces the kubeconfig user's credentials so the process acts as the pod's service account.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { Dispatcher } from 'undici';
import { Agent, request } from '../undici.ts';
import { parse as parseYaml } from 'yaml';
import { kubeStatusError, type KubeStatus } from '../../../core/kube/errors.ts';
import { retryDelayMs } from '../../../core/kube/retry.ts';
import { TokenFile } from '../token-file.ts';
import { opt, sleep } from '../util.ts';
import { upstreamLookup } from '../upstream-address.ts';

export interface KubeConnection {
  server: string;
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  skipTLSVerify?: boolean;
  /** Bearer token source, read per request (rotated files are picked up). */
  token?: () => string;
}

// The one error type and predicates of core/kube/errors.ts (no client-node behind it).
export { isConflict, isNotFound, KubeError, kubeStatusError, type KubeStatus } from '../../../core/kube/errors.ts';

export interface WatchEvent<T> { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: T }

export interface RequestOptions {
  method?: Dispatcher.HttpMethod;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

type Json = Record<string, unknown>;

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function named(list: unknown, name: unknown, field: string): Json | undefined {
  if (!Array.isArray(list)) return undefined;
  const entry = (list as Json[]).find((e) => e.name === name);
  return entry?.[field] as Json | undefined;
}

function fileOrData(base: string, file: unknown, data: unknown): string | undefined {
  const d = str(data);
  if (d !== undefined) return Buffer.from(d, 'base64').toString('utf8');
  const f = str(file);
  if (f === undefined) return undefined;
  return readFileSync(isAbsolute(f) ? f : join(base, f), 'utf8');
}

function userToken(base: string, user: Json): (() => string) | undefined {
  const token = str(user.token);
  if (token !== undefined) return () => token;
  const tokenFile = str(user.tokenFile);
  if (tokenFile !== undefined) {
    const tf = new TokenFile(isAbsolute(tokenFile) ? tokenFile : join(base, tokenFile));
    return () => tf.read();
  }
  return undefined;
}

function currentEntries(file: string, doc: Json | null): { cluster: Json; server: string; user: Json } {
  const contextName = doc?.['current-context'];
  const context = named(doc?.contexts, contextName, 'context');
  if (context === undefined) throw new Error(`${file}: current-context ${JSON.stringify(contextName)} not found`);
  const cluster = named(doc?.clusters, context.cluster, 'cluster');
  const server = str(cluster?.server);
  if (cluster === undefined || server === undefined) throw new Error(`${file}: cluster ${JSON.stringify(context.cluster)} not found or has no server`);
  return { cluster, server, user: named(doc?.users, context.user, 'user') ?? {} };
}

function clientCertificate(base: string, user: Json): { cert?: string; key?: string } {
  const cert = fileOrData(base, user['client-certificate'], user['client-certificate-data']);
  const key = fileOrData(base, user['client-key'], user['client-key-data']);
  return cert !== undefined && key !== undefined ? { cert, key } : {};
}

/** Reads a kubeconfig file (current context): server, CA, client certificate or token. */
export function connectionFromKubeconfig(file: string, overrideToken?: () => string): KubeConnection {
  const doc = parseYaml(readFileSync(file, 'utf8')) as Json | null;
  const base = dirname(file);
  const { cluster, server, user } = currentEntries(file, doc);
  if (overrideToken === undefined && (user.exec !== undefined || user['auth-provider'] !== undefined)) {
    throw new Error(`${file}: exec and auth-provider credentials are not supported; use a token, a tokenFile, a client certificate, or put a \`kube\` token in GUARITA_TOKEN_DIR`);
  }
  return {
    server: server.replace(/\/+$/, ''),
    ...opt('ca', fileOrData(base, cluster['certificate-authority'], cluster['certificate-authority-data'])),
    ...opt('skipTLSVerify', cluster['insecure-skip-tls-verify'] === true ? true : undefined),
    ...opt('servername', str(cluster['tls-server-name'])),
    ...opt('token', overrideToken ?? userToken(base, user)),
    ...(overrideToken === undefined ? clientCertificate(base, user) : {}),
  };
}

/** In-cluster: the apiserver Service from the environment, the cluster CA, the projected `kube` token. */
export function inClusterConnection(tokenDir: string, env: Record<string, string | undefined> = process.env): KubeConnection {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (host === undefined || host === '') throw new Error('KUBERNETES_SERVICE_HOST is not set (not in a pod?)');
  const caCandidates = [join(tokenDir, 'ca.crt'), '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt'];
  const caFile = caCandidates.find((f) => existsSync(f));
  const token = new TokenFile(join(tokenDir, 'kube'));
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return { server: `https://${hostPart}:${port}`, ...opt('ca', caFile === undefined ? undefined : readFileSync(caFile, 'utf8')), token: () => token.read() };
}

export function kubeConnection(opts: { kubeconfig?: string; tokenDir: string }): KubeConnection {
  if (opts.kubeconfig === undefined) return inClusterConnection(opts.tokenDir);
  const kubeToken = join(opts.tokenDir, 'kube');
  const override = existsSync(kubeToken) ? new TokenFile(kubeToken) : undefined;
  return connectionFromKubeconfig(opts.kubeconfig, override === undefined ? undefined : () => override.read());
}

/** How long to wait before sending the call again (retryDelayMs), or undefined: the answer is final or the deadline too near. */
function repeatAfter(res: Dispatcher.ResponseData, method: string, attempt: number, deadline: number): number | undefined {
  const header = res.headers['retry-after'];
  const delay = retryDelayMs(method, res.statusCode, typeof header === 'string' ? header : undefined, attempt);
  return delay === undefined || Date.now() + delay >= deadline ? undefined : delay;
}

async function readStatus(body: Dispatcher.ResponseData['body']): Promise<KubeStatus | undefined> {
  const text = await body.text();
  try {
    return JSON.parse(text) as KubeStatus;
  } catch {
    return { message: text.slice(0, 500) };
  }
}

export class KubeClient {
  readonly #conn: KubeConnection;
  readonly #agent: Agent;

  constructor(conn: KubeConnection) {
    this.#conn = conn;
    this.#agent = new Agent({
      connect: {
        ...opt('ca', conn.ca), ...opt('cert', conn.cert), ...opt('key', conn.key), ...opt('servername', conn.servername),
        rejectUnauthorized: conn.skipTLSVerify !== true,
        // The sidecar's own token goes nowhere inside its pod either (upstream-address.ts).
        lookup: upstreamLookup,
      },
      keepAliveTimeout: 30_000,
    });
  }

  get server(): string { return this.#conn.server; }

  #headers(contentType?: string): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const token = this.#conn.token?.();
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (contentType !== undefined) headers['content-type'] = contentType;
    return headers;
  }

  /**
   * A JSON request; non-2xx answers throw KubeError carrying the Status. An answer the apiserver
   * asks to have repeated (429 from priority and fairness, which never ran the call; a read's 5xx
   * with Retry-After) is sent again as client-go does, within the call's deadline (retryDelayMs):
   * a burst of sessions' TokenReviews or ApprovalRequests is slowed, not refused.
   */
  async request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    const method = opts.method ?? 'GET';
    const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
    for (let attempt = 1; ; attempt++) {
      const res = await this.#send(path, method, opts, Math.max(1, deadline - Date.now()));
      if (res.statusCode >= 200 && res.statusCode <= 299) return (await res.body.json()) as T;
      const delay = repeatAfter(res, method, attempt, deadline);
      if (delay === undefined || opts.signal?.aborted === true) throw kubeStatusError(res.statusCode, method, path, await readStatus(res.body));
      await res.body.dump();
      await sleep(delay, opts.signal);
    }
  }

  #send(path: string, method: Dispatcher.HttpMethod, opts: RequestOptions, timeoutMs: number): Promise<Dispatcher.ResponseData> {
    return request(`${this.#conn.server}${path}`, {
      method,
      dispatcher: this.#agent,
      headers: this.#headers(opts.body === undefined ? undefined : (opts.contentType ?? 'application/json')),
      ...opt('body', opts.body === undefined ? undefined : JSON.stringify(opts.body)),
      ...opt('signal', opts.signal),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  }

  /**
   * Streams a watch. `onConnected` fires once the apiserver answered 200; every event goes to
   * `onEvent`. Resolves when the server ends the watch (timeoutSeconds), rejects on errors.
   */
  async watch<T>(path: string, handlers: { onConnected?(): void; onEvent(ev: WatchEvent<T>): void }, opts: { signal: AbortSignal; idleTimeoutMs: number }): Promise<void> {
    const res = await request(`${this.#conn.server}${path}`, {
      dispatcher: this.#agent, headers: this.#headers(), signal: opts.signal, headersTimeout: 15_000, bodyTimeout: opts.idleTimeoutMs,
    });
    if (res.statusCode !== 200) throw kubeStatusError(res.statusCode, 'WATCH', path, await readStatus(res.body));
    handlers.onConnected?.();
    let buffered = '';
    res.body.setEncoding('utf8');
    for await (const chunk of res.body as AsyncIterable<string>) {
      buffered += chunk;
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line !== '') handlers.onEvent(JSON.parse(line) as WatchEvent<T>);
        newline = buffered.indexOf('\n');
      }
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
