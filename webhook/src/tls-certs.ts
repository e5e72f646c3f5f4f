// The webhook's certificates: a CA and a serving certificate it signs (ECDSA P-256, made with
// @peculiar/x509), and the decision of what to renew. Inspection uses node:crypto's X509Certificate.
import { webcrypto, X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { loadX509 } from '../../core/tls/x509.ts';

const EC_KEY: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const EC_SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
/** Certificates start this far in the past, so a skewed clock (apiserver, other replica) accepts them. */
export const BACKDATE_MS = 5 * 60_000;

/**
 * Everything the Secret holds. `bundlePem`: the CAs the apiserver must trust (current first, then
 * the staged next CA and still-valid previous ones). `next*`: a CA already trusted through the
 * bundle but not yet signing: CA rotation is two-phase, so the apiserver has long trusted a CA
 * (and every replica has long published it) before any certificate it signed is served.
 */
export interface TlsMaterial {
  caCertPem: string;
  caKeyPem: string;
  certPem: string;
  keyPem: string;
  bundlePem: string;
  nextCaCertPem?: string;
  nextCaKeyPem?: string;
}

export interface TlsPolicy {
  dnsNames: readonly string[];
  ips: readonly string[];
  caValidityMs: number;
  certValidityMs: number;
  /** Renew (serving) or promote the next CA when less than this fraction of the lifetime remains (default 1/3). */
  renewFraction: number;
}

/** The next CA is staged (trusted, not yet signing) when this fraction of the current CA's lifetime remains. */
export const STAGE_FRACTION = 1 / 2;

export type TlsPlan =
  | { action: 'keep' }
  | { action: 'create' | 'stage-ca' | 'rotate-ca' | 'renew-serving'; reason: string };

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 1) & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key)).toString('base64');
  return `-----BEGIN PRIVATE KEY-----\n${der.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
}

export async function createCa(validityMs: number, now: Date): Promise<{ certPem: string; keyPem: string }> {
  const x509 = await loadX509();
  const keys = await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=guarita-webhook-ca@${Math.floor(now.getTime() / 1000)}`,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + validityMs),
    keys,
    signingAlgorithm: EC_SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
    ],
  }, webcrypto);
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

export async function issueServing(ca: { certPem: string; keyPem: string }, policy: TlsPolicy, now: Date): Promise<{ certPem: string; keyPem: string }> {
  const x509 = await loadX509();
  const caCert = new x509.X509Certificate(ca.certPem);
  const signingKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.keyPem), EC_KEY, false, ['sign']);
  const keys = await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const notAfter = Math.min(now.getTime() + policy.certValidityMs, caCert.notAfter.getTime());
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${policy.dnsNames[0] ?? policy.ips[0] ?? 'guarita-webhook'}`,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: EC_SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([SERVER_AUTH]),
      new x509.SubjectAlternativeNameExtension([
        ...policy.dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...policy.ips.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey, false, webcrypto),
    ],
  }, webcrypto);
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** Every certificate of a PEM bundle. */
export function splitPem(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

export function joinPem(certs: readonly X509Certificate[]): string {
  return certs.map((c) => c.toString().trim()).join('\n') + (certs.length > 0 ? '\n' : '');
}

function lifetime(c: X509Certificate): { from: number; to: number } {
  return { from: Date.parse(c.validFrom), to: Date.parse(c.validTo) };
}

/**
 * True when less than `fraction` of the certificate's lifetime remains (or it is not valid at all).
 * The lifetime is the nominal one: the back-dating of notBefore does not count.
 */
export function dueForRenewal(c: X509Certificate, fraction: number, now: Date): boolean {
  const { from, to } = lifetime(c);
  const nominal = Math.max(to - from - BACKDATE_MS, 0);
  return now.getTime() >= to - nominal * fraction || now.getTime() < from;
}

export function expiresAt(pem: string): Date | undefined {
  const c = splitPem(pem)[0];
  return c === undefined ? undefined : new Date(lifetime(c).to);
}

function keyMatches(certPem: string, key: string): boolean {
  try {
    const fromKey = createPublicKey(createPrivateKey(key)).export({ type: 'spki', format: 'der' });
    const fromCert = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
    return fromKey.equals(fromCert);
  } catch {
    return false;
  }
}

function coversNames(c: X509Certificate, policy: TlsPolicy): boolean {
  return policy.dnsNames.every((n) => c.checkHost(n, { wildcards: false }) !== undefined) && policy.ips.every((ip) => c.checkIP(ip) !== undefined);
}

function servingProblem(m: TlsMaterial, ca: X509Certificate, policy: TlsPolicy, now: Date): string | undefined {
  const leaf = splitPem(m.certPem)[0];
  if (leaf === undefined || !keyMatches(m.certPem, m.keyPem)) return 'serving certificate or key missing or mismatched';
  if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) return 'serving certificate not signed by the current CA';
  if (!coversNames(leaf, policy)) return 'serving certificate does not cover the configured names';
  if (dueForRenewal(leaf, policy.renewFraction, now)) return `serving certificate expires ${leaf.validTo}`;
  return undefined;
}

/** What to do with the material found in the Secret. */
export function planTls(m: TlsMaterial | undefined, policy: TlsPolicy, now: Date): TlsPlan {
  if (m === undefined) return { action: 'create', reason: 'no certificate yet' };
  let ca: X509Certificate | undefined;
  try {
    ca = splitPem(m.caCertPem)[0];
  } catch {
    ca = undefined;
  }
  if (ca === undefined || !ca.ca || !keyMatches(m.caCertPem, m.caKeyPem)) return { action: 'create', reason: 'CA certificate or key missing or unusable' };
  if (dueForRenewal(ca, policy.renewFraction, now)) return { action: 'rotate-ca', reason: `CA expires ${ca.validTo}` };
  if (dueForRenewal(ca, STAGE_FRACTION, now) && usableNext(m) === undefined) return { action: 'stage-ca', reason: `CA expires ${ca.validTo}: staging its successor` };
  const problem = servingProblem(m, ca, policy, now);
  return problem === undefined ? { action: 'keep' } : { action: 'renew-serving', reason: problem };
}

/** The staged next CA, if it is intact. */
function usableNext(m: TlsMaterial): { certPem: string; keyPem: string } | undefined {
  if (m.nextCaCertPem === undefined || m.nextCaKeyPem === undefined) return undefined;
  try {
    const next = splitPem(m.nextCaCertPem)[0];
    return next?.ca === true && keyMatches(m.nextCaCertPem, m.nextCaKeyPem) ? { certPem: m.nextCaCertPem, keyPem: m.nextCaKeyPem } : undefined;
  } catch {
    return undefined;
  }
}

function bundleWith(caPem: string, previous: string, now: Date): string {
  const ca = splitPem(caPem);
  const seen = new Set(ca.map((c) => c.fingerprint256));
  const kept = splitPem(previous).filter((c) => {
    const fresh = !seen.has(c.fingerprint256) && Date.parse(c.validTo) > now.getTime();
    seen.add(c.fingerprint256);
    return fresh;
  });
  return joinPem([...ca, ...kept]);
}

async function renewServing(m: TlsMaterial, policy: TlsPolicy, now: Date): Promise<TlsMaterial> {
  const serving = await issueServing({ certPem: m.caCertPem, keyPem: m.caKeyPem }, policy, now);
  return { ...m, certPem: serving.certPem, keyPem: serving.keyPem, bundlePem: bundleWith(m.caCertPem, m.bundlePem, now) };
}

async function stageCa(m: TlsMaterial, policy: TlsPolicy, now: Date): Promise<TlsMaterial> {
  const next = await createCa(policy.caValidityMs, now);
  return { ...m, nextCaCertPem: next.certPem, nextCaKeyPem: next.keyPem, bundlePem: bundleWith(m.caCertPem, next.certPem + m.bundlePem, now) };
}

/** New signing CA: the staged one when there is one (already trusted), else a fresh one. */
async function rotateCa(m: TlsMaterial | undefined, policy: TlsPolicy, now: Date): Promise<TlsMaterial> {
  const staged = m === undefined ? undefined : usableNext(m);
  const ca = staged ?? await createCa(policy.caValidityMs, now);
  const serving = await issueServing(ca, policy, now);
  return { caCertPem: ca.certPem, caKeyPem: ca.keyPem, certPem: serving.certPem, keyPem: serving.keyPem, bundlePem: bundleWith(ca.certPem, m?.bundlePem ?? '', now) };
}

/** Carries out a plan: new material (the CA is kept unless the plan replaces it). */
export async function executeTlsPlan(plan: Exclude<TlsPlan, { action: 'keep' }>, m: TlsMaterial | undefined, policy: TlsPolicy, now: Date): Promise<TlsMaterial> {
  if (plan.action === 'renew-serving' && m !== undefined) return renewServing(m, policy, now);
  if (plan.action === 'stage-ca' && m !== undefined) return stageCa(m, policy, now);
  return rotateCa(plan.action === 'rotate-ca' ? m : undefined, policy, now);
}
