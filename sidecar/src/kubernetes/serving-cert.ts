// The kubernetes listener's TLS identity. kubectl only sends its bearer token over a verified TLS
// connection to the server its KUBECONFIG names, so the sidecar serves https on 127.0.0.1 with a
// certificate it makes at start: a CA and a serving certificate it signs (127.0.0.1, ::1,
// localhost), ECDSA P-256, made with @peculiar/x509. Only the CA certificate leaves the process:
// it is written to <GUARITA_KUBE_CA_DIR>/<target>/ca.crt, the file the injected KUBECONFIG names
// as certificate-authority (a volume shared with the agent containers). The keys stay in memory, so
// a restart makes a new CA and rewrites the file: kubectl reads it at every invocation.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, webcrypto } from 'node:crypto';
import { loadX509 } from '../../../core/tls/x509.ts';

const EC_KEY: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const EC_SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const VALIDITY_MS = 397 * 24 * 3600_000;
const BACKDATE_MS = 5 * 60_000;

export interface ServingIdentity { caPem: string; certPem: string; keyPem: string }

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key)).toString('base64');
  return `-----BEGIN PRIVATE KEY-----\n${der.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  return b.toString('hex');
}

/** A fresh CA and a serving certificate for the loopback names, signed by it. */
export async function createServingIdentity(target: string, now = new Date()): Promise<ServingIdentity> {
  const x509 = await loadX509();
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const notAfter = new Date(now.getTime() + VALIDITY_MS);
  const caKeys = await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(), name: `CN=guarita-proxy ${target} CA`, notBefore, notAfter, keys: caKeys, signingAlgorithm: EC_SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey, false, webcrypto),
    ],
  }, webcrypto);
  const keys = await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(), subject: 'CN=127.0.0.1', issuer: ca.subject, notBefore, notAfter, publicKey: keys.publicKey, signingKey: caKeys.privateKey, signingAlgorithm: EC_SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([SERVER_AUTH]),
      new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }, { type: 'ip', value: '::1' }, { type: 'dns', value: 'localhost' }]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey, false, webcrypto),
    ],
  }, webcrypto);
  return { caPem: ca.toString('pem'), certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** Writes the CA certificate where the agents' KUBECONFIG expects it (atomically: kubectl may read it meanwhile). */
export function publishCa(caDir: string, target: string, caPem: string): string {
  const dir = join(caDir, target);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'ca.crt');
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, caPem, { mode: 0o644 });
  renameSync(tmp, file);
  return file;
}
