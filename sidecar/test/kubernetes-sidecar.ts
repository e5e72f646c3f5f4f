// The Kubernetes attack suites' common set-up: an AccessPolicy for the `cluster` target (discovery
// allowed, then the suite's rules and masking), the sidecar process serving it with a reader
// credential, and the agent's service-account token, CA and kubeconfig. Each suite keeps what is
// its own (CRDs, objects, the reader's RBAC rules, settings) and its tests.
import { mkdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { freePorts } from '../../e2e/harness/ports.ts';
import { requireKube } from '../../e2e/harness/state.ts';
import type { GuaritaSystem } from '../../e2e/support/guarita-system.ts';
import { apply, grantSessionReaders, serviceAccountToken } from '../../e2e/support/kube-apply.ts';
import { installCrds } from '../../e2e/support/kubectl.ts';
import { createServingIdentity } from '../src/kubernetes/serving-cert.ts';
import { writeAgentKubeconfig } from './kube-agent.ts';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/log.ts';
import { startSidecar, type RunningSidecar } from '../src/sidecar.ts';
import { mountCredentials, NO_OPERATOR, sidecarEnv, sidecarFixture, startSidecarProcess, type SidecarFixture, type SidecarProcess } from './support.ts';

export const KUBE_POLICY = 'cluster-access';
export const KUBE_TARGET = 'cluster';
export const KUBE_PURPOSE = 'troubleshooting';

/** kubectl's discovery (API groups, OpenAPI, version), allowed first in every suite's policy. */
export const DISCOVERY_RULE = { name: 'discovery', match: { kubernetes: { verbs: ['get'], nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/openapi/*', '/version'] } }, action: 'allow' };

/** The suite's AccessPolicy: the `support-agent` service account, purpose troubleshooting, discovery then `rules`. */
export function kubernetesPolicy(ns: string, listenPort: number, rules: readonly Record<string, unknown>[], masking: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: KUBE_POLICY, namespace: ns },
    spec: {
      podSelector: { matchLabels: { app: 'support-agent' } },
      target: { name: KUBE_TARGET, protocol: 'kubernetes', endpoint: requireKube().apiserverUrl, listenPort, credentialsSecretRef: { name: 'cluster-reader-token' } },
      identity: { serviceAccounts: { audiences: ['guarita'] } },
      subjects: [{ kind: 'ServiceAccount', name: 'support-agent', namespace: ns }],
      purposes: [{ name: KUBE_PURPOSE }],
      rules: [DISCOVERY_RULE, ...rules],
      masking,
    },
  };
}

export interface KubernetesSidecar {
  fx: SidecarFixture;
  sidecar: SidecarProcess;
  listenPort: number;
  agentToken: string;
  /** The sidecar's serving CA for the target, as the agent trusts it. */
  caPem: string;
  agentKubeconfig: string;
}

/**
 * Applies the suite's policy (`policy(listenPort)`), then starts the sidecar with the reader's token
 * as the target credential, and writes the agent's kubeconfig; auditors may read the sessions.
 */
export async function startKubernetesSidecar(o: {
  system: GuaritaSystem;
  readerToken: string;
  policy: (listenPort: number) => Record<string, unknown>;
  env?: Record<string, string>;
}): Promise<KubernetesSidecar> {
  const ns = o.system.ns;
  await apply([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cluster-reader-token', namespace: ns }, stringData: { token: o.readerToken } }]);
  const [listenPort = 0] = await freePorts(1);
  await apply([o.policy(listenPort)]);
  const fx = await sidecarFixture(ns);
  mountCredentials(fx, KUBE_TARGET, { token: o.readerToken, 'ca.crt': readFileSync(requireKube().caFile, 'utf8') });
  const caDir = join(fx.dir, 'kube');
  mkdirSync(caDir);
  const sidecar = await startSidecarProcess(fx, {
    targets: [{ policy: KUBE_POLICY, target: KUBE_TARGET, protocol: 'kubernetes', listenPort }], operatorUrl: o.system.op.url,
    env: { GUARITA_KUBE_CA_DIR: caDir, ...o.env },
  });
  await grantSessionReaders(ns, { kind: 'Group', name: 'auditors' });
  const agentToken = await serviceAccountToken(ns, 'support-agent', 'guarita', 7200);
  const caFile = join(caDir, KUBE_TARGET, 'ca.crt');
  const agentKubeconfig = writeAgentKubeconfig({ dir: fx.dir, listenPort, purpose: KUBE_PURPOSE, target: KUBE_TARGET, namespace: ns, token: agentToken, caFile });
  return { fx, sidecar, listenPort, agentToken, caPem: readFileSync(caFile, 'utf8'), agentKubeconfig };
}

/**
 * The sidecar in this process with one kubernetes target (`cluster`, purpose troubleshooting, policy
 * `cluster-access` with `rules` only, partial masking) at `endpoint`, reached with `token` and trusting
 * `caPem`; no operator. In-process, the listener's answer budget is what the memory limit leaves above
 * Jest's own size (answer-memory.ts): the limit is set to 16 GiB.
 */
export async function startInProcessKubeSidecar(ns: string, o: { endpoint: string; token: string; caPem: string; rules: unknown[] }): Promise<{ sidecar: RunningSidecar; port: number }> {
  const [listenPort = 0, adminPort = 0] = await freePorts(2);
  const fx = await sidecarFixture(ns);
  mountCredentials(fx, KUBE_TARGET, { token: o.token, 'ca.crt': o.caPem });
  const caDir = join(fx.dir, 'kube');
  mkdirSync(caDir);
  await apply([
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cluster-reader-token', namespace: ns }, stringData: { token: o.token } },
    {
      apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: KUBE_POLICY, namespace: ns },
      spec: {
        podSelector: { matchLabels: { app: 'support-agent' } },
        target: { name: KUBE_TARGET, protocol: 'kubernetes', endpoint: o.endpoint, listenPort, credentialsSecretRef: { name: 'cluster-reader-token' } },
        identity: { serviceAccounts: { audiences: ['guarita'] } },
        subjects: [{ kind: 'ServiceAccount', name: 'support-agent', namespace: ns }],
        purposes: [{ name: KUBE_PURPOSE }],
        rules: o.rules,
        masking: { style: 'partial' },
      },
    },
  ]);
  const config = loadConfig(sidecarEnv(fx, { targets: [{ policy: KUBE_POLICY, target: KUBE_TARGET, protocol: 'kubernetes', listenPort }], operatorUrl: NO_OPERATOR, env: {
    GUARITA_KUBE_CA_DIR: caDir,
    GUARITA_KUBE_MEMORY_LIMIT: String(16 * 1024 ** 3),
  } }, adminPort));
  const sidecar = await startSidecar(config, silentLogger());
  await sidecar.ready;
  return { sidecar, port: listenPort };
}

/**
 * The namespace `ns`, a stand-in apiserver over TLS on 127.0.0.1 (`answer` is called for each request
 * once its body was read), the in-process sidecar in front of it (startInProcessKubeSidecar, the reader
 * token `reader-token`) allowing `rules`, and the agent's service-account token (1 h).
 */
export async function startStandInKube(ns: string, answer: (req: IncomingMessage, res: ServerResponse) => void, rules: unknown[]): Promise<{ apiserver: Server; sidecar: RunningSidecar; port: number; token: string }> {
  await installCrds();
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  const identity = await createServingIdentity('fake-apiserver');
  const apiserver = createHttpsServer({ cert: identity.certPem, key: identity.keyPem }, (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => answer(req, res));
  });
  await new Promise<void>((r) => apiserver.listen(0, '127.0.0.1', r));
  const { sidecar, port } = await startInProcessKubeSidecar(ns, {
    endpoint: `https://127.0.0.1:${(apiserver.address() as AddressInfo).port}`, token: 'reader-token', caPem: identity.caPem, rules,
  });
  const token = await serviceAccountToken(ns, 'support-agent', 'guarita', 3600);
  return { apiserver, sidecar, port, token };
}
