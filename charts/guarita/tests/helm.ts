// Runs the pinned helm (.cache/bin, built by e2e/tools/build.sh) on this chart and parses what it
// renders. Shared by the unit tests (lint, template) and the install test on the harness apiserver.
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { runCommand, type CommandResult } from '../../../e2e/harness/exec.ts';
import { binDir } from '../../../e2e/harness/paths.ts';

export const CHART_DIR = join(import.meta.dirname, '..');
/** The value the chart requires (webhook.clientAuth's CA): every render and install below adds it unless `bare`. */
export const REQUIRED_VALUES = join(import.meta.dirname, 'values-required.yaml');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  /** `--set` assignments. */
  set?: readonly string[];
  /** Values files (absolute paths). */
  values?: readonly string[];
  /** Render without REQUIRED_VALUES (to test the refusal). */
  bare?: boolean;
  /** The apiserver version rendered for (--kube-version; default 1.34.0). */
  kubeVersion?: string;
}

export function helmPath(): string {
  return join(binDir(), 'helm');
}

/** Runs helm with an isolated home (no repositories, no plugins, no user config). */
export function helm(args: readonly string[], opts: { kubeconfig?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, HELM_CACHE_HOME: '/tmp/guarita-helm/cache', HELM_CONFIG_HOME: '/tmp/guarita-helm/config', HELM_DATA_HOME: '/tmp/guarita-helm/data' };
  delete env.KUBECONFIG;
  const kube = opts.kubeconfig === undefined ? [] : ['--kubeconfig', opts.kubeconfig];
  return runCommand(helmPath(), [...args, ...kube], { env, timeoutMs: opts.timeoutMs ?? 60_000 });
}

export function valueArgs(o: RenderOptions): string[] {
  const files = [...(o.bare === true ? [] : [REQUIRED_VALUES]), ...(o.values ?? [])];
  return [...files.flatMap((f) => ['-f', f]), ...(o.set ?? []).flatMap((s) => ['--set', s])];
}

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((d): d is K8sObject => d !== null && typeof d === 'object' && 'kind' in d);
}

/** `helm template`; rejects with helm's message when rendering fails. */
export async function template(o: RenderOptions = {}): Promise<K8sObject[]> {
  const result = await templateRaw(o);
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseManifests(result.stdout);
}

export function templateRaw(o: RenderOptions = {}): Promise<CommandResult> {
  return helm(['template', o.release ?? 'guarita', CHART_DIR, '--namespace', o.namespace ?? 'guarita-system', '--kube-version', o.kubeVersion ?? '1.34.0', ...valueArgs(o)]);
}

export function find(objects: readonly K8sObject[], kind: string, name?: string, namespace?: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name) && (namespace === undefined || o.metadata.namespace === namespace));
}

export function one(objects: readonly K8sObject[], kind: string, name?: string, namespace?: string): K8sObject {
  const found = find(objects, kind, name, namespace);
  if (found.length !== 1) throw new Error(`expected one ${kind}${name === undefined ? '' : ` ${name}`}, found ${found.length}`);
  return found[0] as K8sObject;
}

export interface PolicyRule { apiGroups?: string[]; resources?: string[]; resourceNames?: string[]; verbs: string[]; nonResourceURLs?: string[] }

export function rules(role: K8sObject): PolicyRule[] {
  return (role.rules ?? []) as PolicyRule[];
}
