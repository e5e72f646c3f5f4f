// Review of the round 7 fixes (3ef820d) to the Kubernetes answer masker: bookkeeping is now kept
// "where the apiserver writes metadata", but those positions are found by the answer's shape (a
// `kind` ending in `List` with `items`, a `kind: Table` with `rows`, a `type` + `object`), and some
// of the members kept there are written by clients, not by the apiserver. Each test fails on
// 3ef820d; the integration forms (real apiserver, real kubectl) are in
// sidecar/test/kubernetes-round7b-attacks.int.test.ts.
import { describe, expect, it } from '@jest/globals';
import { compileMasker } from '../masking/index.ts';
import { maskKubernetesValue } from './kubernetes-response.ts';

const CPF = '590.830.166-33';
const EMAIL = 'larissa.oliveira1@exemplo.com.br';

function mask(value: unknown): string {
  const session = compileMasker({}).newSession();
  return JSON.stringify(maskKubernetesValue(value, session, { secrets: false, revealSecretData: false, sealContinue: (t) => `sealed:${t.length}` }));
}

describe('client-written members kept as bookkeeping', () => {
  it('an ownerReferences uid is whatever the writer sent (the apiserver checks only that it is not empty): masked like any value', () => {
    // kube-apiserver 1.34 stores this as sent (ValidateOwnerReferences: apiVersion, kind, name, uid non-empty).
    const cm = {
      kind: 'ConfigMap', apiVersion: 'v1',
      metadata: { name: 'cliente-settings', namespace: 'orders', uid: 'a85738a2-8b57-41d5-afef-fcaa10721a39', resourceVersion: '2040', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: CPF }] },
      data: { note: 'x' },
    };
    expect(mask(cm)).not.toContain(CPF);
  });
});

describe('apiserver metadata positions found by the answer\'s shape, which resources can take', () => {
  it('a custom resource whose kind ends in "List" (MailingList) with its own top-level items: their metadata is the resource\'s data', () => {
    // A CRD may name its kind MailingList (listKind MailingListList, the default) and give it a top-level `items`
    // property: the real apiserver stores and serves it as written.
    const cr = {
      kind: 'MailingList', apiVersion: 'crm.example.com/v1',
      metadata: { name: 'vip', namespace: 'orders', uid: '4069d6c5-72f5-4c8c-9da7-05af2d45faa2', resourceVersion: '2045' },
      items: [{ metadata: { uid: CPF, selfLink: `mailto:${EMAIL}`, creationTimestamp: EMAIL }, note: 'subscriber' }],
    };
    const out = mask(cr);
    expect(out).not.toContain(CPF);
    expect(out).not.toContain(EMAIL);
    // And in the list of them (the apiserver's list, whose items are such resources).
    const list = { kind: 'MailingListList', apiVersion: 'crm.example.com/v1', metadata: { resourceVersion: '2046' }, items: [cr] };
    const listed = mask(list);
    expect(listed).not.toContain(CPF);
    expect(listed).not.toContain(EMAIL);
  });

  it('a custom resource of kind Table with rows[].object.metadata: the resource\'s data', () => {
    const cr = {
      kind: 'Table', apiVersion: 'furniture.example.com/v1', metadata: { name: 'reservations' },
      rows: [{ cells: ['mesa 4'], object: { metadata: { uid: CPF, resourceVersion: EMAIL } } }],
    };
    const out = mask(cr);
    expect(out).not.toContain(CPF);
    expect(out).not.toContain(EMAIL);
  });
});

describe('lists the apiserver writes under a kind that does not end in "List"', () => {
  it('a CRD\'s own listKind (spec.names.listKind: MailingListCollection): its items are objects, bookkeeping kept and managedFields dropped', () => {
    const item = (rv: string): Record<string, unknown> => ({
      apiVersion: 'crm.example.com/v1', kind: 'MailingList',
      metadata: { name: 'vip', namespace: 'orders', resourceVersion: rv, uid: '4069d6c5-72f5-4c8c-9da7-05af2d45faa2', managedFields: [{ manager: 'crm', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } }] },
    });
    const list = { kind: 'MailingListCollection', apiVersion: 'crm.example.com/v1', metadata: { resourceVersion: '59083016633' }, items: [item('59083016633')] };
    const out = JSON.parse(mask(list)) as { items: { metadata: Record<string, unknown> }[] };
    // As for a ConfigMapList's items: the resourceVersion (which reads as a CPF) as sent, no managedFields.
    expect(out.items[0]?.metadata).toMatchObject({ resourceVersion: '59083016633' });
    expect('managedFields' in (out.items[0]?.metadata ?? {})).toBe(false);
  });
});

describe('answers the apiserver did not write', () => {
  it('a JSON answer relayed from a pod or service (pods/proxy, services/proxy): its top-level metadata is the application\'s data', () => {
    // What an application behind `kubectl get --raw .../pods/app-0:8080/proxy/customers` may answer;
    // the masker is not told the answer came from the pod, so its `metadata` is read as the apiserver's.
    const app = { metadata: { uid: CPF, creationTimestamp: EMAIL, selfLink: `/customers/${CPF}` }, customers: [{ name: 'Larissa' }] };
    const out = mask(app);
    expect(out).not.toContain(CPF);
    expect(out).not.toContain(EMAIL);
  });
});
