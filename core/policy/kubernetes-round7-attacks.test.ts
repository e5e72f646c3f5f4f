// Round 7 review of the Kubernetes target: what the answer masker keeps "as sent" because it is
// bookkeeping, while the apiserver puts values in it. managedFields (fieldsV1) name map keys
// (`f:<key>`), the merge keys of keyed lists (`k:{"email":"..."}`) and the members of set lists
// (`v:"..."`): values, not field names. A List's `metadata.continue` is base64 of the page's last
// storage key (its object's name, and its namespace across namespaces). And the bookkeeping fields are kept
// under any key called `metadata`, wherever it sits (a CRD's own `status.*.metadata`). These
// tests fail on the code reviewed (4e40bf6).
import { describe, expect, it } from '@jest/globals';
import { compileMasker } from '../masking/index.ts';
import { maskKubernetesValue } from './kubernetes-response.ts';

const CPF = '590.830.166-33';
const EMAIL = 'larissa.oliveira1@exemplo.com.br';

function mask(value: unknown): unknown {
  const session = compileMasker({}).newSession();
  return maskKubernetesValue(value, session, { secrets: false, revealSecretData: false });
}

describe('managedFields carry values, not only field names', () => {
  // What the apiserver writes for a ConfigMap keyed by CPF (the key itself is masked in `data`).
  const configMap = {
    kind: 'ConfigMap', apiVersion: 'v1',
    metadata: {
      name: 'ledger', namespace: 'orders', resourceVersion: '123', uid: 'u-1',
      managedFields: [{
        manager: 'kubectl-client-side-apply', operation: 'Update', apiVersion: 'v1', time: '2026-12-06T03:00:00Z', fieldsType: 'FieldsV1',
        fieldsV1: { 'f:data': { [`f:${CPF}`]: {} } },
      }],
    },
    data: { [CPF]: 'saldo 10' },
  };

  it('a ConfigMap data key that is a CPF is masked in data (control)', () => {
    const out = mask(configMap) as { data: Record<string, string> };
    expect(Object.keys(out.data).join()).not.toContain(CPF);
  });

  it('the same key is not passed unmasked in managedFields (f:<key>)', () => {
    expect(JSON.stringify(mask(configMap))).not.toContain(CPF);
  });

  it('keyed-list merge keys (k:{...}) and set members (v:...) of a custom resource are not passed unmasked', () => {
    const cr = {
      kind: 'Customer', apiVersion: 'crm.example.com/v1',
      metadata: {
        name: 'c1', namespace: 'orders',
        managedFields: [{
          manager: 'crm-controller', operation: 'Apply', apiVersion: 'crm.example.com/v1', fieldsType: 'FieldsV1',
          fieldsV1: { 'f:spec': { 'f:contacts': { [`k:{"email":"${EMAIL}"}`]: { '.': {}, 'f:email': {} } }, 'f:documents': { [`v:"${CPF}"`]: {} } } },
        }],
      },
      spec: { contacts: [{ email: EMAIL }], documents: [CPF] },
    };
    const out = JSON.stringify(mask(cr));
    expect(out).not.toContain(EMAIL);
    expect(out).not.toContain(CPF);
  });
});

describe('continue tokens carry the page\'s last object\'s name', () => {
  const name = `cliente-${CPF}`;
  // k8s.io/apiserver storage/etcd3 encodeContinue: RawURL base64 of {"v","rv","start": the last key
  // returned, relative to the list prefix, + "\x00"}.
  const token = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: 4242, start: `${name}\u0000` })).toString('base64url');
  const page = (kind: string, rows: 'items' | 'rows'): Record<string, unknown> => ({
    kind, apiVersion: 'v1', metadata: { resourceVersion: '4242', continue: token, remainingItemCount: 1 },
    ...(rows === 'items'
      ? { items: [{ metadata: { name: 'aaa-first', namespace: 'orders' }, data: {} }, { metadata: { name, namespace: 'orders' }, data: {} }] }
      : { apiVersion: 'meta.k8s.io/v1', columnDefinitions: [{ name: 'Name', type: 'string' }], rows: [{ cells: [name], object: { kind: 'PartialObjectMetadata', metadata: { name } } }] }),
  });
  const sealed = (t: string): string => `sealed:${t.length}`;

  it('the name masked in items does not come back in base64 in metadata.continue: the token goes out as the caller seals it', () => {
    for (const value of [page('ConfigMapList', 'items'), page('Table', 'rows'), page('PartialObjectMetadataList', 'items')]) {
      const out = maskKubernetesValue(value, compileMasker({}).newSession(), { secrets: false, revealSecretData: false, sealContinue: sealed }) as { metadata: { continue: string } };
      // The name as an item or a row is masked (control).
      expect(JSON.stringify(out)).not.toContain(CPF);
      expect(out.metadata.continue).toBe(sealed(token));
    }
  });

  it('without a sealer the token is dropped, not passed', () => {
    const out = mask(page('ConfigMapList', 'items')) as { metadata: Record<string, unknown> };
    expect(out.metadata).toEqual({ resourceVersion: '4242', remainingItemCount: 1 });
  });

  it('a Status carrying a continue token (410 Expired, "inconsistent continue") is sealed the same way', () => {
    const status = { kind: 'Status', apiVersion: 'v1', metadata: { continue: token }, status: 'Failure', reason: 'Expired', code: 410 };
    const out = maskKubernetesValue(status, compileMasker({}).newSession(), { secrets: false, revealSecretData: false, sealContinue: sealed }) as { metadata: { continue: string } };
    expect(out.metadata.continue).toBe(sealed(token));
  });
});

describe('bookkeeping fields are kept by position, under any "metadata" key', () => {
  it('a custom resource\'s own status.*.metadata.uid / generation / selfLink is masked like any field', () => {
    const cr = {
      kind: 'Subscription', apiVersion: 'billing.example.com/v1', metadata: { name: 's1', uid: 'u-1' },
      status: { payer: { metadata: { uid: CPF, selfLink: `mailto:${EMAIL}`, creationTimestamp: `cpf ${CPF}` } } },
    };
    const out = JSON.stringify(mask(cr));
    expect(out).not.toContain(CPF);
    expect(out).not.toContain(EMAIL);
  });
});

describe('where the apiserver writes metadata: bookkeeping kept, managedFields dropped', () => {
  const UID = '59083016-6330-4a5b-8c9d-0e1f2a3b4c5d';
  const meta = (rv: string): Record<string, unknown> => ({
    name: `n-${rv}`, resourceVersion: rv, uid: UID, creationTimestamp: '2026-12-06T03:00:00Z',
    managedFields: [{ manager: 'm', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { [`f:${CPF}`]: {} } } }],
  });
  const forms: [string, Record<string, unknown>, (out: Record<string, unknown>) => Record<string, unknown>[]][] = [
    ['an object', { kind: 'ConfigMap', metadata: meta('59083016633') }, (o) => [o.metadata as Record<string, unknown>]],
    ['a list\'s items', { kind: 'ConfigMapList', metadata: { resourceVersion: '1' }, items: [{ metadata: meta('59083016633') }] }, (o) => [((o.items as Record<string, unknown>[])[0]?.metadata ?? {}) as Record<string, unknown>]],
    ['a watch event\'s object', { type: 'MODIFIED', object: { kind: 'ConfigMap', metadata: meta('59083016633') } }, (o) => [(o.object as Record<string, unknown>).metadata as Record<string, unknown>]],
    ['a Table row\'s object', { kind: 'Table', apiVersion: 'meta.k8s.io/v1', rows: [{ cells: ['x'], object: { kind: 'PartialObjectMetadata', metadata: meta('59083016633') } }] }, (o) => [((o.rows as { object: { metadata: Record<string, unknown> } }[])[0]?.object.metadata ?? {})]],
    ['a watch event of a Table', { type: 'ADDED', object: { kind: 'Table', apiVersion: 'meta.k8s.io/v1', rows: [{ cells: ['x'], object: { kind: 'PartialObjectMetadata', metadata: meta('59083016633') } }] } }, (o) => [(((o.object as Record<string, unknown>).rows as { object: { metadata: Record<string, unknown> } }[])[0]?.object.metadata ?? {})]],
  ];
  it.each(forms)('%s: resourceVersion, uid and timestamps as sent (a resourceVersion that looks like a CPF included); no managedFields', (_what, value, metadataOf) => {
    const out = mask(value) as Record<string, unknown>;
    expect(JSON.stringify(out)).not.toContain(CPF);
    for (const m of metadataOf(out)) {
      expect(m).toMatchObject({ resourceVersion: '59083016633', uid: UID, creationTimestamp: '2026-12-06T03:00:00Z' });
      expect('managedFields' in m).toBe(false);
    }
  });

  it('a custom resource\'s own spec.template.metadata is masked, not kept (only the apiserver\'s positions are bookkeeping)', () => {
    const out = JSON.stringify(mask({ kind: 'Job', metadata: { name: 'j' }, spec: { template: { metadata: { uid: CPF, annotations: { a: 'b' } } } } }));
    expect(out).not.toContain(CPF);
  });
});
