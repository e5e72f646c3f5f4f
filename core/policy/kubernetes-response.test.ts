// What an agent sees of Kubernetes objects: Secret values redacted wherever a Secret can sit
// (object, list items without kind, watch events, Table rows, the last-applied annotation),
// revealed values masked, bookkeeping fields untouched, everything else through the engine.
import { describe, expect, it } from '@jest/globals';
import { compileMasker } from '../masking/index.ts';
import { carriesRedaction, maskKubernetesValue, REDACTED_SECRET_VALUE } from './kubernetes-response.ts';

const CPF = '590.830.166-33';
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unb64 = (s: unknown): string => Buffer.from(String(s), 'base64').toString();

function mask(value: unknown, opts: { secrets?: boolean; revealSecretData?: boolean } = {}): Record<string, unknown> {
  const session = compileMasker({}).newSession();
  return maskKubernetesValue(value, session, { secrets: opts.secrets ?? false, revealSecretData: opts.revealSecretData ?? false }) as Record<string, unknown>;
}

const secret = {
  kind: 'Secret', apiVersion: 'v1',
  metadata: { name: 's', resourceVersion: '59083016633', uid: 'u-1', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ kind: 'Secret', data: { password: b64('hunter2') } }) } },
  data: { password: b64('hunter2'), note: b64(`cpf ${CPF}`), bin: Buffer.from([0xff, 0xfe, 0x00]).toString('base64') },
  stringData: { token: 'abc' },
};

describe('Secrets', () => {
  it('redacts data, stringData and the last-applied copy, as valid base64', () => {
    const out = mask(secret) as { data: Record<string, string>; stringData: Record<string, string>; metadata: { annotations: Record<string, string> } };
    for (const v of Object.values(out.data)) expect(unb64(v)).toBe(REDACTED_SECRET_VALUE);
    expect(out.stringData.token).toBe(REDACTED_SECRET_VALUE);
    expect(out.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).not.toContain(b64('hunter2'));
  });

  it('reveals values masked by the detectors where the rule says so; binary values stay redacted', () => {
    const out = mask(secret, { revealSecretData: true }) as { data: Record<string, string> };
    expect(unb64(out.data.password)).toBe('hunter2');
    expect(unb64(out.data.note)).toContain('cpf');
    expect(unb64(out.data.note)).not.toContain(CPF);
    expect(unb64(out.data.bin)).toBe(REDACTED_SECRET_VALUE);
  });

  it('finds Secrets in lists (items without kind), watch events and Table rows', () => {
    const item = { metadata: { name: 'x' }, type: 'Opaque', data: { k: b64('v') } };
    const list = mask({ kind: 'SecretList', items: [item] }) as { items: { data: { k: string } }[] };
    expect(unb64(list.items[0]?.data.k)).toBe(REDACTED_SECRET_VALUE);
    const event = mask({ type: 'ADDED', object: { ...secret } }) as { object: { data: { password: string } } };
    expect(unb64(event.object.data.password)).toBe(REDACTED_SECRET_VALUE);
    const table = mask({ kind: 'Table', rows: [{ cells: ['x'], object: { ...secret } }] }) as { rows: { object: { data: { password: string } } }[] };
    expect(unb64(table.rows[0]?.object.data.password)).toBe(REDACTED_SECRET_VALUE);
    // A request for secrets: list items are Secrets even when the list's kind is not said.
    const untyped = mask({ items: [item] }, { secrets: true }) as { items: { data: { k: string } }[] };
    expect(unb64(untyped.items[0]?.data.k)).toBe(REDACTED_SECRET_VALUE);
  });
});

describe('carriesRedaction', () => {
  it('finds the redaction, plain or base64, in a body written back', () => {
    const out = mask(secret) as { data: Record<string, string> };
    expect(carriesRedaction(Buffer.from(JSON.stringify(out)))).toBe(true);
    expect(carriesRedaction(Buffer.from(`stringData:\n  token: "${REDACTED_SECRET_VALUE}"\n`))).toBe(true);
    expect(carriesRedaction(Buffer.from(JSON.stringify(secret)))).toBe(false);
  });
});

describe('other objects', () => {
  it('masks ConfigMap values, annotations, env values and Table cells, and keeps bookkeeping fields', () => {
    const out = mask({
      kind: 'ConfigMap', metadata: { name: 'c', resourceVersion: '59083016633', uid: 'u', annotations: { owner: `cpf ${CPF}` }, ownerReferences: [{ uid: '59083016-6330-4a5b-8c9d-0e1f2a3b4c5d' }] },
      data: { note: `cliente ${CPF}` },
    });
    const text = JSON.stringify(out);
    expect(text).not.toContain(CPF);
    expect((out.metadata as { resourceVersion: string }).resourceVersion).toBe('59083016633');
    // An owner reference's uid in the form the apiserver generates (a UUID) is kept; any other text is the writer's (kubernetes-round7b-attacks.test.ts).
    expect((out.metadata as { ownerReferences: { uid: string }[] }).ownerReferences[0]?.uid).toBe('59083016-6330-4a5b-8c9d-0e1f2a3b4c5d');
    const table = mask({ kind: 'Table', apiVersion: 'meta.k8s.io/v1', rows: [{ cells: ['pod-a', `env ${CPF}`] }] });
    expect(JSON.stringify(table)).not.toContain(CPF);
    // The continue token goes out sealed by the caller (tested in kubernetes-round7-attacks.test.ts), or not at all.
    const list = mask({ kind: 'PodList', metadata: { continue: 'eyJydiI6NTkwODMwMTY2MzN9', resourceVersion: '59083016633' }, items: [] });
    expect(list.metadata).toEqual({ resourceVersion: '59083016633' });
  });
});

describe('minted credentials', () => {
  it('never passes a TokenRequest\'s token, whatever the rule reveals', () => {
    const minted = { kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1', metadata: { name: 'default' }, spec: { audiences: ['x'] }, status: { token: 'eyJhbGciOi.minted.token', expirationTimestamp: '2026-12-05T04:00:00Z' } };
    for (const revealSecretData of [false, true]) {
      const out = mask(minted, { revealSecretData }) as { status: Record<string, unknown> };
      expect(out.status.token).toBe(REDACTED_SECRET_VALUE);
      expect(out.status.expirationTimestamp).toBe('2026-12-05T04:00:00Z');
    }
  });

  it('never passes a CertificateSigningRequest\'s issued certificate, in objects, lists and watch events', () => {
    const pem = b64('-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n');
    const csr = { kind: 'CertificateSigningRequest', apiVersion: 'certificates.k8s.io/v1', metadata: { name: 'agent' }, spec: { signerName: 'kubernetes.io/kube-apiserver-client' }, status: { certificate: pem, conditions: [{ type: 'Approved', status: 'True' }] } };
    const { kind: _kind, ...listed } = csr;
    for (const value of [csr, { kind: 'CertificateSigningRequestList', items: [listed] }, { type: 'MODIFIED', object: csr }]) {
      const out = JSON.stringify(mask(value));
      expect(out).not.toContain(pem);
      expect(out).toContain(b64(REDACTED_SECRET_VALUE));
      expect(out).toContain('Approved');
    }
  });
});

describe('the last-applied copy of a Secret on metadata-only forms', () => {
  const applied = JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { password: b64('hunter2') }, stringData: { token: 'abc' } });
  const partial = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name: 's', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': applied } } };

  it.each([
    ['as=PartialObjectMetadata', partial, true],
    ['as=PartialObjectMetadataList', { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', items: [partial] }, true],
    ['kubectl get\'s Table (rows carry PartialObjectMetadata)', { kind: 'Table', apiVersion: 'meta.k8s.io/v1', columnDefinitions: [], rows: [{ cells: ['s', 'Opaque', 1, '1m'], object: partial }] }, true],
    ['a watch event of a Table', { type: 'ADDED', object: { kind: 'Table', rows: [{ cells: [], object: partial }] } }, true],
    ['a request about something else (kind: Secret in the copy)', { kind: 'EventList', items: [{ kind: 'Event', metadata: { name: 'e', annotations: partial.metadata.annotations } }] }, false],
  ])('%s', (_label, value, secrets) => {
    const out = JSON.stringify(mask(value, { secrets }));
    expect(out).not.toContain(b64('hunter2'));
    expect(out).not.toContain('abc');
    expect(out).toContain(b64(REDACTED_SECRET_VALUE));
  });

  it('leaves the copy of anything else as the engine masks it', () => {
    const cm = JSON.stringify({ kind: 'ConfigMap', data: { note: 'mode=debug' } });
    const out = mask({ kind: 'ConfigMap', metadata: { name: 'c', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': cm } } }) as { metadata: { annotations: Record<string, string> } };
    expect(out.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toBe(cm);
  });

  it('redacts an unreadable copy when the request is about secrets', () => {
    const out = mask({ kind: 'PartialObjectMetadata', metadata: { name: 's', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data": {"password": "aHVudGVy' } } }, { secrets: true }) as { metadata: { annotations: Record<string, string> } };
    expect(out.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toBe(REDACTED_SECRET_VALUE);
  });
});

describe('binaryData', () => {
  it('masks base64 text as text and redacts bytes that are not text, in objects, lists and watch events', () => {
    const cm = { kind: 'ConfigMap', metadata: { name: 'c' }, binaryData: { note: b64(`cliente CPF ${CPF}`), blob: Buffer.from([0x1f, 0x8b, 0x08, 0xff]).toString('base64'), plain: b64('mode=debug') } };
    for (const value of [cm, { kind: 'ConfigMapList', items: [{ ...cm, kind: undefined }] }, { type: 'MODIFIED', object: cm }]) {
      const out = JSON.stringify(mask(value));
      expect(out).not.toContain(b64(`cliente CPF ${CPF}`));
      expect(out).not.toContain(cm.binaryData.blob);
      expect(out).toContain(b64('mode=debug'));
      expect(out).toContain(b64(REDACTED_SECRET_VALUE));
    }
    const note = (mask(cm) as { binaryData: Record<string, string> }).binaryData.note;
    expect(unb64(note)).toContain('cliente CPF');
    expect(unb64(note)).not.toContain(CPF);
  });
});
