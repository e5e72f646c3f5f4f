// The user's Kubernetes access, resolved like kubectl does (KUBECONFIG, --kubeconfig, --context,
// the context's namespace), with errors that say what to do next.
import { ApiException, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { UsageError } from './args.ts';

export interface KubeAccess { kc: KubeConfig; namespace: string; objects: CustomObjectsApi }

function readKubeconfig(kc: KubeConfig, file: string | undefined): void {
  if (file === undefined) kc.loadFromDefault();
  else kc.loadFromFile(file);
}

export function loadKube(flags: { kubeconfig?: string; context?: string; namespace?: string }, env: NodeJS.ProcessEnv): KubeAccess {
  const kc = new KubeConfig();
  try {
    readKubeconfig(kc, flags.kubeconfig ?? env.KUBECONFIG?.split(':')[0]);
  } catch (err) {
    throw new UsageError(`cannot read the kubeconfig (${err instanceof Error ? err.message : String(err)}); pass --kubeconfig or set KUBECONFIG`);
  }
  if (flags.context !== undefined) kc.setCurrentContext(flags.context);
  if (kc.getCurrentCluster() === null) throw new UsageError('no current Kubernetes context: pass --context or run `kubectl config use-context NAME`');
  const namespace = flags.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  return { kc, namespace, objects: kc.makeApiClient(CustomObjectsApi) };
}

/** Turns API failures into the sentence a user needs (who they are is in the message from the apiserver). */
export function explainApiError(err: unknown, action: string): Error {
  if (err instanceof ApiException) {
    const body = typeof err.body === 'string' ? err.body : JSON.stringify(err.body);
    let message = body;
    try { message = (JSON.parse(body) as { message?: string }).message ?? body; } catch { /* keep raw body */ }
    if (err.code === 401) return new Error(`${action}: not authenticated (your kubeconfig credentials were rejected; log in again)`);
    if (err.code === 403) return new Error(`${action}: not authorized: ${message}`);
    if (err.code === 404) return new Error(`${action}: not found: ${message}`);
    return new Error(`${action}: the apiserver answered ${err.code}: ${message}`);
  }
  const cause = err instanceof Error ? err.message : String(err);
  return new Error(`${action}: cannot reach the Kubernetes API (${cause}); check your context with 'kubectl cluster-info'`);
}
