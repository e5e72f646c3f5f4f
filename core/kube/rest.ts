// The Kubernetes REST transport the operator and the webhook share: credentials and TLS from
// @kubernetes/client-node's KubeConfig (in-cluster service account or a kubeconfig file), read
// again every AUTH_CACHE_MS so a rotated token is picked up; undici keep-alive; a deadline on every
// call; Status answers turned into typed errors. Each component keeps its own narrow interface on
// top (operator/src/kube/client.ts, webhook/src/kube.ts). The sidecar has a smaller client of its
// own (sidecar/src/kube/client.ts): loading client-node would cost every injected pod memory.
import type { RequestOptions } from 'node:https';
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { Agent, request, type Dispatcher } from 'undici';
import { compact } from '../compact.ts';
import { kubeError } from './errors.ts';
import { retryDelayMs } from './retry.ts';

export { isAlreadyExists, isConflict, isNotFound, KubeError, kubeError } from './errors.ts';
export { retryDelayMs } from './retry.ts';

export type WatchEvent<T> = { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK'; object: T } | { type: 'ERROR'; object: { code?: number; reason?: string; message?: string } };

export interface ListResult<T> { items: T[]; metadata: { resourceVersion?: string; continue?: string } }

export interface SendOptions {
  body?: unknown;
  contentType?: string;
  accept?: string;
  timeoutMs?: number;
}

interface TlsMaterial { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean }

const AUTH_CACHE_MS = 10_000;

export class KubeRest {
  readonly kc: KubeConfig;
  readonly #server: string;
  readonly #timeoutMs: number;
  #agent: Agent | undefined;
  #headers: { value: Record<string, string>; at: number } | undefined;

  constructor(kc: KubeConfig, timeoutMs: number) {
    const cluster = kc.getCurrentCluster();
    if (cluster === null) throw new Error('kubeconfig has no current cluster');
    this.kc = kc;
    this.#server = cluster.server.replace(/\/$/, '');
    this.#timeoutMs = timeoutMs;
  }

  async #prepare(): Promise<{ agent: Agent; headers: Record<string, string> }> {
    const now = Date.now();
    if (this.#agent !== undefined && this.#headers !== undefined && now - this.#headers.at < AUTH_CACHE_MS) return { agent: this.#agent, headers: this.#headers.value };
    const opts: RequestOptions & TlsMaterial = {};
    await this.kc.applyToHTTPSOptions(opts);
    this.#agent ??= new Agent({ connect: compact({ ca: opts.ca, cert: opts.cert, key: opts.key, rejectUnauthorized: opts.rejectUnauthorized }), keepAliveTimeout: 30_000 });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (typeof v === 'string') headers[k.toLowerCase()] = v;
    this.#headers = { value: headers, at: now };
    return { agent: this.#agent, headers };
  }

  /**
   * One call; any status comes back as it is, except an answer the apiserver asks to have repeated
   * (retry.ts, retryDelayMs): that one is sent again, as client-go does, while the call's
   * deadline allows.
   */
  async send(method: Dispatcher.HttpMethod, path: string, opts: SendOptions = {}): Promise<{ status: number; text: string }> {
    const timeout = opts.timeoutMs ?? this.#timeoutMs;
    const deadline = Date.now() + timeout;
    for (let attempt = 1; ; attempt++) {
      // Every attempt gets what is left of the call's deadline: a repeat never starts a fresh one.
      const res = await this.#sendOnce(method, path, opts, Math.max(1, deadline - Date.now()));
      const delay = retryDelayMs(method, res.status, res.retryAfter, attempt);
      if (delay === undefined || Date.now() + delay >= deadline) return { status: res.status, text: res.text };
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  async #sendOnce(method: Dispatcher.HttpMethod, path: string, opts: SendOptions, timeout: number): Promise<{ status: number; text: string; retryAfter: string | undefined }> {
    const { agent, headers } = await this.#prepare();
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    try {
      const res = await request(`${this.#server}${path}`, {
        method, dispatcher: agent,
        headers: { ...headers, accept: opts.accept ?? 'application/json', ...(payload === undefined ? {} : { 'content-type': opts.contentType ?? 'application/json' }) },
        ...(payload === undefined ? {} : { body: payload }),
        headersTimeout: timeout, bodyTimeout: timeout,
      });
      const retryAfter = res.headers['retry-after'];
      return { status: res.statusCode, text: await res.body.text(), retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined };
    } catch (err) {
      throw new Error(`${method} ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  /** One call expecting a 2xx JSON answer; anything else is a KubeError. */
  async json<T>(method: Dispatcher.HttpMethod, path: string, opts: SendOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    if (res.status < 200 || res.status >= 300) throw kubeError(res.status, method, path, res.text);
    return (res.text === '' ? {} : JSON.parse(res.text)) as T;
  }

  /** A list call (GET with query parameters): the informer's first half. */
  list<T>(path: string, query: Record<string, string> = {}): Promise<ListResult<T>> {
    const qs = new URLSearchParams(query).toString();
    return this.json<ListResult<T>>('GET', qs === '' ? path : `${path}?${qs}`);
  }

  /** A watch through client-node's Watch (same KubeConfig): events until the apiserver or abort() ends it, then onDone. */
  async watch<T>(path: string, query: Record<string, string>, onEvent: (e: WatchEvent<T>) => void, onDone: (err: unknown) => void): Promise<{ abort(): void }> {
    const w = new Watch(this.kc);
    const ctrl = await w.watch(path, query, (type: string, object: unknown) => onEvent({ type, object } as WatchEvent<T>), onDone);
    return { abort: () => ctrl.abort() };
  }

  async close(): Promise<void> {
    await this.#agent?.close();
  }
}
