// A real kube-apiserver on loopback, with the flag set of envtest plus what the harness needs:
// static tokens for the test users, RBAC, and a service-account issuer and signing key so that
// TokenRequest mints audience-bound tokens and TokenReview validates them. No controller-manager
// runs (see docs: no default ServiceAccount, no GC, namespaces never finish terminating).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { createCa, mintServingCert, writePemFiles } from './certs.ts';
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

/**
 * An OIDC authenticator, for tests that need people authenticated by an IdP (the four-eyes check
 * against a real username mapping). `flags`: the legacy --oidc-* flags; without usernamePrefix the
 * apiserver's own default applies, `<issuerUrl>#` unless the claim is email. `config`: structured
 * authentication (--authentication-config, AuthenticationConfiguration jwt[].claimMappings), where
 * the prefix is required and the uid can be mapped from a claim.
 */
export interface ApiserverOidc {
  mode?: 'flags' | 'config';
  issuerUrl: string;
  clientId: string;
  /** CA of the IdP's serving certificate (the issuer must be https). */
  caFile: string;
  usernameClaim: string;
  usernamePrefix?: string;
  groupsClaim: string;
  /** config mode only: claimMappings.uid.claim. */
  uidClaim?: string;
}

function authenticationConfig(oidc: ApiserverOidc, dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'authentication.yaml');
  writeFileSync(file, stringify({
    apiVersion: 'apiserver.config.k8s.io/v1', kind: 'AuthenticationConfiguration',
    jwt: [{
      issuer: { url: oidc.issuerUrl, audiences: [oidc.clientId], certificateAuthority: readFileSync(oidc.caFile, 'utf8') },
      claimMappings: {
        username: { claim: oidc.usernameClaim, prefix: oidc.usernamePrefix ?? '' },
        groups: { claim: oidc.groupsClaim, prefix: '' },
        ...(oidc.uidClaim === undefined ? {} : { uid: { claim: oidc.uidClaim } }),
      },
    }],
  }));
  return file;
}

function oidcArgs(oidc: ApiserverOidc | undefined, dir: string): string[] {
  if (oidc === undefined) return [];
  if (oidc.mode === 'config') return [`--authentication-config=${authenticationConfig(oidc, dir)}`];
  return [
    `--oidc-issuer-url=${oidc.issuerUrl}`, `--oidc-client-id=${oidc.clientId}`, `--oidc-ca-file=${oidc.caFile}`,
    `--oidc-username-claim=${oidc.usernameClaim}`, `--oidc-groups-claim=${oidc.groupsClaim}`,
    ...(oidc.usernamePrefix === undefined ? [] : [`--oidc-username-prefix=${oidc.usernamePrefix}`]),
  ];
}

export interface ApiserverHandle {
  readonly url: string;
  readonly process: Supervised;
  /** CA of the client certificate the apiserver presents to every admission webhook (GUARITA_WEBHOOK_CLIENT_CA_FILE). */
  readonly webhookClientCaFile: string;
}

/**
 * The apiserver authenticates itself to admission webhooks with a client certificate, as users
 * configure it for Guarita (docs/webhook.md, "Who may call the webhook"): an AdmissionConfiguration
 * whose kubeConfigFile gives user "*" (every webhook host) a certificate from a CA of its own, so
 * webhooks started by tests can require it. Returns the --admission-control-config-file.
 */
async function writeAdmissionConfig(dir: string): Promise<{ configFile: string; clientCaFile: string }> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await createCa('guarita-harness-webhook-client-ca');
  const caFiles = writePemFiles(dir, 'webhook-client-ca', ca);
  const client = writePemFiles(dir, 'webhook-client', await mintServingCert(ca, { commonName: 'kube-apiserver-admission', dnsNames: ['kube-apiserver-admission'], ips: [], clientAuth: true }));
  const kubeConfigFile = join(dir, 'webhook-client.kubeconfig');
  writeFileSync(kubeConfigFile, stringify({
    apiVersion: 'v1', kind: 'Config',
    users: [{ name: '*', user: { 'client-certificate': client.certFile, 'client-key': client.keyFile } }],
  }), { mode: 0o600 });
  const webhookAdmission = { apiVersion: 'apiserver.config.k8s.io/v1', kind: 'WebhookAdmissionConfiguration', kubeConfigFile };
  const configFile = join(dir, 'admission.yaml');
  writeFileSync(configFile, stringify({
    apiVersion: 'apiserver.config.k8s.io/v1', kind: 'AdmissionConfiguration',
    plugins: ['ValidatingAdmissionWebhook', 'MutatingAdmissionWebhook'].map((name) => ({ name, configuration: webhookAdmission })),
  }));
  return { configFile, clientCaFile: caFiles.certFile };
}

function apiserverArgs(port: number, etcdUrl: string, files: ApiserverFiles, admissionConfigFile: string): string[] {
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
    `--admission-control-config-file=${admissionConfigFile}`,
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

export async function startApiserver(runDir: string, binDir: string, etcdUrl: string, files: ApiserverFiles, adminToken: string, oidc?: ApiserverOidc): Promise<ApiserverHandle> {
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  const admission = await writeAdmissionConfig(join(runDir, 'kube', 'admission'));
  const proc = supervise({
    name: 'kube-apiserver',
    command: join(binDir, 'kube-apiserver'),
    args: [...apiserverArgs(port, etcdUrl, files, admission.configFile), ...oidcArgs(oidc, join(runDir, 'kube', 'authentication'))],
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
  return { url, process: proc, webhookClientCaFile: admission.clientCaFile };
}
