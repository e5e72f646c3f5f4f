// `guarita approvals --watch`: the ApprovalRequests an approver can see, then every change, as
// `kubectl get -w` streams them. List, then watch from the list's resourceVersion; when the
// apiserver ends a watch (its timeout, a dropped connection) watch again from the last version
// seen; when that version has expired (410 Gone: compacted, or older than the watch cache) list
// again and report only what changed meanwhile, so an approver never misses a request and never
// sees one twice. Authentication and authorization failures end the stream: retrying cannot fix them.
import { Watch } from '@kubernetes/client-node';
import type { ApprovalRequest } from '../../crds/types.ts';
import { API_VERSION } from '../../crds/definitions.ts';
import { backoff } from '../../core/backoff.ts';
import type { KubeAccess } from './kube.ts';
import { listApprovalRequestsAt } from './approval-requests.ts';

export type ApprovalEventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export interface ApprovalEvent { type: ApprovalEventType; object: ApprovalRequest }

export interface WatchOptions {
  allNamespaces: boolean;
  /** Ends the stream (Ctrl-C). */
  signal: AbortSignal;
  onEvent(event: ApprovalEvent): void;
  /** Told when the stream lists again after the apiserver expired its version (for stderr). */
  onRelist?(reason: string): void;
  /** Where the first watch starts, instead of listing first: the relist path's test enters here with an expired version. */
  resourceVersion?: string;
}

type WatchEnd = { kind: 'closed' } | { kind: 'expired'; reason: string } | { kind: 'failed'; error: Error & { statusCode?: number } };

const RETRY = { baseMs: 500, capMs: 30_000 };

function key(r: ApprovalRequest): string {
  return `${r.metadata.namespace ?? ''}/${r.metadata.name}`;
}

function watchPath(kube: KubeAccess, all: boolean): string {
  return all ? `/apis/${API_VERSION}/approvalrequests` : `/apis/${API_VERSION}/namespaces/${encodeURIComponent(kube.namespace)}/approvalrequests`;
}

/** One watch connection, until the apiserver or the signal ends it. */
async function watchOnce(kube: KubeAccess, opts: WatchOptions, rv: string, seen: (type: string, obj: ApprovalRequest) => void): Promise<WatchEnd> {
  return new Promise((resolve) => {
    let ended: WatchEnd | undefined;
    let connection: AbortController | undefined;
    const stop = (): void => connection?.abort();
    opts.signal.addEventListener('abort', stop, { once: true });
    const finish = (end: WatchEnd): void => {
      opts.signal.removeEventListener('abort', stop);
      resolve(ended ?? end);
    };
    const onLine = (type: string, obj: unknown): void => {
      if (type !== 'ERROR') return seen(type, obj as ApprovalRequest);
      const status = obj as { code?: number; message?: string };
      // The apiserver reports an expired version as an ERROR event carrying a 410 Status.
      ended = status.code === 410 ? { kind: 'expired', reason: status.message ?? '410 Gone' } : { kind: 'failed', error: Object.assign(new Error(status.message ?? 'watch error'), { statusCode: status.code }) };
      connection?.abort();
    };
    new Watch(kube.kc)
      .watch(watchPath(kube, opts.allNamespaces), { resourceVersion: rv, allowWatchBookmarks: true }, onLine, (err: unknown) => {
        const error = err as (Error & { statusCode?: number }) | null | undefined;
        if (error === null || error === undefined || opts.signal.aborted || ended !== undefined) finish({ kind: 'closed' });
        else if (error.statusCode === 410) finish({ kind: 'expired', reason: error.message });
        else finish({ kind: 'failed', error });
      })
      .then((c) => { connection = c; if (opts.signal.aborted || ended !== undefined) c.abort(); })
      .catch((err: unknown) => finish({ kind: 'failed', error: err as Error }));
  });
}

/** After a relist: what changed since the objects last reported. */
function diff(known: Map<string, ApprovalRequest>, items: readonly ApprovalRequest[]): ApprovalEvent[] {
  const events: ApprovalEvent[] = [];
  const now = new Set<string>();
  for (const item of items) {
    now.add(key(item));
    const before = known.get(key(item));
    if (before === undefined) events.push({ type: 'ADDED', object: item });
    else if (before.metadata.resourceVersion !== item.metadata.resourceVersion) events.push({ type: 'MODIFIED', object: item });
  }
  for (const [k, before] of known) if (!now.has(k)) events.push({ type: 'DELETED', object: before });
  return events;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void { clearTimeout(timer); signal.removeEventListener('abort', done); resolve(); }
    signal.addEventListener('abort', done, { once: true });
  });
}

function fatal(error: Error & { statusCode?: number; code?: number }): boolean {
  const status = error.statusCode ?? error.code;
  return status === 401 || status === 403 || status === 404;
}

/** Streams events until opts.signal aborts; rejects on errors that retrying cannot fix. */
export async function watchApprovalRequests(kube: KubeAccess, opts: WatchOptions): Promise<void> {
  const known = new Map<string, ApprovalRequest>();
  const report = (event: ApprovalEvent): void => {
    if (event.type === 'DELETED') known.delete(key(event.object));
    else known.set(key(event.object), event.object);
    opts.onEvent(event);
  };
  let rv = opts.resourceVersion;
  let failures = 0;
  while (!opts.signal.aborted) {
    if (rv === undefined) {
      const list = await listApprovalRequestsAt(kube, opts.allNamespaces);
      rv = list.resourceVersion;
      diff(known, list.items).forEach(report);
    }
    const end = await watchOnce(kube, opts, rv, (type, obj) => {
      rv = obj.metadata.resourceVersion ?? rv;
      if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') report({ type, object: obj });
      failures = 0;
    });
    if (end.kind === 'expired') {
      opts.onRelist?.(end.reason);
      rv = undefined;
    } else if (end.kind === 'failed') {
      if (fatal(end.error)) throw explainWatchError(end.error, kube, opts.allNamespaces);
      await sleep(backoff(Math.min(failures++, 10), RETRY), opts.signal);
    }
  }
}

function explainWatchError(error: Error & { statusCode?: number; code?: number }, kube: KubeAccess, all: boolean): Error {
  const where = all ? 'in all namespaces' : `in namespace ${kube.namespace}`;
  const status = error.statusCode ?? error.code;
  if (status === 401) return new Error(`watching ApprovalRequests ${where}: not authenticated (your kubeconfig credentials were rejected; log in again)`);
  if (status === 403) return new Error(`watching ApprovalRequests ${where}: not authorized (${error.message}); your role needs the 'watch' verb on approvalrequests.guarita.io`);
  return new Error(`watching ApprovalRequests ${where}: the apiserver answered ${status}: ${error.message} (is Guarita's ApprovalRequest CRD installed?)`);
}
