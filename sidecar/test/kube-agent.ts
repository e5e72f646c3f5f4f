// What the Kubernetes-target tests share: the sidecar's own apiserver credential (a service account
// with the Role a test needs), the agent's injected-style KUBECONFIG, and kubectl run as the agent
// with nothing but that KUBECONFIG.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { requireKube } from '../../e2e/harness/state.ts';
import { apply, createServiceAccount, serviceAccountToken } from '../../e2e/support/kube-apply.ts';

const run = promisify(execFile);

export interface Ran { code: number; stdout: string; stderr: string }

/** A service account `name` of `namespace` bound to a Role with `rules`; its token (2 h). */
export async function readerCredential(namespace: string, name: string, rules: readonly Record<string, unknown>[]): Promise<string> {
  await createServiceAccount(namespace, name);
  await apply([
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name, namespace }, rules },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name, namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name }, subjects: [{ kind: 'ServiceAccount', name, namespace }] },
  ]);
  return serviceAccountToken(namespace, name, undefined, 7200);
}

/**
 * The KUBECONFIG the injector gives an agent: the sidecar's listener with the purpose in the
 * server path, the sidecar's CA, the agent's token from a file. Written in `dir`; its path.
 */
export function writeAgentKubeconfig(o: { dir: string; listenPort: number; purpose: string; target: string; namespace: string; token: string; caFile: string }): string {
  const tokenFile = join(o.dir, 'agent-token');
  writeFileSync(tokenFile, o.token, { mode: 0o600 });
  const file = join(o.dir, 'agent.kubeconfig');
  writeFileSync(file, stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': o.purpose,
    clusters: [{ name: o.target, cluster: { server: `https://127.0.0.1:${o.listenPort}/guarita-purpose/${o.purpose}`, 'certificate-authority': o.caFile } }],
    users: [{ name: 'agent', user: { tokenFile } }],
    contexts: [{ name: o.purpose, context: { cluster: o.target, user: 'agent', namespace: o.namespace } }],
  }));
  return file;
}

export interface AgentKubectl {
  /** kubectl with the agent's KUBECONFIG only (`input`: its stdin; `env`: more environment). */
  run(args: readonly string[], o?: { input?: string; env?: Record<string, string> }): Promise<Ran>;
  /** The same, its stdout; a failure throws with kubectl's stderr and the sidecar's last log lines. */
  ok(args: readonly string[], o?: { input?: string }): Promise<string>;
}

export function agentKubectl(kubeconfig: () => string, home: () => string, sidecarLog: () => string): AgentKubectl {
  const runAs = async (args: readonly string[], o: { input?: string; env?: Record<string, string> } = {}): Promise<Ran> => {
    const bin = join(requireKube().binDir, 'kubectl');
    const full = ['--kubeconfig', kubeconfig(), '--cache-dir', join(home(), 'kcache'), ...args];
    const env = { PATH: process.env.PATH ?? '', HOME: home(), ...o.env };
    if (o.input !== undefined) {
      const child = spawn(bin, full, { env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      child.stdin.end(o.input);
      const [code] = await once(child, 'exit') as [number | null];
      return { code: code ?? 1, stdout, stderr };
    }
    try {
      const { stdout, stderr } = await run(bin, full, { env, timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };
  return {
    run: runAs,
    ok: async (args, o = {}) => {
      const r = await runAs(args, o);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}\n${sidecarLog()}`);
      return r.stdout;
    },
  };
}
