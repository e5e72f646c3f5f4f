// How the sidecar reaches the apiserver of a kubernetes target: the endpoint URL, and the
// credential from the target's Secret, mounted into the sidecar only at
// <GUARITA_CREDENTIALS_DIR>/<target>/: a bearer token (tokenKey, default token) with ca.crt
// beside it (a kubernetes.io/service-account-token Secret has both keys) or tls.caSecretRef, or a
// kubeconfig (kubeconfigKey) whose current context gives a token or a client certificate and key
// and the CA. The agent never sees any of it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { AccessPolicy } from '../../../crds/types.ts';
import { readCredential } from '../targets.ts';
import { opt } from '../util.ts';

export interface KubeUpstream {
  /** https://host:port */
  origin: string;
  token?: string;
  tls: { rejectUnauthorized: boolean; ca?: string; cert?: string; key?: string; servername?: string };
}

function fromKubeconfig(policy: AccessPolicy, credentialsDir: string, key: string): KubeUpstream {
  const target = policy.spec.target;
  const field = 'spec.target.credentialsSecretRef.kubeconfigKey';
  const kc = new KubeConfig();
  try {
    kc.loadFromString(readCredential(credentialsDir, target.name, key, field));
  } catch (err) {
    throw new Error(`${field}: the kubeconfig in key "${key}" cannot be read: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const user = kc.getCurrentUser();
  const cluster = kc.getCurrentCluster();
  if (user === null || cluster === null) throw new Error(`${field}: the kubeconfig in key "${key}" has no current context with a cluster and a user`);
  const decode = (b64: string | undefined): string | undefined => (b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8'));
  const cert = decode(user.certData);
  const keyPem = decode(user.keyData);
  if (user.token === undefined && (cert === undefined || keyPem === undefined)) {
    throw new Error(`${field}: the kubeconfig's user has neither token nor client-certificate-data and client-key-data (exec plugins and files outside the Secret are not supported)`);
  }
  return {
    origin: new URL(target.endpoint).origin,
    ...opt('token', user.token),
    tls: { rejectUnauthorized: cluster.skipTLSVerify !== true, ...opt('ca', decode(cluster.caData)), ...opt('cert', cert), ...opt('key', keyPem), ...opt('servername', target.tls?.serverName ?? cluster.tlsServerName) },
  };
}

/** The CA to verify the apiserver with: tls.caSecretRef, else ca.crt beside the token (a service-account token Secret's key). */
function apiserverCa(policy: AccessPolicy, credentialsDir: string): string | undefined {
  const target = policy.spec.target;
  const caRef = target.tls?.caSecretRef;
  if (caRef !== undefined) return readCredential(credentialsDir, target.name, caRef.key, 'spec.target.tls.caSecretRef');
  return existsSync(join(credentialsDir, target.name, 'ca.crt')) ? readCredential(credentialsDir, target.name, 'ca.crt', 'ca.crt') : undefined;
}

export function kubeUpstream(policy: AccessPolicy, credentialsDir: string): KubeUpstream {
  const target = policy.spec.target;
  const ref = target.credentialsSecretRef;
  if (ref === undefined) throw new Error('spec.target.credentialsSecretRef is required for a kubernetes target');
  if (ref.kubeconfigKey !== undefined) return fromKubeconfig(policy, credentialsDir, ref.kubeconfigKey);
  const tokenKey = ref.tokenKey ?? 'token';
  const token = readCredential(credentialsDir, target.name, tokenKey, 'spec.target.credentialsSecretRef.tokenKey').trim();
  if (token === '') throw new Error(`spec.target.credentialsSecretRef.tokenKey: key "${tokenKey}" is empty`);
  const mode = target.tls?.mode ?? 'verify-full';
  return { origin: new URL(target.endpoint).origin, token, tls: { rejectUnauthorized: mode === 'verify-full', ...opt('ca', apiserverCa(policy, credentialsDir)), ...opt('servername', target.tls?.serverName) } };
}
