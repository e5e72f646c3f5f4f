// Round 11b re-review (adversarial) of the Table-cell and boolean-parameter fixes (docs/security-model.md,
// "Round 11 review: the Kubernetes target"). Probes that need no apiserver; the failing ones are findings.
import { describe, expect, it } from '@jest/globals';
import { compileMasker } from '../masking/index.ts';
import type { MaskingSpec } from '../masking/types.ts';
import { maskKubernetesValue } from './kubernetes-response.ts';
import { kubernetesRequestInfo } from './kubernetes-request.ts';

const NOME = 'Maria Aparecida Souza';
const CRD = (path: string): string => `Custom resource definition column (in JSONPath format): ${path}`;
const col = (name: string, description = ''): Record<string, unknown> => ({ name, type: 'string', format: '', description, priority: 0 });
function table(columns: Record<string, unknown>[], rows: unknown[][], objects?: unknown[]): Record<string, unknown> {
  return {
    kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: '7' }, columnDefinitions: columns,
    rows: rows.map((cells, i) => ({ cells, object: objects?.[i] ?? { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name: String(cells[0]) } } })),
  };
}
function mask(value: unknown, spec: MaskingSpec, opts: { secrets?: boolean } = {}): string {
  const session = compileMasker(spec).newSession();
  return JSON.stringify(maskKubernetesValue(value, session, { secrets: opts.secrets ?? false, revealSecretData: false }));
}

describe('cells that are objects (held)', () => {
  const obj = { apiVersion: 'r11b.guarita.example/v1', kind: 'Cliente', metadata: { name: 'c-1' }, spec: { titular: { nome: NOME, plano: 'gold' } } };
  it('the Table whose column shows the whole object (.spec.titular, printed as JSON) masks its nome', () => {
    // What the apiserver's CRD TableConvertor writes for a map (jsonpath PrintResults: json.Marshal).
    const cell = JSON.stringify(obj.spec.titular);
    const ruleOnInner: MaskingSpec = { style: 'partial', fields: [{ names: ['nome'] }] };
    expect(mask(obj, ruleOnInner)).not.toContain(NOME);
    expect(mask(table([col('Name'), col('Cliente', CRD('.spec.titular'))], [['c-1', cell]]), ruleOnInner)).not.toContain(NOME);
  });
});

describe('built-in printer columns named otherwise than their field', () => {
  // Built-in columns carry the field's swagger doc as description, not a JSONPath: the cell is named by
  // the column's display name only. certificates.k8s.io CSR: REQUESTOR ← spec.username.
  it('kubectl get csr: a rule on `username` masks the REQUESTOR cell as it masks spec.username', () => {
    const spec: MaskingSpec = { style: 'partial', fields: [{ names: ['username'] }] };
    const csr = { apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name: 'csr-1' }, spec: { username: 'maria.aparecida.souza', signerName: 'kubernetes.io/kube-apiserver-client' } };
    expect(mask(csr, spec)).not.toContain('maria.aparecida.souza');
    const t = table([
      col('Name', 'Name must be unique within a namespace.'), col('Age', 'CreationTimestamp is a timestamp...'),
      col('SignerName', 'signerName indicates the requested signer...'), col('Requestor', 'username contains the name of the user that created the CertificateSigningRequest. Populated by the API server on creation and immutable.'),
      col('RequestedDuration', ''), col('Condition', ''),
    ], [['csr-1', '1m', 'kubernetes.io/kube-apiserver-client', 'maria.aparecida.souza', '<none>', 'Pending']]);
    expect(mask(t, spec)).not.toContain('maria.aparecida.souza');
  });
});

describe('Table rows carrying the full object (includeObject=Object)', () => {
  it('a Secret list as a Table with full objects: data stays redacted', () => {
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, type: 'Opaque', data: { senha: Buffer.from('hunter2-very-secret').toString('base64') } };
    const out = mask(table([col('Name'), col('Type'), col('Data')], [['s', 'Opaque', 1]], [secret]), {}, { secrets: true });
    expect(out).not.toContain(Buffer.from('hunter2-very-secret').toString('base64'));
  });
});

describe('boolean parameters the apiserver also reads', () => {
  // The sixteen are refused when spelled ambiguously; what about the ones that decide a stream and
  // arrive elsewhere, or names in another case.
  it.each([
    ['/api/v1/namespaces/d/pods/p/log?follow=yes', 'refused'],
    ['/api/v1/namespaces/d/pods/p/log?Follow=true', 'passes'],
    ['/api/v1/namespaces/d/pods?watch=%00', 'refused'],
  ])('%s', (target, expected) => {
    const r = kubernetesRequestInfo('GET', target);
    expect(r.ok ? 'passes' : 'refused').toBe(expected);
  });
});
