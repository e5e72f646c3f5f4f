// The user's Kubernetes access, resolved like kubectl does (KUBECONFIG, --kubeconfig, --context,
// the context's namespace), with errors that say what to do next.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ApiException, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { UsageError } from './args.ts';

/** files: the kubeconfig files read, in KUBECONFIG order (a user's kubectl-only fields are looked up there). */
export interface KubeAccess { kc: KubeConfig; namespace: string; objects: CustomObjectsApi; files: string[] }

type Named = { name: string };

/** Appends the entries whose name is not taken yet: the first file to name one wins, as in kubectl. */
function firstWins<T extends Named>(into: T[], from: readonly T[]): void {
  for (const entry of from) if (!into.some((e) => e.name === entry.name)) into.push(entry);
}

/**
 * KUBECONFIG's files merged with kubectl's rules (clientcmd): empty entries and files that do not
 * exist are skipped, the first file to set current-context wins, and a cluster, user or context
 * named in several files is taken from the first. client-node's loadFromDefault does not do this:
 * a later file's current-context replaces an earlier one, a name in two files throws, a missing
 * file throws, and it reads process.env rather than the environment the command was given.
 */
export function loadKubeconfigList(list: string): { kc: KubeConfig; files: string[] } {
  const clusters: KubeConfig['clusters'] = [];
  const users: KubeConfig['users'] = [];
  const contexts: KubeConfig['contexts'] = [];
  let currentContext = '';
  const files = list.split(delimiter).filter((f) => f !== '');
  const found = files.filter((f) => existsSync(f));
  if (found.length === 0) throw new Error(`none of the files in KUBECONFIG exists (${files.join(delimiter) || 'empty'})`);
  for (const file of found) {
    const kc = new KubeConfig();
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw new Error(`${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    if (currentContext === '') currentContext = kc.currentContext;
    firstWins(clusters, kc.clusters);
    firstWins(users, kc.users);
    firstWins(contexts, kc.contexts);
  }
  const merged = new KubeConfig();
  merged.loadFromOptions({ clusters, users, contexts, currentContext });
  return { kc: merged, files: found };
}

function readKubeconfig(file: string | undefined, env: NodeJS.ProcessEnv): { kc: KubeConfig; files: string[] } {
  if (file !== undefined) {
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    return { kc, files: [file] };
  }
  if (env.KUBECONFIG !== undefined && env.KUBECONFIG !== '') return loadKubeconfigList(env.KUBECONFIG);
  const home = join(env.HOME ?? homedir(), '.kube', 'config');
  if (existsSync(home)) return loadKubeconfigList(home);
  // Run inside a pod with no kubeconfig: its service account, as kubectl does.
  if (env.KUBERNETES_SERVICE_HOST !== undefined) {
    const kc = new KubeConfig();
    kc.loadFromCluster();
    return { kc, files: [] };
  }
  throw new Error(`no kubeconfig: KUBECONFIG is not set and ${home} does not exist`);
}

export function loadKube(flags: { kubeconfig?: string; context?: string; namespace?: string }, env: NodeJS.ProcessEnv): KubeAccess {
  let kc: KubeConfig;
  let files: string[];
  try {
    ({ kc, files } = readKubeconfig(flags.kubeconfig, env));
  } catch (err) {
    throw new UsageError(`cannot read the kubeconfig (${err instanceof Error ? err.message : String(err)}); pass --kubeconfig or set KUBECONFIG`);
  }
  if (flags.context !== undefined) {
    if (kc.getContextObject(flags.context) === null) throw new UsageError(`--context ${flags.context}: no such context in the kubeconfig (kubectl config get-contexts lists them)`);
    kc.setCurrentContext(flags.context);
  }
  if (kc.getCurrentCluster() === null) throw new UsageError('no current Kubernetes context: pass --context or run `kubectl config use-context NAME`');
  const namespace = flags.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  return { kc, namespace, objects: kc.makeApiClient(CustomObjectsApi), files };
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
