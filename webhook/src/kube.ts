// A small Kubernetes REST client for the few calls the webhook makes off the admission hot path
// (TLS bootstrap, caBundle patches, Secret existence checks, the policy cache's confirm-on-miss).
// Authentication and TLS come from @kubernetes/client-node's KubeConfig (in-cluster or a file);
// every call has a deadline.
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export class KubeError extends Error {
  readonly status: number;
  readonly reason: string | undefined;
  constructor(method: string, path: string, status: number, body: string) {
    let message = body;
    let reason: string | undefined;
    try {
      const parsed = JSON.parse(body) as { message?: string; reason?: string };
      message = parsed.message ?? body;
      reason = parsed.reason;
    } catch { /* not a Status object */ }
    super(`${method} ${path}: ${status} ${message}`);
    this.name = 'KubeError';
    this.status = status;
    this.reason = reason;
  }
}

export interface KubeRequest { body?: unknown; contentType?: string; accept?: string; timeoutMs?: number }

export interface KubeApi {
  /** undefined on 404. */
  get<T>(path: string, opts?: KubeRequest): Promise<T | undefined>;
  create<T>(path: string, body: unknown): Promise<T>;
  replace<T>(path: string, body: unknown): Promise<T>;
  jsonPatch<T>(path: string, ops: unknown[]): Promise<T>;
}

const DEFAULT_TIMEOUT_MS = 5000;

export class KubeClient implements KubeApi {
  readonly #kc: KubeConfig;

  constructor(kc: KubeConfig) {
    this.#kc = kc;
  }

  async send(method: string, path: string, opts: KubeRequest = {}): Promise<{ status: number; text: string }> {
    const cluster = this.#kc.getCurrentCluster();
    if (cluster === null) throw new Error('kubeconfig has no current cluster');
    const url = new URL(path, cluster.server);
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const options: RequestOptions = {
      method,
      headers: {
        accept: opts.accept ?? 'application/json',
        ...(payload === undefined ? {} : { 'content-type': opts.contentType ?? 'application/json', 'content-length': Buffer.byteLength(payload) }),
      },
    };
    await this.#kc.applyToHTTPSOptions(options);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.setTimeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${path}: no answer within ${opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  async #json<T>(method: string, path: string, opts: KubeRequest = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    if (res.status < 200 || res.status >= 300) throw new KubeError(method, path, res.status, res.text);
    return JSON.parse(res.text) as T;
  }

  async get<T>(path: string, opts: KubeRequest = {}): Promise<T | undefined> {
    try {
      return await this.#json<T>('GET', path, opts);
    } catch (err) {
      if (err instanceof KubeError && err.status === 404) return undefined;
      throw err;
    }
  }

  create<T>(path: string, body: unknown): Promise<T> {
    return this.#json<T>('POST', path, { body });
  }

  replace<T>(path: string, body: unknown): Promise<T> {
    return this.#json<T>('PUT', path, { body });
  }

  jsonPatch<T>(path: string, ops: unknown[]): Promise<T> {
    return this.#json<T>('PATCH', path, { body: ops, contentType: 'application/json-patch+json' });
  }
}

/** Accept header for metadata-only reads (existence checks without reading a Secret's data). */
export const METADATA_ONLY = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';
