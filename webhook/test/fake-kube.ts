// An in-memory stand-in for the few API calls the webhook's TLS and validation code make, with
// resourceVersion conflicts like the apiserver's. Unit tests only; integration tests use the harness.
import { kubeError } from '../../core/kube/rest.ts';
import type { KubeApi } from '../src/kube.ts';
import { applyPatch } from '../src/json-patch.ts';

type Obj = { metadata: { resourceVersion?: string; name?: string } } & Record<string, unknown>;

export class FakeKube implements KubeApi {
  readonly objects = new Map<string, Obj>();
  #rv = 1;
  calls: string[] = [];

  put(path: string, obj: Record<string, unknown>): void {
    this.objects.set(path, { ...structuredClone(obj), metadata: { ...(obj.metadata as object), resourceVersion: String(this.#rv++) } });
  }

  get<T>(path: string): Promise<T | undefined> {
    this.calls.push(`GET ${path}`);
    const o = this.objects.get(path);
    return Promise.resolve(o === undefined ? undefined : (structuredClone(o) as T));
  }

  create<T>(path: string, body: unknown): Promise<T> {
    this.calls.push(`POST ${path}`);
    const name = (body as Obj).metadata.name ?? '';
    const full = `${path}/${name}`;
    if (this.objects.has(full)) return Promise.reject(kubeError(409, 'POST', path, '{"reason":"AlreadyExists"}'));
    this.put(full, body as Obj);
    return this.get<T>(full) as Promise<T>;
  }

  replace<T>(path: string, body: unknown): Promise<T> {
    this.calls.push(`PUT ${path}`);
    const cur = this.objects.get(path);
    if (cur === undefined) return Promise.reject(kubeError(404, 'PUT', path, '{}'));
    if ((body as Obj).metadata.resourceVersion !== cur.metadata.resourceVersion) return Promise.reject(kubeError(409, 'PUT', path, '{"reason":"Conflict"}'));
    this.put(path, body as Obj);
    return this.get<T>(path) as Promise<T>;
  }

  jsonPatch<T>(path: string, ops: unknown[]): Promise<T> {
    this.calls.push(`PATCH ${path}`);
    const cur = this.objects.get(path);
    if (cur === undefined) return Promise.reject(kubeError(404, 'PATCH', path, '{}'));
    try {
      this.put(path, applyPatch(cur, ops as never));
    } catch (err) {
      return Promise.reject(kubeError(422, 'PATCH', path, JSON.stringify({ message: String(err) })));
    }
    return this.get<T>(path) as Promise<T>;
  }
}
