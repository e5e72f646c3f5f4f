// The RBAC the guarita CLI needs to reach the operator by itself (docs/cli.md): a Role in the
// release namespace (the operator's Service by name, list pods, port-forward) bound to every
// auditor subject, and get on the operator's CA ConfigMap in the auditor ClusterRole. Proven
// against the real apiserver by cli/test/operator-port-forward.int.test.ts.
import { describe, expect, it } from '@jest/globals';
import { find, one, rules, template } from './helm.ts';

describe('auditors reach the operator through a port-forward', () => {
  it('grants the release namespace\'s Service, pods and pods/portforward to every auditor subject', async () => {
    const objects = await template({ set: ['rbac.auditor.bindings[0].subjects[0].kind=Group', 'rbac.auditor.bindings[0].subjects[0].name=auditors', 'rbac.auditor.bindings[1].namespace=lgpd', 'rbac.auditor.bindings[1].subjects[0].kind=ServiceAccount', 'rbac.auditor.bindings[1].subjects[0].name=bot'] });
    const role = one(objects, 'Role', 'guarita-auditor-operator-access', 'guarita-system');
    expect(rules(role)).toEqual([
      { apiGroups: [''], resources: ['services'], resourceNames: ['guarita-operator'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      { apiGroups: [''], resources: ['pods/portforward'], verbs: ['get', 'create'] },
    ]);
    expect(one(objects, 'RoleBinding', 'guarita-auditor-operator-access', 'guarita-system')).toMatchObject({
      roleRef: { kind: 'Role', name: 'guarita-auditor-operator-access' },
      subjects: [{ kind: 'Group', name: 'auditors' }, { kind: 'ServiceAccount', name: 'bot', namespace: 'lgpd' }],
    });
    expect(rules(one(objects, 'ClusterRole', 'guarita-auditor'))).toContainEqual({ apiGroups: [''], resources: ['configmaps'], resourceNames: ['guarita-operator-ca'], verbs: ['get'] });
  });

  it('renders nothing without auditor bindings', async () => {
    expect(find(await template(), 'Role', 'guarita-auditor-operator-access')).toEqual([]);
  });
});
