// A real kube-apiserver on loopback, with the flag set of envtest plus what the harness needs:
// static tokens for the test users, RBAC, and a service-account issuer and signing key so that
// TokenRequest mints audience-bound tokens and TokenReview validates them. No controller-manager
// runs (see docs: no default ServiceAccount, no GC, namespaces never finish terminating).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { progress } from './log.ts';
import { freePort } from './ports.ts';
import { supervise, waitUntilReady, type Supervised } from './supervisor.ts';

export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface ApiserverFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
  serviceAccountKeyFile: string;
  tokensFile: string;
  certDir: string;
}

export interface ApiserverHandle {
  readonly url: string;
  readonly process: Supervised;
}

function apiserverArgs(port: number, etcdUrl: string, files: ApiserverFiles): string[] {
  return [
    `--etcd-servers=${etcdUrl}`,
    '--bind-address=127.0.0.1', `--secure-port=${port}`,
    // Otherwise the apiserver advertises eth0, and the loopback endpoint fails validation.
    '--advertise-address=127.0.0.1', '--endpoint-reconciler-type=none',
    `--tls-cert-file=${files.certFile}`, `--tls-private-key-file=${files.keyFile}`, `--cert-dir=${files.certDir}`,
    `--token-auth-file=${files.tokensFile}`, '--authorization-mode=RBAC',
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${files.serviceAccountKeyFile}`,
    `--service-account-signing-key-file=${files.serviceAccountKeyFile}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    // No token controller, so no default ServiceAccount: the ServiceAccount admission plugin would reject every Pod.
    '--disable-admission-plugins=ServiceAccount',
    // Services referenced by webhooks/APIServices resolve through Endpoints (none exist), never a 10.0.0.x ClusterIP.
    '--enable-aggregator-routing=true',
    '--allow-privileged=true', '--profiling=false', '--v=1',
  ];
}

async function ready(url: string, dispatcher: Agent, token: string): Promise<boolean> {
  const res = await request(`${url}/readyz`, { dispatcher, headers: { authorization: `Bearer ${token}` }, headersTimeout: 5000 });
  await res.body.text();
  return res.statusCode === 200;
}

export async function startApiserver(runDir: string, binDir: string, etcdUrl: string, files: ApiserverFiles, adminToken: string): Promise<ApiserverHandle> {
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  const proc = supervise({
    name: 'kube-apiserver',
    command: join(binDir, 'kube-apiserver'),
    args: apiserverArgs(port, etcdUrl, files),
    logFile: join(runDir, 'logs', 'kube-apiserver.log'),
  });
  progress('apiserver', `starting on ${url}`);
  const dispatcher = new Agent({ connect: { ca: readFileSync(files.caFile, 'utf8') } });
  try {
    await waitUntilReady(proc, 'ready (/readyz)', () => ready(url, dispatcher, adminToken), { timeoutMs: 90_000, intervalMs: 250 });
  } finally {
    await dispatcher.close();
  }
  progress('apiserver', 'ready');
  return { url, process: proc };
}
