// X.509 for the harness: one CA per run and serving certificates it signs. The kube-apiserver
// gets one here; webhooks and sidecars started by tests mint their own with mintServingCert
// (SAN IP:127.0.0.1 and DNS:localhost: everything listens on loopback), so clients only ever
// trust the run's CA. ECDSA P-256: fast to generate on 2 cores, accepted by Go's and Node's TLS.
import { webcrypto } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as X509 from '@peculiar/x509';
import { loadX509 } from '../../core/tls/x509.ts';

// Node's WebCrypto, passed explicitly to @peculiar/x509 rather than relying on a global provider.
type CryptoKey = webcrypto.CryptoKey;
type Algorithm = webcrypto.Algorithm;
const crypto = webcrypto;
const EC_KEY: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const EC_SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const DAY_MS = 24 * 3600 * 1000;

export interface CertificateAuthority {
  readonly cert: X509.X509Certificate;
  readonly privateKey: CryptoKey;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface IssuedCertificate {
  readonly cert: X509.X509Certificate;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface ServingCertOptions {
  commonName?: string;
  ips?: readonly string[];
  dnsNames?: readonly string[];
  validDays?: number;
  /** Also allow client authentication (for mTLS between test components). */
  clientAuth?: boolean;
}

export interface PemFiles {
  certFile: string;
  keyFile: string;
}

function randomSerial(): string {
  // Positive 64-bit serial: a leading 0x01..0x7f byte keeps the DER integer positive.
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  bytes[0] = ((bytes[0] ?? 1) & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  // Back-dated an hour so a slightly skewed clock in a child process never sees "not yet valid".
  const now = Date.now();
  return { notBefore: new Date(now - 3600_000), notAfter: new Date(now + days * DAY_MS) };
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const x509 = await loadX509();
  return x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

type KeyAlgorithm = webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;

/** The CA key's algorithm, as parsed from its certificate (ECDSA for ours; RSA accepted too). */
function keyAlgorithm(cert: X509.X509Certificate): KeyAlgorithm {
  return (cert.publicKey as unknown as { algorithm: KeyAlgorithm }).algorithm;
}

function signingAlgorithm(cert: X509.X509Certificate): Algorithm {
  const alg = keyAlgorithm(cert);
  return alg.name === 'ECDSA' ? EC_SIGNING : ({ name: alg.name, hash: 'SHA-256' } as Algorithm);
}

export async function createCa(commonName = 'guarita-harness-ca', validDays = 365): Promise<CertificateAuthority> {
  const x509 = await loadX509();
  const keys = await crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${commonName}`,
    ...validity(validDays),
    keys,
    signingAlgorithm: EC_SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    ],
  }, crypto);
  return { cert, privateKey: keys.privateKey, certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

/** Rebuilds a CA from PEM (e.g. the run's ca.crt/ca.key from the harness state) to mint more certs. */
export async function loadCa(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const x509 = await loadX509();
  const cert = new x509.X509Certificate(certPem);
  const der = x509.PemConverter.decodeFirst(keyPem);
  const privateKey = await crypto.subtle.importKey('pkcs8', der, keyAlgorithm(cert), true, ['sign']);
  return { cert, privateKey, certPem, keyPem };
}

export async function loadCaFiles(files: PemFiles): Promise<CertificateAuthority> {
  return loadCa(readFileSync(files.certFile, 'utf8'), readFileSync(files.keyFile, 'utf8'));
}

/** A serving certificate signed by `ca`, valid for 127.0.0.1 and localhost unless told otherwise. */
export async function mintServingCert(ca: CertificateAuthority, opts: ServingCertOptions = {}): Promise<IssuedCertificate> {
  const x509 = await loadX509();
  const keys = await crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const names: X509.JsonGeneralName[] = [
    ...(opts.ips ?? ['127.0.0.1']).map((value) => ({ type: 'ip' as const, value })),
    ...(opts.dnsNames ?? ['localhost']).map((value) => ({ type: 'dns' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${opts.commonName ?? 'localhost'}`,
    issuer: ca.cert.subject,
    ...validity(opts.validDays ?? 365),
    publicKey: keys.publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: signingAlgorithm(ca.cert),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension(opts.clientAuth === true ? [SERVER_AUTH, CLIENT_AUTH] : [SERVER_AUTH]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey, false, crypto),
    ],
  }, crypto);
  return { cert, certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

/** Writes `<dir>/<base>.crt` and `<dir>/<base>.key` (the key readable by its owner only). */
export function writePemFiles(dir: string, base: string, pair: { certPem: string; keyPem: string }): PemFiles {
  const certFile = join(dir, `${base}.crt`);
  const keyFile = join(dir, `${base}.key`);
  writeFileSync(certFile, pair.certPem);
  writeFileSync(keyFile, pair.keyPem, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  return { certFile, keyFile };
}
