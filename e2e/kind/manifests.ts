// What the kind scenario applies and expects: the example itself (examples/lgpd-orders, a
// kustomization applied as users apply it, `kubectl apply -k`), and the facts about it the checks
// need (names, the held export, the seeded identifiers that must never reach the agent).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { runCommand } from '../harness/exec.ts';
import { EXAMPLE_DIR, type Manifest } from '../support/examples.ts';

/** The opted-in namespace of the agent, and the one of the database and customers API. */
export const AGENTS_NAMESPACE = 'lgpd-orders';
export const DATA_NAMESPACE = 'orders-data';
/** The agent Job, its ServiceAccount and the label its pod carries. */
export const AGENT = 'support-agent';
/** The agent's second Job, which runs kubectl through the Kubernetes API target, and that target's policy. */
export const KUBECTL_AGENT = 'support-agent-kubectl';
export const KUBERNETES_POLICY = 'kubernetes-api';
/**
 * How the approver reads the agent's held `kubectl exec` into the database pod: the kubectl-like
 * line of the request (core/policy/kubernetes-request.ts describeKubernetesRequest), then the request.
 */
export function isDatabaseExec(commandText: string): boolean {
  return /^kubectl create pods\/exec orders-db-\S+ -n orders-data\n/.test(commandText);
}
/** The agent's third Job, which runs ssh, scp and sftp through the SSH target, and that target's policy. */
export const SSH_AGENT = 'support-agent-ssh';
export const SSH_POLICY = 'orders-host';
/**
 * How the approver reads the SSH Job's held backup read (rule dumps-and-backups-need-dpo): the exact
 * command, under the host's backup directory (/var/backups on orders-host; elsewhere on the local
 * control plane, where the Job's BACKUP_DIR points at the test's host).
 */
export function isBackupRead(commandText: string): boolean {
  return /^head -n 4 (?:\/[\w.-]+)*\/var\/backups\/orders-2026-12-04\.sql$/.test(commandText);
}
/** Statement the agent retries until the DPO approves it (the policy's copyExport rule). */
export const EXPORT_SQL = 'COPY (SELECT id, cpf, email FROM customers ORDER BY id LIMIT 2) TO STDOUT';

/** `kubectl kustomize` of a kustomization directory (default: the example), as `kubectl apply -k` would apply it. */
export async function kustomize(kubectl: string, dir: string = EXAMPLE_DIR): Promise<Manifest[]> {
  const result = await runCommand(kubectl, ['kustomize', dir], { timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(`kubectl kustomize ${dir}: ${result.stderr}`);
  return parseAllDocuments(result.stdout).map((d) => d.toJS() as Manifest | null).filter((d): d is Manifest => d !== null);
}

/** Seed rows the agent reads or exports, raw: none of these strings may appear in its output. */
export function rawIdentifiers(ids: readonly number[]): string[] {
  const seed = readFileSync(join(EXAMPLE_DIR, 'seed.sql'), 'utf8');
  return ids.flatMap((id) => {
    const row = new RegExp(`^\\s*\\(${id}, '[^']*', '([^']+)', (?:NULL|'[^']*'), '([^']+)', '([^']+)'`, 'm').exec(seed);
    if (row === null) throw new Error(`customer ${id} not found in seed.sql`);
    return [row[1] ?? '', row[2] ?? '', row[3] ?? ''];
  });
}

export function seededCustomers(): number {
  return readFileSync(join(EXAMPLE_DIR, 'seed.sql'), 'utf8').split('\n').filter((l) => /^\s*\(\d+, '/.test(l)).length;
}
