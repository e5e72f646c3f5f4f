// The local control plane: run CA and keys, etcd, kube-apiserver, and one kubeconfig per test
// user. Certificates are made while etcd starts, since the apiserver needs both.
import { generateKeyPair } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startApiserver, SERVICE_ACCOUNT_ISSUER, type ApiserverOidc } from './apiserver.ts';
import { createCa, mintServingCert, writePemFiles } from './certs.ts';
import { startEtcd } from './etcd.ts';
import { progress } from './log.ts';
import type { Supervised } from './supervisor.ts';
import { generateTokens, tokensCsv, writeKubeconfigs, type KubeAccess } from './users.ts';

export interface KubeCoordinates extends KubeAccess {
  etcdUrl: string;
  /** The run's CA key: tests mint webhook/sidecar serving certs with loadCaFiles + mintServingCert. */
  caKeyFile: string;
  serviceAccountIssuer: string;
  binDir: string;
  /** CA of the apiserver's admission-webhook client certificate (absent in state files of older harness runs). */
  webhookClientCaFile?: string;
}

export interface KubeHandle {
  readonly coordinates: KubeCoordinates;
  /** In start order; stop in reverse. */
  readonly processes: Supervised[];
}

interface PkiFiles {
  caFile: string;
  caKeyFile: string;
  certFile: string;
  keyFile: string;
  serviceAccountKeyFile: string;
}

async function writePki(pkiDir: string): Promise<PkiFiles> {
  const ca = await createCa('guarita-harness-ca');
  const caFiles = writePemFiles(pkiDir, 'ca', ca);
  const serving = writePemFiles(pkiDir, 'apiserver', await mintServingCert(ca, {
    commonName: 'kube-apiserver',
    ips: ['127.0.0.1'],
    dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
  }));
  // RSA for service-account tokens (RS256), as kubeadm does; one key serves both SA flags.
  const { privateKey } = await promisify(generateKeyPair)('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const serviceAccountKeyFile = join(pkiDir, 'sa.key');
  writeFileSync(serviceAccountKeyFile, privateKey, { mode: 0o600 });
  return { caFile: caFiles.certFile, caKeyFile: caFiles.keyFile, certFile: serving.certFile, keyFile: serving.keyFile, serviceAccountKeyFile };
}

export async function startKube(runDir: string, binDir: string, opts: { oidc?: ApiserverOidc } = {}): Promise<KubeHandle> {
  const kubeDir = join(runDir, 'kube');
  const pkiDir = join(kubeDir, 'pki');
  mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
  mkdirSync(join(kubeDir, 'cache'), { recursive: true });
  const tokens = generateTokens();
  const tokensFile = join(kubeDir, 'tokens.csv');
  writeFileSync(tokensFile, tokensCsv(tokens), { mode: 0o600 });

  const [etcdResult, pkiResult] = await Promise.allSettled([startEtcd(runDir, binDir), writePki(pkiDir)]);
  if (pkiResult.status === 'rejected') {
    if (etcdResult.status === 'fulfilled') await etcdResult.value.process.stop();
    throw pkiResult.reason;
  }
  if (etcdResult.status === 'rejected') throw etcdResult.reason;
  const etcd = etcdResult.value;
  const pki = pkiResult.value;
  progress('kube', 'certificates and service-account key written');
  const processes: Supervised[] = [etcd.process];
  try {
    const apiserver = await startApiserver(runDir, binDir, etcd.clientUrl, { ...pki, tokensFile, certDir: join(kubeDir, 'certs') }, tokens.admin, opts.oidc);
    processes.push(apiserver.process);
    const access = { apiserverUrl: apiserver.url, caFile: pki.caFile, tokens };
    const kubeconfigs = writeKubeconfigs(kubeDir, access);
    return {
      coordinates: {
        ...access, kubeconfigs, kubectlPath: join(binDir, 'kubectl'), cacheDir: join(kubeDir, 'cache'),
        etcdUrl: etcd.clientUrl, caKeyFile: pki.caKeyFile, serviceAccountIssuer: SERVICE_ACCOUNT_ISSUER, binDir,
        webhookClientCaFile: apiserver.webhookClientCaFile,
      },
      processes,
    };
  } catch (err) {
    await Promise.all(processes.map((p) => p.stop()));
    throw err;
  }
}
