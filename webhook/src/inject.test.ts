import { describe, expect, it } from '@jest/globals';
import { decideInjection, decisionAtCreate, type InjectionDecision, type InjectionInput } from './inject.ts';
import { applyPatch } from './json-patch.ts';
import { sidecarCommand, type TargetPlan } from './sidecar.ts';
import type { Container, Pod } from './kube-types.ts';
import { examplePod, examplePolicy, jobPod, OPTED_IN, TEST_INJECTOR, TEST_SIDECAR } from '../test/fixtures.ts';

const ordersDb = examplePolicy('accesspolicy.yaml');
const customersApi = examplePolicy('accesspolicy-http.yaml');

function input(pod: Pod, over: Partial<InjectionInput> = {}): InjectionInput {
  return { pod, namespace: { name: 'lgpd-orders', labels: OPTED_IN }, policies: [ordersDb, customersApi], config: TEST_INJECTOR, ...over };
}

function injected(d: InjectionDecision): Extract<InjectionDecision, { action: 'inject' }> {
  if (d.action !== 'inject') throw new Error(`expected inject, got ${d.action}: ${d.message}`);
  return d;
}

function envOf(c: Container | undefined): Record<string, string | undefined> {
  return Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value]));
}

describe('decideInjection', () => {
  it('injects the proxy as a native sidecar, first init container, with a startup probe', () => {
    const d = injected(decideInjection(input(examplePod())));
    const proxy = d.pod.spec.initContainers?.[0];
    expect(proxy?.name).toBe('guarita-proxy');
    expect(proxy?.restartPolicy).toBe('Always');
    expect(proxy?.image).toBe(TEST_SIDECAR.image);
    // Its targets' V8 flags (an HTTP API and a PostgreSQL database): it starts once, without re-executing itself.
    expect(proxy?.command).toEqual(['node', '--liftoff-only', '--max-semi-space-size=16', '/app/sidecar/src/main.js']);
    expect(envOf(proxy).MALLOC_ARENA_MAX).toBe('2');
    expect(proxy?.resources).toEqual(TEST_SIDECAR.resources);
    expect((proxy?.startupProbe as { exec: { command: string[] } }).exec.command.join(' ')).toContain('http://127.0.0.1:15090/readyz');
    expect(proxy?.securityContext).toEqual({
      runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
      privileged: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(d.pod.spec.containers.map((c) => c.name)).toEqual(['agent']);
    expect(d.policies).toEqual(['customers-api', 'orders-db']);
  });

  it('gives the sidecar the contract environment, targets sorted by policy name', () => {
    const d = injected(decideInjection(input(examplePod())));
    const env = envOf(d.pod.spec.initContainers?.[0]);
    expect(JSON.parse(env.GUARITA_TARGETS ?? '')).toEqual([
      { policy: 'customers-api', target: 'customers-api', protocol: 'http', listenPort: 18080 },
      { policy: 'orders-db', target: 'orders-db', protocol: 'postgres', listenPort: 15432 },
    ]);
    expect(env).toMatchObject({
      GUARITA_ADMIN_PORT: '15090', GUARITA_OPERATOR_URL: TEST_SIDECAR.operatorUrl, GUARITA_SPOOL_DIR: '/var/run/guarita/spool',
      GUARITA_CREDENTIALS_DIR: '/var/run/guarita/targets', GUARITA_TOKEN_DIR: '/var/run/guarita/tokens',
    });
    const downward = d.pod.spec.initContainers?.[0]?.env?.filter((e) => e.valueFrom?.fieldRef !== undefined).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]);
    expect(downward).toEqual([['GUARITA_NAMESPACE', 'metadata.namespace'], ['GUARITA_POD_NAME', 'metadata.name'], ['GUARITA_POD_UID', 'metadata.uid'], ['GUARITA_POD_IPS', 'status.podIPs']]);
  });

  it('bounds the spool emptyDir and tells the sidecar its budget inside it (kubelet evicts past sizeLimit; the spool refuses first)', () => {
    const config = { ...TEST_INJECTOR, sidecar: { ...TEST_INJECTOR.sidecar, spoolSizeLimit: '256Mi', spoolMaxBytes: 255 * 2 ** 20 } };
    const d = injected(decideInjection(input(examplePod(), { config })));
    expect(envOf(d.pod.spec.initContainers?.[0]).GUARITA_SPOOL_MAX_BYTES).toBe(String(255 * 2 ** 20));
    expect(d.pod.spec.volumes?.find((v) => v.name === 'guarita-spool')?.emptyDir).toEqual({ sizeLimit: '256Mi' });
    // Unbounded emptyDir: no budget either.
    expect(envOf(injected(decideInjection(input(examplePod()))).pod.spec.initContainers?.[0]).GUARITA_SPOOL_MAX_BYTES).toBeUndefined();
  });

  it('gives agent containers the local endpoints, PGHOST/PGPORT for the single postgres target, and keeps their own variables', () => {
    const pod = examplePod();
    pod.spec.containers[0]?.env?.push({ name: 'PGHOST', value: 'orders-db.lgpd-orders.svc' });
    const env = envOf(injected(decideInjection(input(pod))).pod.spec.containers[0]);
    expect(env).toEqual({
      CUSTOMERS_API_URL: 'http://127.0.0.1:18080',
      ORDERS_DB_URL: 'postgresql://127.0.0.1:15432/orders',
      PGHOST: '127.0.0.1', PGPORT: '15432', PGSSLMODE: 'disable',
      GUARITA_ADMIN_URL: 'http://127.0.0.1:15090',
      PGOPTIONS: '-c guarita.purpose=customer-support',
    });
  });

  it('mounts the credentials Secret, the spool and the projected tokens into the sidecar only', () => {
    const d = injected(decideInjection(input(examplePod())));
    const proxy = d.pod.spec.initContainers?.[0];
    expect(proxy?.volumeMounts).toEqual([
      { name: 'guarita-spool', mountPath: '/var/run/guarita/spool' },
      { name: 'guarita-tokens', mountPath: '/var/run/guarita/tokens', readOnly: true },
      { name: 'guarita-target-orders-db', mountPath: '/var/run/guarita/targets/orders-db', readOnly: true },
    ]);
    expect(d.pod.spec.containers[0]?.volumeMounts).toBeUndefined();
    const volumes = Object.fromEntries((d.pod.spec.volumes ?? []).map((v) => [v.name, v]));
    expect(volumes['guarita-target-orders-db']?.projected).toEqual({ defaultMode: 0o444, sources: [{ secret: { name: 'orders-db-credentials' } }] });
    expect(volumes['guarita-target-customers-api']).toBeUndefined();
    expect(volumes['guarita-spool']?.emptyDir).toEqual({});
    const sources = volumes['guarita-tokens']?.projected?.sources ?? [];
    expect(sources.map((s) => s.serviceAccountToken)).toEqual([
      { path: 'operator', audience: 'guarita-operator', expirationSeconds: 3600 },
      { path: 'kube', expirationSeconds: 3600 },
      undefined,
    ]);
    expect(d.pod.metadata.annotations).toMatchObject({ 'guarita.io/status': 'injected', 'guarita.io/policies': 'customers-api,orders-db' });
    // Projected tokens need a service account: "default", as the ServiceAccount admission plugin would set.
    expect(d.pod.spec.serviceAccountName).toBe('default');
  });

  it('projects the TLS CA and masking hash key into the target directory when they are other Secrets', () => {
    const policy = examplePolicy('accesspolicy.yaml');
    policy.spec.target.tls = { mode: 'verify-full', caSecretRef: { name: 'orders-db-ca', key: 'ca.crt' } };
    policy.spec.masking = { ...policy.spec.masking, style: 'hash', hashKeySecretRef: { name: 'orders-db-credentials', key: 'hmac' } };
    const d = injected(decideInjection(input(examplePod(), { policies: [policy] })));
    const volume = d.pod.spec.volumes?.find((v) => v.name === 'guarita-target-orders-db');
    expect(volume?.projected?.sources).toEqual([{ secret: { name: 'orders-db-credentials' } }, { secret: { name: 'orders-db-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }]);
  });

  it('emits a JSON Patch that turns the pod into the desired pod', () => {
    const pod = examplePod();
    const d = injected(decideInjection(input(pod)));
    expect(applyPatch(pod, d.patch)).toEqual(d.pod);
    expect(d.patch.map((op) => op.path)).toContain('/spec/initContainers');
    expect(d.patch.every((op) => op.op === 'add' || op.op === 'replace')).toBe(true);
  });

  it('is idempotent: a second pass over the injected pod changes nothing', () => {
    const first = injected(decideInjection(input(examplePod())));
    const again = decideInjection(input(first.pod));
    expect(again).toMatchObject({ action: 'skip', reason: 'already-injected' });
  });

  it('on reinvocation, gives endpoints to a container another webhook added and moves the proxy back to the front', () => {
    const first = injected(decideInjection(input(examplePod()))).pod;
    first.spec.containers.push({ name: 'otel-collector', image: 'otel:1' });
    first.spec.initContainers?.unshift({ name: 'istio-validation', image: 'istio:1' });
    const d = injected(decideInjection(input(first, { policies: [] })));
    expect(d.reinvocation).toBe(true);
    expect(d.pod.spec.initContainers?.map((c) => c.name)).toEqual(['guarita-proxy', 'istio-validation']);
    expect(envOf(d.pod.spec.containers[1]).ORDERS_DB_URL).toBe('postgresql://127.0.0.1:15432/orders');
    expect(d.pod.spec.initContainers?.[0]).toEqual(first.spec.initContainers?.[1]);
    expect(decideInjection(input(d.pod))).toMatchObject({ action: 'skip', reason: 'already-injected' });
  });

  it('injects a Job-shaped pod as a native sidecar so the Job can complete', () => {
    const d = injected(decideInjection(input(jobPod('lgpd-orders', 'nightly-report'))));
    expect(d.pod.spec.restartPolicy).toBe('Never');
    expect(d.pod.spec.initContainers?.[0]).toMatchObject({ name: 'guarita-proxy', restartPolicy: 'Always' });
    expect(d.warnings).toEqual([]);
  });

  it('skips namespaces without the label, excluded namespaces, opted-out pods and unmatched pods', () => {
    expect(decideInjection(input(examplePod(), { namespace: { name: 'lgpd-orders', labels: {} } }))).toMatchObject({ action: 'skip', reason: 'namespace-not-enabled' });
    expect(decideInjection(input(examplePod('kube-system'), { namespace: { name: 'kube-system', labels: OPTED_IN } }))).toMatchObject({ action: 'skip', reason: 'excluded-namespace' });
    const optedOut = examplePod();
    optedOut.metadata.annotations = { 'guarita.io/inject': 'false' };
    expect(decideInjection(input(optedOut))).toMatchObject({ action: 'skip', reason: 'opted-out' });
    const other = examplePod();
    other.metadata.labels = { app: 'billing' };
    expect(decideInjection(input(other))).toMatchObject({ action: 'skip', reason: 'no-matching-policy' });
  });

  it('decisionAtCreate adds the apiserver\'s part: the objectSelector keeps a pod labelled guarita.io/inject=false from the injector', () => {
    const labelled = examplePod();
    labelled.metadata.labels = { app: 'support-agent', 'guarita.io/inject': 'false' };
    labelled.metadata.annotations = { 'guarita.io/inject': 'true' };
    // The injector alone would follow the annotation; the apiserver never asks it.
    expect(decideInjection(input(labelled)).action).toBe('inject');
    expect(decisionAtCreate(input(labelled))).toMatchObject({ action: 'skip', reason: 'opted-out', message: expect.stringContaining('label guarita.io/inject=false') });
    // Any other label value reaches the injector (the objectSelector is NotIn [false]).
    labelled.metadata.labels['guarita.io/inject'] = 'False';
    expect(decisionAtCreate(input(labelled)).action).toBe('inject');
    expect(decisionAtCreate(input(examplePod()))).toEqual(decideInjection(input(examplePod())));
  });

  it('refuses a pod that insists on the sidecar (inject: "true") when no policy selects it', () => {
    const pod = examplePod();
    pod.metadata.labels = { app: 'billing' };
    pod.metadata.annotations = { 'guarita.io/inject': 'true' };
    expect(decideInjection(input(pod))).toEqual({ action: 'reject', message: expect.stringContaining('carries guarita.io/inject: "true" but no AccessPolicy in namespace lgpd-orders selects it') });
  });

  it('does not set PGHOST when the pod has two postgres targets', () => {
    const second = examplePolicy('accesspolicy.yaml');
    second.metadata.name = 'billing-db';
    second.spec.target = { ...second.spec.target, name: 'billing-db', listenPort: 15433, endpoint: 'billing-db:5432' };
    const env = envOf(injected(decideInjection(input(examplePod(), { policies: [ordersDb, second] }))).pod.spec.containers[0]);
    expect(env.PGHOST).toBeUndefined();
    expect(env.BILLING_DB_URL).toBe('postgresql://127.0.0.1:15433/orders');
  });

  it('refuses a pod that brings its own guarita-proxy container or guarita-* volumes, instead of rewriting them', () => {
    const pod = examplePod();
    pod.spec.containers.push({ name: 'guarita-proxy', image: 'evil:latest', command: ['sh'] });
    pod.spec.volumes = [{ name: 'guarita-target-orders-db', secret: { secretName: 'orders-db-credentials' } }, { name: 'guarita-spool', hostPath: { path: '/var/lib/kubelet' } }];
    expect(decideInjection(input(pod))).toEqual({
      action: 'reject',
      message: 'guarita cannot inject this pod: container guarita-proxy: the name is reserved for the proxy the injector adds; rename the container (or remove it: the injector adds the genuine one); '
        + 'volume guarita-target-orders-db: names starting with guarita- are reserved for the volumes the injector adds to guarita-proxy; rename the volume; '
        + 'volume guarita-spool: names starting with guarita- are reserved for the volumes the injector adds to guarita-proxy; rename the volume',
    });
  });

  it('rejects pods it cannot govern, naming why', () => {
    const clash = examplePolicy('accesspolicy-http.yaml');
    clash.spec.target = { ...clash.spec.target, listenPort: 15432 };
    expect(decideInjection(input(examplePod(), { policies: [ordersDb, clash] }))).toEqual({
      action: 'reject', message: 'guarita cannot inject this pod: AccessPolicies customers-api and orders-db both listen on port 15432 (spec.target.listenPort)',
    });
    const host = examplePod();
    host.spec.hostNetwork = true;
    expect(decideInjection(input(host))).toMatchObject({ action: 'reject', message: expect.stringContaining('hostNetwork') });
    const ports = examplePod();
    ports.spec.containers[0]!.ports = [{ containerPort: 15090 }];
    expect(decideInjection(input(ports))).toMatchObject({ action: 'reject', message: expect.stringContaining('container agent declares port 15090') });
  });

  describe('fallback for clusters older than 1.29 (sidecarMode: container)', () => {
    const config = { ...TEST_INJECTOR, sidecar: { ...TEST_SIDECAR, mode: 'container' as const } };

    it('injects an ordinary first container that holds the agents until ready', () => {
      const pod = examplePod();
      pod.spec.initContainers = [{ name: 'migrate', image: 'm:1' }];
      const d = injected(decideInjection(input(pod, { config })));
      expect(d.pod.spec.containers.map((c) => c.name)).toEqual(['guarita-proxy', 'agent']);
      expect(d.pod.spec.containers[0]?.restartPolicy).toBeUndefined();
      expect(JSON.stringify(d.pod.spec.containers[0]?.lifecycle)).toContain('postStart');
      expect(d.pod.spec.initContainers?.[0]?.env).toBeUndefined();
      expect(d.pod.metadata.annotations?.['kubectl.kubernetes.io/default-container']).toBe('agent');
      expect(decideInjection(input(d.pod, { config }))).toMatchObject({ action: 'skip', reason: 'already-injected' });
    });

    it('warns that a Job will not complete', () => {
      const d = injected(decideInjection(input(jobPod('lgpd-orders', 'nightly'), { config })));
      expect(d.warnings[0]).toContain('Job never completes');
    });
  });
});

describe("the proxy starts with its targets' V8 flags (core/sidecar-start.ts), so it never re-executes itself", () => {
  const plan = (protocol: TargetPlan['protocol']): TargetPlan => ({ policy: 'p', target: 't', protocol, listenPort: 15432, secrets: [] });

  it.each([
    [['http'], ['node', '--max-semi-space-size=16', '/app/sidecar/src/main.js']],
    [['ssh', 'kubernetes'], ['node', '--max-semi-space-size=16', '/app/sidecar/src/main.js']],
    [['postgres'], ['node', '--liftoff-only', '--max-semi-space-size=16', '/app/sidecar/src/main.js']],
    [['http', 'postgres'], ['node', '--liftoff-only', '--max-semi-space-size=16', '/app/sidecar/src/main.js']],
  ] as const)('%j: %j', (protocols, command) => {
    expect(sidecarCommand(protocols.map(plan))).toEqual(command);
  });
});
