// Unit test: the CA and serving certificates are what Go's and Node's TLS stacks expect
// (CA constraints, SANs for loopback, signature chain), checked with Node's own X509 parser.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { createCa, loadCa, mintServingCert } from './certs.ts';

describe('certs', () => {
  it('mints a loopback serving certificate signed by the CA', async () => {
    const ca = await createCa('test-ca');
    const leaf = await mintServingCert(ca);
    const caCert = new X509Certificate(ca.certPem);
    const cert = new X509Certificate(leaf.certPem);

    expect(caCert.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkHost('example.com')).toBeUndefined();
    expect(cert.keyUsage).toContain('1.3.6.1.5.5.7.3.1');
    // The key is PKCS#8 PEM and matches the certificate.
    expect(cert.checkPrivateKey(createPrivateKey(leaf.keyPem))).toBe(true);
  });

  it('reloads a CA from PEM and keeps signing with it', async () => {
    const ca = await createCa();
    const reloaded = await loadCa(ca.certPem, ca.keyPem);
    const leaf = await mintServingCert(reloaded, { commonName: 'webhook', ips: ['127.0.0.1'], dnsNames: [] });
    const cert = new X509Certificate(leaf.certPem);
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(cert.subjectAltName).toBe('IP Address:127.0.0.1');
  });
});
