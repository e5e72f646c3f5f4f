// Issue 18, items 4 and 17, through the real path: the webhook process (least-privilege token,
// self-managed TLS, client certificate required) behind the harness kube-apiserver, which presents
// its admission client certificate (e2e/harness/apiserver.ts). Pods, debug containers and updates
// go through kubectl; the endpoints themselves are probed with raw HTTPS, with and without a
// client certificate, the way an attacker inside the cluster would.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { dirname, join } from 'node:path';
import { createCa, mintServingCert } from '../../e2e/harness/certs.ts';
import { kubectl, loadHarnessState, requireKube } from '../../e2e/harness/state.ts';
import type { AdmissionReview, Pod } from '../src/kube-types.ts';
import {
  applyJson, createNamespace, installCrds, k, kFails, registerWebhooks, startWebhookProcess, suffix, unregisterWebhooks, webhookIdentity, type WebhookProcess,
} from './cluster.ts';
import { admissionReview, APPROVALS_GVR, approvalRequest, examplePod, examplePolicy, exampleYaml, POLICIES_GVR } from './fixtures.ts';

const id = suffix();
const system = `guarita-system-${id}`;
const configuration = `guarita-webhook-hard-${id}`;
const scope = { 'guarita.io/test-scope': id };
const ns = `hard-${id}`;
const other = `other-${id}`;
let webhook: WebhookProcess;

const denied = 'admission webhook "validate.pods.guarita.io" denied the request';

async function createPod(pod: Pod): Promise<Pod> {
  return JSON.parse(await k(['create', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(pod))) as Pod;
}

function optOut(pod: Pod): void {
  pod.metadata.labels = { ...pod.metadata.labels, 'guarita.io/inject': 'false' };
}

async function refused(pod: Pod): Promise<string> {
  return kFails(['create', '-f', '-'], 'admin', JSON.stringify(pod));
}

/** The apiserver's admission client certificate, next to its CA (e2e/harness/apiserver.ts). */
function apiserverClientCert(): { cert: string; key: string } {
  const ca = requireKube().webhookClientCaFile;
  if (ca === undefined) throw new Error('the harness predates the apiserver\'s webhook client certificate: restart it');
  return { cert: readFileSync(join(dirname(ca), 'webhook-client.crt'), 'utf8'), key: readFileSync(join(dirname(ca), 'webhook-client.key'), 'utf8') };
}

interface Answer { status: number; body: string }

/**
 * One raw HTTPS POST to the webhook, as any client in the cluster could send it. The body goes
 * out in chunks and stops once the server has answered (a refused huge body closes the connection).
 */
function post(path: string, body: string | Buffer, opts: { client?: { cert: string; key: string }; contentType?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(`${webhook.url}${path}`, {
      method: 'POST', rejectUnauthorized: false, timeout: 10_000,
      headers: { 'content-type': opts.contentType ?? 'application/json', 'content-length': Buffer.byteLength(body) },
      ...(opts.client ?? {}),
    }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (answered) return;
      // The server refused a body while it was still being written and closed the connection
      // before its answer could be read (a race under load): status 0, told apart from any answer.
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') resolve({ status: 0, body: `connection closed by the server while the body was sent (${err.code})` });
      else reject(err);
    });
    const bytes = Buffer.from(body);
    const CHUNK = 64 * 1024;
    const pump = (offset: number): void => {
      if (answered || req.destroyed) return;
      if (offset >= bytes.length) {
        req.end();
        return;
      }
      if (req.write(bytes.subarray(offset, offset + CHUNK))) setImmediate(() => pump(offset + CHUNK));
      else req.once('drain', () => pump(offset + CHUNK));
    };
    pump(0);
  });
}

function responseOf(a: Answer): NonNullable<AdmissionReview['response']> {
  expect(a.status).toBe(200);
  const review = JSON.parse(a.body) as AdmissionReview;
  if (review.response === undefined) throw new Error(`no response in ${a.body}`);
  return review.response;
}

beforeAll(async () => {
  await installCrds();
  await createNamespace(system, {});
  const kubeconfig = await webhookIdentity(system, configuration, 'guarita-webhook-tls', loadHarnessState().runDir);
  webhook = await startWebhookProcess({ namespace: system, configurationName: configuration, kubeconfig });
  await registerWebhooks(configuration, system, webhook.url, scope);
  for (const n of [ns, other]) {
    await createNamespace(n, { 'guarita.io/injection': 'enabled', ...scope });
    const secret = exampleYaml('orders-db-credentials.yaml') as { metadata: { namespace: string } };
    secret.metadata.namespace = n;
    await applyJson(secret);
    await applyJson(examplePolicy('accesspolicy.yaml', n));
  }
  await createPod(examplePod(ns, 'agent-1'));
}, 120_000);

afterAll(async () => {
  await unregisterWebhooks(configuration);
  await webhook?.stop();
});

describe('sidecar-only volumes (item 4) through kubectl and the apiserver', () => {
  it('refuses the reported attack: an agent container mounting guarita-spool and guarita-tokens by name', async () => {
    const pod = examplePod(ns, 'agent-steal');
    pod.spec.containers[0]!.volumeMounts = [{ name: 'guarita-spool', mountPath: '/spool' }, { name: 'guarita-tokens', mountPath: '/tokens', readOnly: true }];
    const err = await refused(pod);
    expect(err).toContain(denied);
    expect(err).toContain('container agent mounts volume guarita-spool, the proxy\'s spool (its chain signing key and unsent records); only the injected guarita-proxy may mount it: remove the mount');
    expect(err).toContain('container agent mounts volume guarita-tokens, the proxy\'s tokens (the operator ingest token)');
    expect(await kFails(['-n', ns, 'get', 'pod', 'agent-steal'])).toContain('NotFound');
  });

  const corpus: [string, (pod: Pod) => void, string][] = [
    ['a subPath mount of the spool', (p) => { p.spec.containers[0]!.volumeMounts = [{ name: 'guarita-spool', mountPath: '/k', subPath: 'keys' }]; }, 'container agent mounts volume guarita-spool (subPath keys)'],
    ['a subPathExpr mount of the tokens', (p) => { p.spec.containers[0]!.volumeMounts = [{ name: 'guarita-tokens', mountPath: '/k', subPathExpr: '$(HOSTNAME)' }]; }, 'container agent mounts volume guarita-tokens (subPathExpr $(HOSTNAME))'],
    ['an init container mounting a target volume', (p) => { p.spec.initContainers = [{ name: 'setup', image: 'busybox', volumeMounts: [{ name: 'guarita-target-orders-db', mountPath: '/c' }] }]; }, 'init container setup mounts volume guarita-target-orders-db, a target\'s credentials'],
    ['a second container mounting the spool', (p) => { p.spec.containers.push({ name: 'helper', image: 'busybox', volumeMounts: [{ name: 'guarita-spool', mountPath: '/s' }] }); }, 'container helper mounts volume guarita-spool'],
    // These two never reach injection (the injector refuses the names too): opted out, the validating webhook judges them.
    ['a block device from a volume with the reserved prefix', (p) => { optOut(p); p.spec.volumes = [{ name: 'guarita-blk', persistentVolumeClaim: { claimName: 'data' } }]; p.spec.containers[0]!.volumeDevices = [{ name: 'guarita-blk', devicePath: '/dev/xvdz' }]; }, 'container agent uses volume guarita-blk as a block device (volumeDevices)'],
    ['a user volume with the reserved prefix', (p) => { optOut(p); p.spec.volumes = [{ name: 'guarita-cache', emptyDir: {} }]; p.spec.containers[0]!.volumeMounts = [{ name: 'guarita-cache', mountPath: '/c' }]; }, 'volume guarita-cache: names starting with guarita- are reserved'],
    ['a hostPath to the kubelet\'s pod directories', (p) => { p.spec.volumes = [{ name: 'node', hostPath: { path: '/var/lib/kubelet/pods' } }]; p.spec.containers[0]!.volumeMounts = [{ name: 'node', mountPath: '/n' }]; }, 'volume node is a hostPath'],
    ['an inline CSI volume of a driver not allowed', (p) => { p.spec.volumes = [{ name: 'node', csi: { driver: 'hostpath.csi.k8s.io' } }]; p.spec.containers[0]!.volumeMounts = [{ name: 'node', mountPath: '/n' }]; }, 'volume node uses CSI driver hostpath.csi.k8s.io inline'],
    ['a second volume with the operator-audience token', (p) => { p.spec.volumes = [{ name: 'ingest', projected: { sources: [{ serviceAccountToken: { path: 't', audience: 'guarita-operator' } }] } }]; p.spec.containers[0]!.volumeMounts = [{ name: 'ingest', mountPath: '/i' }]; }, 'container agent reads a service-account token for audience guarita-operator (volume ingest)'],
    ['a second volume projecting the credentials Secret', (p) => { p.spec.volumes = [{ name: 'creds', projected: { sources: [{ secret: { name: 'orders-db-credentials' } }] } }]; p.spec.containers[0]!.volumeMounts = [{ name: 'creds', mountPath: '/c' }]; }, 'container agent reads Secret orders-db-credentials (volume creds)'],
    ['a shared process namespace', (p) => { p.spec.shareProcessNamespace = true; }, 'spec.shareProcessNamespace: true lets agent containers read guarita-proxy\'s files'],
    ['a privileged agent', (p) => { p.spec.containers[0]!.securityContext = { privileged: true }; }, 'container agent is privileged'],
  ];
  it.each(corpus)('refuses %s', async (_name, mutate, message) => {
    const pod = examplePod(ns, `agent-${suffix()}`);
    mutate(pod);
    const err = await refused(pod);
    expect(err).toContain(denied);
    expect(err).toContain(message);
  });

  it('refuses user volumes named like the injector\'s before injection, rather than rewriting them', async () => {
    for (const volume of [{ name: 'guarita-spool', hostPath: { path: '/var/lib/kubelet/pods' } }, { name: 'guarita-tokens', projected: { sources: [{ serviceAccountToken: { path: 'operator', audience: 'guarita-operator' } }] } }, { name: 'guarita-spool', emptyDir: {} }]) {
      const pod = examplePod(ns, `agent-${suffix()}`);
      pod.spec.volumes = [volume];
      const err = await refused(pod);
      expect(err).toContain(`admission webhook "inject.pods.guarita.io" denied the request: guarita cannot inject this pod: volume ${volume.name}: names starting with guarita- are reserved`);
    }
    const ownProxy = examplePod(ns, `agent-${suffix()}`);
    ownProxy.spec.containers.push({ name: 'guarita-proxy', image: 'busybox' });
    expect(await refused(ownProxy)).toContain('container guarita-proxy: the name is reserved for the proxy the injector adds');
    // Opted out of injection, the validating webhook refuses the same names.
    const optedOut = examplePod(ns, `agent-${suffix()}`);
    optedOut.metadata.labels = { ...optedOut.metadata.labels, 'guarita.io/inject': 'false' };
    optedOut.spec.volumes = [{ name: 'guarita-spool', emptyDir: {} }];
    expect(await refused(optedOut)).toContain(`${denied}: guarita: volume guarita-spool: names starting with guarita- are reserved`);
  });

  it('refuses a pod created already "injected" (forged annotation) with a look-alike proxy', async () => {
    const genuine = JSON.parse(await k(['-n', ns, 'get', 'pod', 'agent-1', '-o', 'json'])) as Pod;
    const forged: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'agent-forged', namespace: ns, labels: genuine.metadata.labels, annotations: genuine.metadata.annotations }, spec: structuredClone(genuine.spec) };
    delete forged.spec.nodeName;
    const proxy = forged.spec.initContainers!.find((c) => c.name === 'guarita-proxy')!;
    proxy.env!.find((e) => e.name === 'GUARITA_OPERATOR_URL')!.value = 'https://collector.attacker.example';
    const err = await refused(forged);
    expect(err).toContain('init container guarita-proxy is not the proxy the injector writes: guarita-proxy.env[GUARITA_OPERATOR_URL].value is "https://collector.attacker.example"');
    expect(err).toContain('remove both and the injector adds the genuine proxy');
    const otherImage = structuredClone(forged);
    otherImage.metadata.name = 'agent-forged-image';
    const p2 = otherImage.spec.initContainers!.find((c) => c.name === 'guarita-proxy')!;
    p2.env = proxy.env!.map((e) => (e.name === 'GUARITA_OPERATOR_URL' ? genuine.spec.initContainers![0]!.env!.find((x) => x.name === e.name)! : e));
    p2.image = 'busybox';
    expect(await refused(otherImage)).toContain('guarita-proxy.image is "busybox"');
    // The genuine proxy, copied into a pod its policy's podSelector does not select.
    const unselected: Pod = { ...structuredClone(forged), metadata: { name: 'agent-unselected', namespace: ns, labels: { app: 'billing-agent' }, annotations: genuine.metadata.annotations } };
    unselected.spec.initContainers = structuredClone(genuine.spec.initContainers);
    expect(await refused(unselected)).toContain('its GUARITA_TARGETS names orders-db, but the AccessPolicies selecting this pod are none');
  });

  it('freezes the injected proxy on UPDATE (kubectl set image) but lets labels and agent images change', async () => {
    const err = await kFails(['-n', ns, 'set', 'image', 'pod/agent-1', 'guarita-proxy=busybox']);
    expect(err).toContain(denied);
    expect(err).toContain('container guarita-proxy cannot change after admission (guarita-proxy.image is "busybox"');
    await k(['-n', ns, 'label', 'pod/agent-1', 'reviewed=yes']);
    await k(['-n', ns, 'set', 'image', 'pod/agent-1', 'agent=postgres:17']);
    const stored = JSON.parse(await k(['-n', ns, 'get', 'pod', 'agent-1', '-o', 'json'])) as Pod;
    expect(stored.spec.initContainers?.[0]?.image).toBe('ghcr.io/guarita/guarita:test');
  });

  it('intercepts kubectl debug (pods/ephemeralcontainers): no target on the proxy, no proxy volumes, no proxy name, no copy sharing processes', async () => {
    const target = await kFails(['-n', ns, 'debug', 'agent-1', '--image=busybox', '--target=guarita-proxy', '--', 'true']);
    expect(target).toContain('ephemeral container debugger-');
    expect(target).toContain('targets guarita-proxy, whose files hold target credentials');
    const patch = (container: Record<string, unknown>): Promise<string> => kFails(['-n', ns, 'patch', 'pod', 'agent-1', '--subresource=ephemeralcontainers', '--type=strategic', '-p', JSON.stringify({ spec: { ephemeralContainers: [container] } })]);
    // (The apiserver itself forbids subPath on ephemeral containers.)
    expect(await patch({ name: 'snoop', image: 'busybox', volumeMounts: [{ name: 'guarita-spool', mountPath: '/s' }] })).toContain('ephemeral container snoop mounts volume guarita-spool, the proxy\'s spool');
    expect(await patch({ name: 'tokens', image: 'busybox', volumeMounts: [{ name: 'guarita-tokens', mountPath: '/t' }] })).toContain('ephemeral container tokens mounts volume guarita-tokens');
    expect(await patch({ name: 'root', image: 'busybox', securityContext: { privileged: true } })).toContain('ephemeral container root is privileged');
    // A copy sharing processes with the proxy. kubectl drops the labels of the copy, so its proxy
    // also serves a policy that no longer selects it: refused for both (shareProcessNamespace on its
    // own is in the pod corpus above).
    const copy = await kFails(['-n', ns, 'debug', 'agent-1', '--image=busybox', '--copy-to=agent-1-copy', '--share-processes', '--', 'true']);
    expect(copy).toContain(denied);
    expect(copy).toContain('its GUARITA_TARGETS names orders-db, but the AccessPolicies selecting this pod are none');
    expect(await kFails(['-n', ns, 'get', 'pod', 'agent-1-copy'])).toContain('NotFound');
    // An ordinary debug container on the agent is still possible (one that drops NET_RAW: see
    // adversarial.int.test.ts).
    await k(['-n', ns, 'debug', 'agent-1', '--image=busybox', '--target=agent', '--profile=restricted', '--', 'true']);
  });
});

describe('who may call the webhook (item 17), raw HTTPS against its port', () => {
  // Opted out: a pod a policy selects that reaches validation without the proxy is refused (round 9, C).
  const probe = (): Pod => {
    const pod = examplePod(ns, 'probe');
    pod.metadata.labels = { ...pod.metadata.labels, 'guarita.io/inject': 'false' };
    return pod;
  };
  const validPod = (): string => JSON.stringify(admissionReview({ operation: 'CREATE', namespace: ns, object: probe() }));

  it('refuses a caller without a client certificate, and one whose certificate another CA issued', async () => {
    const none = await post('/validate/pods', validPod());
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body)).toEqual({ error: expect.stringContaining('the admission endpoints answer only the kube-apiserver, which must present a client certificate issued by the CA in GUARITA_WEBHOOK_CLIENT_CA_FILE; no client certificate was presented') });
    const rogueCa = await createCa('rogue-ca');
    const rogue = await mintServingCert(rogueCa, { commonName: 'kube-apiserver-admission', clientAuth: true });
    const wrong = await post('/validate/accesspolicies', validPod(), { client: { cert: rogue.certPem, key: rogue.keyPem } });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toContain('the client certificate was refused');
    for (const path of ['/mutate/pods', '/validate/approvalrequests', '/validate/approvalrequests/status', '/mutate/approvalrequests']) {
      expect((await post(path, validPod())).status).toBe(401);
    }
  });

  it('answers the apiserver\'s certificate', async () => {
    expect(responseOf(await post('/validate/pods', validPod(), { client: apiserverClientCert() }))).toMatchObject({ allowed: true });
  });

  it('gives the same answer whether a Secret exists or not in a namespace the requester cannot read (no oracle)', async () => {
    const client = apiserverClientCert();
    const probe = async (secret: string): Promise<string> => {
      const policy = examplePolicy('accesspolicy.yaml', other);
      policy.metadata.name = 'probe';
      policy.spec.target = { ...policy.spec.target, name: 'probe', listenPort: 15432, credentialsSecretRef: { name: secret } };
      const review = admissionReview({ operation: 'CREATE', resource: POLICIES_GVR, namespace: other, object: policy, userInfo: { username: 'eve', groups: ['system:authenticated'] } });
      const res = responseOf(await post('/validate/accesspolicies', JSON.stringify(review), { client }));
      return JSON.stringify({ allowed: res.allowed, status: res.status, warnings: res.warnings }).replaceAll(secret, '<SECRET>');
    };
    const existing = await probe('orders-db-credentials');
    const madeUp = await probe(`made-up-${suffix()}`);
    expect(existing).toBe(madeUp);
    expect(existing).toContain('was not checked: you may not get Secrets in namespace');
    expect(existing).not.toContain('AccessPolicy orders-db');
    expect(existing).not.toContain('guarita.io/injection');
  });

  it('through kubectl too: a requester who may create policies but not read Secrets learns nothing about them', async () => {
    await applyJson({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'policy-writer', namespace: other }, rules: [{ apiGroups: ['guarita.io'], resources: ['accesspolicies'], verbs: ['create', 'get'] }] });
    await applyJson({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'policy-writer', namespace: other }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'policy-writer' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'eve' }] });
    const attempt = async (secret: string): Promise<string> => {
      const policy = examplePolicy('accesspolicy.yaml', other);
      policy.metadata.name = 'probe';
      policy.spec.target = { ...policy.spec.target, name: 'probe', listenPort: 15432, credentialsSecretRef: { name: secret } };
      const res = await kubectl(['create', '--dry-run=server', '-f', '-'], { user: 'eve', input: JSON.stringify(policy) });
      return `${res.code} ${res.stdout} ${res.stderr}`.replaceAll(secret, '<SECRET>');
    };
    const existing = await attempt('orders-db-credentials');
    expect(existing).toBe(await attempt(`made-up-${suffix()}`));
    expect(existing).not.toContain('orders-db (target');
    // Someone who may read the Secrets still gets the check.
    const policy = examplePolicy('accesspolicy.yaml', other);
    policy.metadata.name = 'probe-admin';
    policy.spec.target = { ...policy.spec.target, name: 'probe-admin', listenPort: 15433, credentialsSecretRef: { name: 'made-up' } };
    expect(await kFails(['create', '--dry-run=server', '-f', '-'], 'admin', JSON.stringify(policy))).toContain('Secret made-up does not exist in namespace');
  });

  it('denies malformed reviews with a reason, never a 500 or a stack', async () => {
    const client = apiserverClientCert();
    const approval = approvalRequest(ns, 'x');
    const cases: [string, string, string | Buffer, string?][] = [
      ['/validate/approvalrequests', 'UPDATE without oldObject', JSON.stringify(admissionReview({ operation: 'UPDATE', resource: APPROVALS_GVR, namespace: ns, object: approval }))],
      ['/mutate/approvalrequests', 'UPDATE without oldObject', JSON.stringify(admissionReview({ operation: 'UPDATE', resource: APPROVALS_GVR, namespace: ns, object: approval }))],
      ['/validate/approvalrequests/status', 'UPDATE without oldObject', JSON.stringify(admissionReview({ operation: 'UPDATE', resource: APPROVALS_GVR, subResource: 'status', namespace: ns, object: approval }))],
      ['/validate/pods', 'an ApprovalRequest', JSON.stringify(admissionReview({ operation: 'CREATE', namespace: ns, object: approval }))],
      ['/mutate/pods', 'a string', JSON.stringify(admissionReview({ operation: 'CREATE', namespace: ns, object: 'pod' }))],
      ['/validate/pods', 'containers not a list', JSON.stringify(admissionReview({ operation: 'CREATE', namespace: ns, object: { metadata: {}, spec: { containers: {} } } }))],
      ['/validate/accesspolicies', 'a Pod', JSON.stringify(admissionReview({ operation: 'CREATE', resource: POLICIES_GVR, namespace: ns, object: examplePod(ns) }))],
      ['/validate/approvalrequests', 'a Pod', JSON.stringify(admissionReview({ operation: 'CREATE', resource: APPROVALS_GVR, namespace: ns, object: examplePod(ns) }))],
      ['/validate/pods', 'UPDATE without oldObject', JSON.stringify(admissionReview({ operation: 'UPDATE', namespace: ns, object: examplePod(ns) }))],
    ];
    for (const [path, what, body] of cases) {
      const res = responseOf(await post(path, body, { client }));
      expect({ what, path, allowed: res.allowed }).toEqual({ what, path, allowed: false });
      expect(res.status?.code).toBeLessThan(500);
      expect(res.status?.message).not.toMatch(/TypeError|Cannot read|undefined \(reading|\n\s+at /);
    }
    const raw: [string, string | Buffer, string, number][] = [
      ['not JSON', '{"apiVersion":', 'application/json', 400],
      // text/plain is parsed as a string, which is not an AdmissionReview.
      ['a text/plain body', validPod(), 'text/plain', 400],
      ['an unsupported content type', '<review/>', 'application/xml', 415],
      ['a JSON array', '[]', 'application/json', 400],
      ['wrong kind', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'Pod', request: {} }), 'application/json', 400],
      ['no uid', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { operation: 'CREATE', userInfo: {} } }), 'application/json', 400],
      ['an unknown operation', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', operation: 'PATCH', userInfo: {} } }), 'application/json', 400],
      ['no userInfo', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', operation: 'CREATE' } }), 'application/json', 400],
      ['a huge body', Buffer.alloc(17 * 1024 * 1024, 0x20), 'application/json', 413],
    ];
    for (const [what, body, contentType, status] of raw) {
      const res = await post('/validate/pods', body, { client, contentType });
      // A huge body may also be cut off by the server before its 413 can be read (status 0).
      const accepted = status === 413 ? [413, 0] : [status];
      expect({ what, status: accepted.includes(res.status) ? status : res.status }).toEqual({ what, status });
      expect(res.body).not.toMatch(/\n\s+at |"stack"/);
    }
  });
});
