// `helm install` (no --wait) into the harness apiserver, then: the objects exist, and each
// ServiceAccount and each role can do exactly what it needs and no more (`kubectl auth can-i`,
// impersonating them as the harness admin, who is system:masters).
//
// The apiserver is shared with every other integration test, so the release is installed with
// webhook.configurations.create=false: configurations with failurePolicy Fail pointing at a Service
// without endpoints would refuse every later AccessPolicy/ApprovalRequest write and every pod in
// opted-in namespaces. The configurations are checked with a server-side dry run instead (the real
// apiserver validates them, nothing is stored), and afterAll uninstalls the release and checks
// that no configuration of ours is left.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { kubeconfigPath, kubectl, type TestUser } from '../../../e2e/harness/state.ts';
import { CHART_DIR, find, helm, parseManifests, REQUIRED_VALUES, templateRaw } from './helm.ts';

// helm and kubectl are real processes; a loaded machine makes them slow.

const id = randomBytes(3).toString('hex');
const release = `guarita-${id}`;
const ns = `guarita-system-${id}`;
const agents = `chart-agents-${id}`;
const other = `chart-other-${id}`;
const admin = { user: 'admin' } as const;
const sa = (name: string, namespace = ns): string => `system:serviceaccount:${namespace}:${name}`;
const WEBHOOK = `${release}-webhook`;
const OPERATOR = `${release}-operator`;

const VALUES = [
  'webhook.configurations.create=false',
  `sidecar.rbac.namespaces[0].namespace=${agents}`,
  'sidecar.rbac.namespaces[0].serviceAccounts[0]=support-agent',
  `rbac.approver.bindings[0].namespace=${agents}`,
  'rbac.approver.bindings[0].subjects[0].kind=Group',
  'rbac.approver.bindings[0].subjects[0].name=dpo',
  `rbac.auditor.bindings[0].namespace=${agents}`,
  'rbac.auditor.bindings[0].subjects[0].kind=Group',
  'rbac.auditor.bindings[0].subjects[0].name=auditors',
];

let installOutput = '';

async function ok(args: string[], input?: string): Promise<string> {
  const result = await kubectl(args, { ...admin, ...(input === undefined ? {} : { input }) });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

type Who = string | { user: TestUser; groups: string[] };

/**
 * The operator's own question for the virtual resource sessions.guarita.io: a SubjectAccessReview.
 * (`kubectl auth can-i` cannot ask it: for a resource missing from discovery it sends the argument
 * as a resource name in the core group.)
 */
async function canReadSessions(who: Who, verb: string, namespace: string): Promise<boolean> {
  const user = typeof who === 'string' ? who : who.user;
  const groups = typeof who === 'string' ? ['system:serviceaccounts', `system:serviceaccounts:${who.split(':')[2] ?? ''}`, 'system:authenticated'] : who.groups;
  const review = { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user, groups, resourceAttributes: { group: 'guarita.io', resource: 'sessions', verb, namespace } } };
  const out = await ok(['create', '-o', 'jsonpath={.status.allowed}', '-f', '-'], JSON.stringify(review));
  return out.trim() === 'true';
}

/** `kubectl auth can-i VERB RESOURCE[/status] [-n NS]` as a ServiceAccount or as a test user with its groups. */
async function can(who: Who, verb: string, resource: string, namespace?: string): Promise<boolean> {
  if (resource === 'sessions.guarita.io') return canReadSessions(who, verb, namespace ?? 'default');
  const as = typeof who === 'string' ? ['--as', who] : ['--as', who.user, ...who.groups.flatMap((g) => ['--as-group', g])];
  const [target = resource, subresource] = resource.endsWith('/status') ? [resource.slice(0, -'/status'.length), 'status'] : [resource];
  const args = ['auth', 'can-i', verb, target, ...as, ...(subresource === undefined ? [] : ['--subresource', subresource]), ...(namespace === undefined ? [] : ['-n', namespace])];
  const result = await kubectl(args, admin);
  if (result.code !== 0 && result.stdout.trim() !== 'no') throw new Error(`can-i ${verb} ${resource}: ${result.stderr}`);
  return result.stdout.trim() === 'yes';
}

const BASIC_RULE = /^self(subject(access|rules)reviews|subjectreviews)\./;

/** One row of `kubectl auth can-i --list` ("Resources  [URLs]  [names]  [verbs]") as "verb resource[/name]" strings. */
function parseRuleRow(line: string): string[] {
  const m = /^(\S+)\s+\[(.*?)\]\s+\[(.*?)\]\s+\[(.*?)\]\s*$/.exec(line);
  if (m === null || BASIC_RULE.test(m[1] ?? '')) return [];
  const [, resource = '', , names = '', verbs = ''] = m;
  const targets = names === '' ? [resource] : names.split(' ').map((n) => `${resource}/${n}`);
  return verbs.split(' ').flatMap((verb) => targets.map((t) => `${verb} ${t}`));
}

/** Every rule `who` holds in `namespace` (cluster-wide ones included), minus what every authenticated identity gets. */
async function ruleSet(who: string, namespace: string): Promise<string[]> {
  const out = await ok(['auth', 'can-i', '--list', '--as', who, '-n', namespace]);
  return out.split('\n').slice(1).flatMap(parseRuleRow).sort();
}

beforeAll(async () => {
  // CRDs the way crds.int.test.ts applies them (helm's crds/ install would leave objects without
  // kubectl's last-applied annotation, and other tests apply them too).
  await ok(['apply', '-f', join(CHART_DIR, 'crds')]);
  await ok(['wait', '--for=condition=Established', 'crd/accesspolicies.guarita.io', 'crd/approvalrequests.guarita.io', '--timeout=30s']);
  // The agents' namespaces exist before the release puts the sidecar Role into one of them.
  for (const name of [agents, other]) await ok(['create', 'namespace', name]);
  await ok(['create', 'serviceaccount', 'support-agent', '-n', agents]);
  await ok(['create', 'serviceaccount', 'unlisted', '-n', agents]);
  const result = await helm(['install', release, CHART_DIR, '--namespace', ns, '--create-namespace', '--skip-crds', '-f', REQUIRED_VALUES, ...VALUES.flatMap((v) => ['--set', v])], { kubeconfig: kubeconfigPath('admin'), timeoutMs: 120_000 });
  if (result.code !== 0) throw new Error(`helm install failed: ${result.stderr}`);
  installOutput = result.stdout;
}, 180_000);

afterAll(async () => {
  const result = await helm(['uninstall', release, '--namespace', ns], { kubeconfig: kubeconfigPath('admin'), timeoutMs: 120_000 });
  expect(result.stderr).toBe('');
  const left = await ok(['get', 'mutatingwebhookconfigurations,validatingwebhookconfigurations,clusterroles,clusterrolebindings', '-o', 'name']);
  expect(left.split('\n').filter((n) => n.includes(release))).toEqual([]);
}, 180_000);

describe('helm install into the harness apiserver', () => {
  it('installs the release and prints the next steps', () => {
    expect(installOutput).toContain('STATUS: deployed');
    expect(installOutput).toContain(`kubectl -n ${ns} rollout status deploy/${WEBHOOK} deploy/${OPERATOR}`);
    expect(installOutput).toContain('WARNING: webhook.configurations.create=false');
    expect(installOutput).toContain(`Sidecar RBAC is installed in: ${agents}.`);
  });

  it('creates the objects of every component', async () => {
    const names = (await ok(['get', 'deploy,svc,sa,pvc,pdb,networkpolicy,secret,role,rolebinding', '-n', ns, '-l', `app.kubernetes.io/instance=${release}`, '-o', 'name'])).split('\n').filter(Boolean).sort();
    expect(names).toEqual([
      `deployment.apps/${OPERATOR}`, `deployment.apps/${WEBHOOK}`,
      `networkpolicy.networking.k8s.io/${OPERATOR}`, `networkpolicy.networking.k8s.io/${WEBHOOK}`,
      `persistentvolumeclaim/${OPERATOR}-store`,
      `poddisruptionbudget.policy/${WEBHOOK}`,
      `role.rbac.authorization.k8s.io/${OPERATOR}`, `role.rbac.authorization.k8s.io/${WEBHOOK}`,
      `rolebinding.rbac.authorization.k8s.io/${OPERATOR}`, `rolebinding.rbac.authorization.k8s.io/${WEBHOOK}`,
      // Auditors reach the operator through the apiserver (get its pods, create pods/portforward) with nothing but a kubeconfig.
      `role.rbac.authorization.k8s.io/${release}-auditor-operator-access`, `rolebinding.rbac.authorization.k8s.io/${release}-auditor-operator-access`,
      `secret/${OPERATOR}-tls`, `secret/${WEBHOOK}-tls`,
      `service/${OPERATOR}`, `service/${WEBHOOK}`,
      `serviceaccount/${OPERATOR}`, `serviceaccount/${WEBHOOK}`,
    ].sort());
    for (const role of [`${release}-approver`, `${release}-auditor`, OPERATOR, WEBHOOK, `${release}-sidecar-tokenreview`]) {
      expect(await ok(['get', 'clusterrole', role, '-o', 'name'])).toContain(role);
    }
    expect((await ok(['get', 'role,rolebinding,configmap', '-n', agents, '-l', `app.kubernetes.io/instance=${release}`, '-o', 'name'])).split('\n').filter(Boolean).sort()).toEqual([
      `configmap/${release}-operator-ca`, `role.rbac.authorization.k8s.io/${release}-sidecar`, `role.rbac.authorization.k8s.io/${release}-webhook-pods`,
      `rolebinding.rbac.authorization.k8s.io/${release}-approver-0`, `rolebinding.rbac.authorization.k8s.io/${release}-auditor-0`,
      `rolebinding.rbac.authorization.k8s.io/${release}-sidecar`, `rolebinding.rbac.authorization.k8s.io/${release}-webhook-pods`,
    ]);
    expect(await ok(['get', 'crd', 'accesspolicies.guarita.io', 'approvalrequests.guarita.io', '-o', 'name'])).toContain('accesspolicies.guarita.io');
  });

  it('renders webhook configurations the apiserver accepts (server-side dry run, nothing stored)', async () => {
    const rendered = await templateRaw({ release, namespace: ns, set: VALUES.filter((v) => !v.startsWith('webhook.configurations')) });
    expect(rendered.code).toBe(0);
    const configurations = find(parseManifests(rendered.stdout), 'MutatingWebhookConfiguration').concat(find(parseManifests(rendered.stdout), 'ValidatingWebhookConfiguration'));
    expect(configurations).toHaveLength(2);
    const result = await kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { ...admin, input: configurations.map((c) => JSON.stringify(c)).join('\n') });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout.split('\n').filter(Boolean).sort()).toEqual([
      `mutatingwebhookconfiguration.admissionregistration.k8s.io/${WEBHOOK}`, `validatingwebhookconfiguration.admissionregistration.k8s.io/${WEBHOOK}`,
    ]);
    expect((await ok(['get', 'mutatingwebhookconfigurations', '-o', 'name'])).includes(WEBHOOK)).toBe(false);
  });
});

describe('the webhook ServiceAccount', () => {
  const who = (): string => sa(WEBHOOK);

  it('holds exactly its rules', async () => {
    expect(await ruleSet(who(), ns)).toEqual([
      'create subjectaccessreviews.authorization.k8s.io',
      'get accesspolicies.guarita.io', 'get mutatingwebhookconfigurations.admissionregistration.k8s.io/' + WEBHOOK, 'get namespaces',
      'get secrets', `get secrets/${WEBHOOK}-tls`, 'get validatingwebhookconfigurations.admissionregistration.k8s.io/' + WEBHOOK,
      'list accesspolicies.guarita.io', 'patch mutatingwebhookconfigurations.admissionregistration.k8s.io/' + WEBHOOK,
      'patch validatingwebhookconfigurations.admissionregistration.k8s.io/' + WEBHOOK, `update secrets/${WEBHOOK}-tls`, 'watch accesspolicies.guarita.io',
    ].sort());
  });

  it.each([
    ['list', 'accesspolicies.guarita.io', undefined, true],
    ['watch', 'accesspolicies.guarita.io', agents, true],
    ['update', `secret/${WEBHOOK}-tls`, ns, true],
    ['patch', `mutatingwebhookconfiguration/${WEBHOOK}`, undefined, true],
    ['patch', `validatingwebhookconfiguration/${WEBHOOK}`, undefined, true],
    ['get', 'secret/orders-db-credentials', agents, true],
    ['list', 'secrets', agents, false],
    ['update', `secret/${OPERATOR}-tls`, ns, false],
    ['create', 'secrets', ns, false],
    ['patch', 'mutatingwebhookconfiguration/someone-elses', undefined, false],
    ['create', 'mutatingwebhookconfigurations', undefined, false],
    ['delete', `validatingwebhookconfiguration/${WEBHOOK}`, undefined, false],
    ['update', 'accesspolicies.guarita.io', agents, false],
    ['create', 'pods', agents, false],
    // A namespace being opted in: its pods are judged (list only, no watch), only in
    // sidecar.rbac.namespaces (round 10: not kube-system, its own namespace or unlisted ones).
    ['list', 'pods', agents, true],
    ['watch', 'pods', agents, false],
    ['list', 'pods', other, false],
    ['list', 'pods', ns, false],
    ['list', 'pods', 'kube-system', false],
  ] as const)('%s %s in %s: %s', async (verb, resource, namespace, expected) => {
    expect(await can(who(), verb, resource, namespace)).toBe(expected);
  });
});

describe('the operator ServiceAccount', () => {
  const who = (): string => sa(OPERATOR);

  it('holds exactly its rules', async () => {
    expect(await ruleSet(who(), ns)).toEqual([
      'create events', 'create leases.coordination.k8s.io', 'create secrets',
      'create subjectaccessreviews.authorization.k8s.io', 'create tokenreviews.authentication.k8s.io',
      'delete approvalrequests.guarita.io',
      'get accesspolicies.guarita.io', 'get approvalrequests.guarita.io',
      'get namespaces', 'get pods',
      `get leases.coordination.k8s.io/${OPERATOR}-leader`, `get secrets/${release}-store-key`,
      'list accesspolicies.guarita.io', 'list approvalrequests.guarita.io',
      'patch accesspolicies.guarita.io/status', 'patch approvalrequests.guarita.io/status',
      `update leases.coordination.k8s.io/${OPERATOR}-leader`,
      'watch accesspolicies.guarita.io', 'watch approvalrequests.guarita.io',
    ].sort());
  });

  it.each([
    ['update', `lease.coordination.k8s.io/${OPERATOR}-leader`, ns, true],
    ['update', 'lease.coordination.k8s.io/kube-scheduler', ns, false],
    ['create', 'leases.coordination.k8s.io', agents, false],
    ['patch', 'approvalrequests.guarita.io/status', agents, true],
    ['patch', 'accesspolicies.guarita.io/status', agents, true],
    ['update', 'accesspolicies.guarita.io/status', agents, false],
    ['create', 'subjectaccessreviews.authorization.k8s.io', undefined, true],
    ['create', 'tokenreviews.authentication.k8s.io', undefined, true],
    ['create', 'events', agents, true],
    ['patch', 'approvalrequests.guarita.io', agents, false],
    ['update', 'accesspolicies.guarita.io', agents, false],
    ['create', 'approvalrequests.guarita.io', agents, false],
    ['get', `secret/${release}-store-key`, ns, true],
    ['get', 'secrets', agents, false],
    ['get', `secret/${WEBHOOK}-tls`, ns, false],
    ['get', `secret/${OPERATOR}-tls`, ns, false],
    ['create', 'secrets', agents, false],
    ['patch', 'pods', ns, false],
    ['list', 'pods', agents, false],
    ['watch', 'pods', agents, false],
    ['get', 'pods', agents, true],
    ['get', 'namespaces', undefined, true],
    ['list', 'namespaces', undefined, false],
  ] as const)('%s %s in %s: %s', async (verb, resource, namespace, expected) => {
    expect(await can(who(), verb, resource, namespace)).toBe(expected);
  });
});

describe('the sidecar (the agent pod\'s ServiceAccount)', () => {
  const who = (): string => sa('support-agent', agents);

  it('holds exactly its rules in its namespace', async () => {
    expect(await ruleSet(who(), agents)).toEqual([
      'create approvalrequests.guarita.io', 'create tokenreviews.authentication.k8s.io',
      'get accesspolicies.guarita.io', 'get approvalrequests.guarita.io',
      'list accesspolicies.guarita.io', 'list approvalrequests.guarita.io',
      'patch approvalrequests.guarita.io/status',
      'watch accesspolicies.guarita.io', 'watch approvalrequests.guarita.io',
    ].sort());
  });

  it.each([
    ['watch', 'accesspolicies.guarita.io', agents, true],
    ['create', 'approvalrequests.guarita.io', agents, true],
    ['patch', 'approvalrequests.guarita.io/status', agents, true],
    // An agent never reviews its own request, and never reaches another namespace.
    ['patch', 'approvalrequests.guarita.io', agents, false],
    ['update', 'approvalrequests.guarita.io', agents, false],
    ['delete', 'approvalrequests.guarita.io', agents, false],
    ['update', 'accesspolicies.guarita.io', agents, false],
    ['list', 'accesspolicies.guarita.io', other, false],
    ['create', 'approvalrequests.guarita.io', other, false],
    ['get', 'secrets', agents, false],
    ['list', 'sessions.guarita.io', agents, false],
  ] as const)('%s %s in %s: %s', async (verb, resource, namespace, expected) => {
    expect(await can(who(), verb, resource, namespace)).toBe(expected);
  });

  it('is granted to the listed service accounts only', async () => {
    expect(await can(sa('unlisted', agents), 'watch', 'accesspolicies.guarita.io', agents)).toBe(false);
    expect(await can(sa('unlisted', agents), 'create', 'tokenreviews.authentication.k8s.io')).toBe(false);
  });
});

describe('approvers and auditors', () => {
  const dana = { user: 'dana', groups: ['dpo'] } as const satisfies { user: TestUser; groups: string[] };
  const audrey = { user: 'audrey', groups: ['auditors'] } as const satisfies { user: TestUser; groups: string[] };
  const eve = { user: 'eve', groups: [] } as { user: TestUser; groups: string[] };

  it.each([
    ['approver', dana, 'patch', 'approvalrequests.guarita.io', agents, true],
    ['approver', dana, 'watch', 'approvalrequests.guarita.io', agents, true],
    ['approver', dana, 'patch', 'approvalrequests.guarita.io/status', agents, false],
    ['approver', dana, 'create', 'approvalrequests.guarita.io', agents, false],
    ['approver', dana, 'delete', 'approvalrequests.guarita.io', agents, false],
    ['approver', dana, 'patch', 'approvalrequests.guarita.io', other, false],
    ['approver', dana, 'list', 'sessions.guarita.io', agents, false],
    ['auditor', audrey, 'list', 'sessions.guarita.io', agents, true],
    ['auditor', audrey, 'get', 'sessions.guarita.io', agents, true],
    ['auditor', audrey, 'list', 'approvalrequests.guarita.io', agents, true],
    ['auditor', audrey, 'get', 'accesspolicies.guarita.io', agents, true],
    ['auditor', audrey, 'list', 'sessions.guarita.io', other, false],
    ['auditor', audrey, 'patch', 'approvalrequests.guarita.io', agents, false],
    ['auditor', audrey, 'delete', 'sessions.guarita.io', agents, false],
    ['nobody', eve, 'list', 'sessions.guarita.io', agents, false],
    ['nobody', eve, 'patch', 'approvalrequests.guarita.io', agents, false],
  ] as const)('%s %s: %s %s in %s: %s', async (_role, who, verb, resource, namespace, expected) => {
    expect(await can({ user: who.user, groups: [...who.groups] }, verb, resource, namespace)).toBe(expected);
  });
});
