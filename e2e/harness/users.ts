// The test identities of the local control plane, in one place: tokens.csv, the per-user
// kubeconfigs and every test that acts "as alice" derive from this table. Tokens are random
// per run, so nothing reusable ever lands in the repository or in a log.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { runCommand, type CommandResult } from './exec.ts';

export const TEST_USERS = {
  admin: { groups: ['system:masters'] },
  alice: { groups: ['support'] },
  carl: { groups: ['contractors'] },
  dana: { groups: ['dpo'] },
  dave: { groups: ['dpo'] },
  audrey: { groups: ['auditors'] },
  eve: { groups: [] },
} as const satisfies Record<string, { groups: readonly string[] }>;

export type TestUser = keyof typeof TEST_USERS;
export const TEST_USER_NAMES = Object.keys(TEST_USERS) as TestUser[];

/** How a client reaches the apiserver as some user: what the harness state records. */
export interface KubeAccess {
  apiserverUrl: string;
  caFile: string;
  tokens: Record<TestUser, string>;
  kubeconfigs: Record<TestUser, string>;
  kubectlPath: string;
  /** kubectl's discovery cache, kept inside the run dir instead of ~/.kube/cache. */
  cacheDir: string;
}

export function generateTokens(): Record<TestUser, string> {
  const entries = TEST_USER_NAMES.map((user) => [user, randomBytes(24).toString('base64url')] as const);
  return Object.fromEntries(entries) as Record<TestUser, string>;
}

/** kube-apiserver's --token-auth-file: token,user,uid,"group1,group2". */
export function tokensCsv(tokens: Record<TestUser, string>): string {
  const lines = TEST_USER_NAMES.map((user) => {
    const groups: readonly string[] = TEST_USERS[user].groups;
    const base = `${tokens[user]},${user},uid-${user}`;
    return groups.length === 0 ? base : `${base},"${groups.join(',')}"`;
  });
  return `${lines.join('\n')}\n`;
}

function kubeconfigDocument(access: Pick<KubeAccess, 'apiserverUrl' | 'caFile'>, user: string, token: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'guarita-harness', cluster: { server: access.apiserverUrl, 'certificate-authority': access.caFile } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: user, context: { cluster: 'guarita-harness', user, namespace: 'default' } }],
    'current-context': user,
  };
}

/** Writes `<dir>/<user>.kubeconfig` for every test user (owner-readable only: they hold tokens). */
export function writeKubeconfigs(dir: string, access: Pick<KubeAccess, 'apiserverUrl' | 'caFile' | 'tokens'>): Record<TestUser, string> {
  const files = TEST_USER_NAMES.map((user) => {
    const file = join(dir, `${user}.kubeconfig`);
    writeFileSync(file, stringify(kubeconfigDocument(access, user, access.tokens[user])), { mode: 0o600 });
    return [user, file] as const;
  });
  return Object.fromEntries(files) as Record<TestUser, string>;
}

/** A @kubernetes/client-node KubeConfig acting as `user`. */
export function makeKubeConfig(access: Pick<KubeAccess, 'apiserverUrl' | 'caFile' | 'tokens'>, user: TestUser): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'guarita-harness', server: access.apiserverUrl, caFile: access.caFile, skipTLSVerify: false }],
    users: [{ name: user, token: access.tokens[user] }],
    contexts: [{ name: user, cluster: 'guarita-harness', user, namespace: 'default' }],
    currentContext: user,
  });
  return kc;
}

export interface KubectlOptions {
  user: TestUser;
  input?: string;
  timeoutMs?: number;
}

/** Runs the real kubectl binary as `user` against the harness apiserver. */
export function runKubectl(access: KubeAccess, args: readonly string[], opts: KubectlOptions): Promise<CommandResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.KUBECONFIG;
  return runCommand(access.kubectlPath, ['--kubeconfig', access.kubeconfigs[opts.user], '--cache-dir', access.cacheDir, ...args], {
    env,
    ...(opts.input === undefined ? {} : { input: opts.input }),
    timeoutMs: opts.timeoutMs ?? 60_000,
  });
}
