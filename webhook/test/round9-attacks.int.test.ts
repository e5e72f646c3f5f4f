// Round 9: adversarial review of the admission webhook, through the real path: kubectl against the
// harness kube-apiserver (1.34.4), which calls the webhook process (least-privilege token, client
// certificate), as webhook/test/round8c-attacks.int does. Report: docs/security-model.md, "Round 9 review: the webhook".
//
// Each test states what SHOULD happen. "finding" tests FAIL on the code under review; "control" and
// "held" tests pass.
//
// The class is round 7's "the pod's name resolution is the proxy's" (hostAliases, dnsPolicy None,
// dnsConfig.nameservers are refused), reached through the fields that round left open. The harness
// has no kubelet, so what the tests show is the webhook admitting the pod; what the kubelet then
// does is read from its source (k8s.io/kubernetes v1.34.4, in the Go module cache):
// A. pkg/kubelet/kubelet_pods.go managedHostsFileContent / GeneratePodHostNameAndDomain: every
//    container of a pod (guarita-proxy included) gets one kubelet-written /etc/hosts with the line
//    "<podIP>\t<hostname>" or "<podIP>\t<hostname>.<subdomain>.<ns>.svc.<domain>\t<hostname>", where
//    <hostname> is spec.hostname or else THE POD'S NAME, which may contain dots (a DNS subdomain,
//    up to 63 characters kept). A pod named like its target's host (the example's
//    orders-db.orders-data.svc.cluster.local), or with hostname/subdomain spelling a StatefulSet
//    pod's DNS name, makes the proxy's getaddrinfo (node:24-bookworm-slim, nsswitch "files dns")
//    answer the pod's own IP: an agent container listening on the target's port there receives the
//    proxy's upstream connection and asks for AuthenticationCleartextPassword, which
//    sidecar/src/postgres/upstream.ts answers with the target's password. The agent then talks to
//    the database directly, with no proxy in between.
// B. pkg/kubelet/network/dns/dns.go appendDNSConfig: spec.dnsConfig.searches are APPENDED to the
//    cluster search list, and options (ndots) merged in. Under ClusterFirst (ndots 5) a name with
//    fewer than 5 dots is tried with every search domain before it is tried as is: the example's
//    orders-db.orders-data.svc.cluster.local (4 dots) is looked up as
//    orders-db.orders-data.svc.cluster.local.<ns>.svc.cluster.local, ...svc.cluster.local,
//    ...cluster.local.cluster.local (all NXDOMAIN), then ...cluster.local.<the pod's search
//    domain>, which a wildcard record in a public zone the pod's author holds answers with their
//    address, before the real name is ever asked. An ndots option raises the count for names with
//    more dots. The guard allows searches and options on purpose ("they choose no nameserver"),
//    but they choose the NAME that is asked, which is the same thing for a resolver.
// C. A mutating webhook after Guarita's (configurations run in name order) that removes
//    guarita-proxy, with reinvocationPolicy IfNeeded: k8s.io/apiserver v0.34.4
//    plugin/webhook/mutating/dispatcher.go reinvokes Guarita once (it re-injects), and because
//    Guarita's re-injection changed the object, the later webhook is reinvoked in the same pass and
//    removes the proxy again; there is no third pass. validate.pods.guarita.io judges what is in the
//    pod, not what is missing: a pod its AccessPolicy selects, even one carrying
//    guarita.io/inject: "true", is admitted without the proxy, while docs/webhook.md says "a pod that
//    asked for the sidecar never starts without it" and that a later webhook that changes the
//    proxy gets the pod refused (fail closed). The stripper here is a 20-line HTTPS server.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCa, mintServingCert } from '../../e2e/harness/certs.ts';
import type { AccessPolicy } from '../../crds/types.ts';
import type { Container, Pod } from '../src/kube-types.ts';
import { applyJson, createNamespace, installCrds, k, kFails, registerWebhooks, startWebhookProcess, suffix, unregisterWebhooks, webhookIdentity, type WebhookProcess } from './cluster.ts';
import { examplePod, examplePolicy, exampleYaml } from './fixtures.ts';
import { loadHarnessState } from '../../e2e/harness/state.ts';

const id = suffix();
const system = `guarita-system-${id}`;
const configuration = `guarita-webhook-r9-${id}`;
const scope = { 'guarita.io/test-scope': id };
const ns = `r9-${id}`;
let webhook: WebhookProcess;
// C: a later mutating webhook that removes the proxy (two webhooks: IfNeeded, Never).
const stripConfiguration = `zz-r9-strip-${id}`;
const nsStrip = `r9-strip-${id}`;
const nsStripNever = `r9-strip-never-${id}`;
let stripper: Server | undefined;

const denied = 'admission webhook "validate.pods.guarita.io" denied the request';
/** The example policy's upstream: orders-db.orders-data.svc.cluster.local:5432, no TLS. */
const TARGET_HOST = 'orders-db.orders-data.svc.cluster.local';

async function getPod(namespace: string, name: string): Promise<Pod> {
  return JSON.parse(await k(['-n', namespace, 'get', 'pod', name, '-o', 'json'])) as Pod;
}

function proxyOf(pod: Pod): Container | undefined {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name === 'guarita-proxy');
}

/** Runs kubectl create; its error (the refusal) as a string, or undefined when it succeeded. */
async function createPod(pod: Pod): Promise<string | undefined> {
  return k(['create', '-f', '-'], 'admin', JSON.stringify(pod)).then(() => undefined, (err: unknown) => String(err));
}

/** A second policy whose target is a StatefulSet pod of this namespace (headless Service orders-db). */
function statefulSetPolicy(namespace: string): AccessPolicy {
  const policy = examplePolicy('accesspolicy.yaml', namespace);
  policy.metadata.name = 'orders-db-replica';
  policy.spec.podSelector = { matchLabels: { app: 'replica-agent' } };
  policy.spec.target = { ...policy.spec.target, name: 'orders-db-replica', endpoint: `orders-db-0.orders-db.${namespace}.svc.cluster.local:5432`, listenPort: 15433 };
  return policy;
}

beforeAll(async () => {
  await installCrds();
  await createNamespace(system, {});
  const kubeconfig = await webhookIdentity(system, configuration, 'guarita-webhook-tls', loadHarnessState().runDir);
  webhook = await startWebhookProcess({ namespace: system, configurationName: configuration, kubeconfig });
  await registerWebhooks(configuration, system, webhook.url, scope);
  await createNamespace(ns, { 'guarita.io/injection': 'enabled', ...scope });
  const secret = exampleYaml('orders-db-credentials.yaml') as { metadata: { namespace: string } };
  secret.metadata.namespace = ns;
  await applyJson(secret);
  await applyJson(examplePolicy('accesspolicy.yaml', ns));
  await applyJson(statefulSetPolicy(ns));
}, 120_000);

afterAll(async () => {
  await k(['delete', '--ignore-not-found', `mutatingwebhookconfiguration/${stripConfiguration}`]).catch(() => undefined);
  stripper?.close();
  await unregisterWebhooks(configuration);
  await webhook?.stop();
});

describe('A: the kubelet\'s /etc/hosts line for the pod\'s own hostname is guarita-proxy\'s too', () => {
  it('control: hostAliases naming the target are refused in a governed pod (round 7)', async () => {
    const pod = examplePod(ns, `ctl-alias-${suffix()}`);
    pod.spec.hostAliases = [{ ip: '10.9.9.9', hostnames: [TARGET_HOST] }];
    expect(await createPod(pod)).toContain('spec.hostAliases');
  });

  it('finding: a governed pod NAMED like its target\'s host is refused (the kubelet maps that name to the pod\'s own IP in /etc/hosts)', async () => {
    // The pod name is a DNS subdomain: dots allowed; the kubelet keeps up to 63 characters as the hostname.
    expect(TARGET_HOST.length).toBeLessThanOrEqual(63);
    const pod = examplePod(ns, TARGET_HOST);
    const err = await createPod(pod);
    if (err === undefined) {
      const stored = await getPod(ns, TARGET_HOST);
      const targets = proxyOf(stored)?.env?.find((e) => e.name === 'GUARITA_TARGETS')?.value;
      // Admitted with the genuine proxy, whose upstream host the kubelet's /etc/hosts will send to this pod.
      expect({ admitted: stored.metadata.name, proxyTargets: targets, etcHostsLine: `<podIP>\t${stored.metadata.name}` }).toEqual('refused by validate.pods.guarita.io');
    }
    expect(err).toContain(denied);
    expect(err).toContain(TARGET_HOST);
  });

  it('finding: a governed pod whose spec.hostname and spec.subdomain spell its StatefulSet target\'s DNS name is refused', async () => {
    const name = `replica-agent-${suffix()}`;
    const pod = examplePod(ns, name);
    pod.metadata.labels = { app: 'replica-agent' };
    pod.spec.hostname = 'orders-db-0';
    pod.spec.subdomain = 'orders-db';
    const err = await createPod(pod);
    if (err === undefined) {
      const stored = await getPod(ns, name);
      expect({
        admitted: name,
        policies: stored.metadata.annotations?.['guarita.io/policies'],
        etcHostsLine: `<podIP>\t${String(stored.spec.hostname)}.${String(stored.spec.subdomain)}.${ns}.svc.cluster.local\t${String(stored.spec.hostname)}`,
        target: `orders-db-0.orders-db.${ns}.svc.cluster.local:5432`,
      }).toEqual('refused by validate.pods.guarita.io');
    }
    expect(err).toContain(denied);
    expect(err).toContain('spec.hostname');
  });

  it('finding: a governed pod whose spec.hostname is a same-namespace target\'s short name is refused', async () => {
    // A policy reaching a Service of the pod's own namespace by its short name (endpoint orders-db:5432).
    const policy = examplePolicy('accesspolicy.yaml', ns);
    policy.metadata.name = 'orders-db-short';
    policy.spec.podSelector = { matchLabels: { app: 'short-agent' } };
    policy.spec.target = { ...policy.spec.target, name: 'orders-db-short', endpoint: 'orders-db:5432', listenPort: 15434 };
    await applyJson(policy);
    const name = `short-agent-${suffix()}`;
    const pod = examplePod(ns, name);
    pod.metadata.labels = { app: 'short-agent' };
    pod.spec.hostname = 'orders-db';
    const err = await createPod(pod);
    if (err === undefined) {
      const stored = await getPod(ns, name);
      expect({ admitted: name, policies: stored.metadata.annotations?.['guarita.io/policies'], etcHostsLine: `<podIP>\t${String(stored.spec.hostname)}`, target: 'orders-db:5432' }).toEqual('refused by validate.pods.guarita.io');
    }
    expect(err).toContain(denied);
    expect(err).toContain('spec.hostname');
  });

  it('held: an ordinary pod name and hostname are admitted', async () => {
    const pod = examplePod(ns, `plain-${suffix()}`);
    pod.spec.hostname = 'support-agent';
    expect(await createPod(pod)).toBeUndefined();
  });
});

describe('B: dnsConfig.searches and ndots choose the name guarita-proxy\'s resolver asks first', () => {
  it('control: chosen nameservers are refused in a governed pod (round 7)', async () => {
    const pod = examplePod(ns, `ctl-ns-${suffix()}`);
    pod.spec.dnsConfig = { nameservers: ['10.9.9.9'] };
    expect(await createPod(pod)).toContain('spec.dnsConfig.nameservers');
  });

  it('finding: a governed pod with a search domain of its own (asked before the target\'s real name) is refused', async () => {
    const name = `search-${suffix()}`;
    const pod = examplePod(ns, name);
    // TARGET_HOST has 4 dots < ndots 5: resolv.conf "search <ns>.svc.cluster.local svc.cluster.local cluster.local r9.attacker.example"
    // makes the resolver ask orders-db.orders-data.svc.cluster.local.r9.attacker.example before orders-db.orders-data.svc.cluster.local.
    pod.spec.dnsConfig = { searches: ['r9.attacker.example'] };
    const err = await createPod(pod);
    if (err === undefined) {
      const stored = await getPod(ns, name);
      expect({ admitted: name, policies: stored.metadata.annotations?.['guarita.io/policies'], dnsConfig: stored.spec.dnsConfig, firstAnsweredName: `${TARGET_HOST}.r9.attacker.example` }).toEqual('refused by validate.pods.guarita.io');
    }
    expect(err).toContain(denied);
    expect(err).toContain('dnsConfig.searches');
  });

  it('finding: a governed pod raising ndots with its own search domain (names with more dots searched too) is refused', async () => {
    const name = `ndots-${suffix()}`;
    const pod = examplePod(ns, name);
    pod.spec.dnsConfig = { searches: ['r9.attacker.example'], options: [{ name: 'ndots', value: '15' }] };
    const err = await createPod(pod);
    if (err === undefined) {
      const stored = await getPod(ns, name);
      expect({ admitted: name, dnsConfig: stored.spec.dnsConfig }).toEqual('refused by validate.pods.guarita.io');
    }
    expect(err).toContain(denied);
  });

  it('held: a pod without the proxy (opted out) keeps its own search domains', async () => {
    const pod = examplePod(ns, `optout-search-${suffix()}`);
    pod.metadata.labels = { ...pod.metadata.labels, 'guarita.io/inject': 'false' };
    pod.spec.dnsConfig = { searches: ['corp.example'] };
    expect(await createPod(pod)).toBeUndefined();
  });
});

describe('held: other forms tried this round', () => {
  it('held: kubectl debug-style ephemeral container adding NET_ADMIN, mounting the spool or reading the target\'s Secret, is refused through pods/ephemeralcontainers', async () => {
    const name = `eph-${suffix()}`;
    await k(['create', '-f', '-'], 'admin', JSON.stringify(examplePod(ns, name)));
    const pod = await getPod(ns, name);
    for (const debug of [
      { name: 'dbg', image: 'busybox', securityContext: { capabilities: { add: ['NET_ADMIN'], drop: ['NET_RAW'] } } },
      { name: 'dbg2', image: 'busybox', volumeMounts: [{ name: 'guarita-spool', mountPath: '/s' }], securityContext: { capabilities: { drop: ['ALL'] } } },
      { name: 'dbg3', image: 'busybox', env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'orders-db-credentials', key: 'password' } } }], securityContext: { capabilities: { drop: ['ALL'] } } },
    ]) {
      const body = { ...pod, spec: { ...pod.spec, ephemeralContainers: [debug] } };
      const err = await kFails(['replace', '--raw', `/api/v1/namespaces/${ns}/pods/${name}/ephemeralcontainers`, '-f', '-'], 'admin', JSON.stringify(body));
      expect(err).toContain(denied);
    }
  });

});

/** The pod minus guarita-proxy and its guarita-* volumes, as a JSON Patch (what a careless or hostile mutator does). */
function stripPatch(pod: Pod): unknown[] {
  const ops: unknown[] = [];
  (pod.spec.volumes ?? []).map((v, i) => ({ v, i })).filter(({ v }) => v.name.startsWith('guarita-')).reverse().forEach(({ i }) => ops.push({ op: 'remove', path: `/spec/volumes/${i}` }));
  (pod.spec.initContainers ?? []).map((c, i) => ({ c, i })).filter(({ c }) => c.name === 'guarita-proxy').reverse().forEach(({ i }) => ops.push({ op: 'remove', path: `/spec/initContainers/${i}` }));
  pod.spec.containers.map((c, i) => ({ c, i })).filter(({ c }) => c.name === 'guarita-proxy').reverse().forEach(({ i }) => ops.push({ op: 'remove', path: `/spec/containers/${i}` }));
  return ops;
}

async function startStripper(): Promise<{ url: string; caBundle: string }> {
  const ca = await createCa(`r9-strip-ca-${id}`);
  const cert = await mintServingCert(ca);
  const server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: { uid: string; object: Pod } };
      const ops = stripPatch(review.request.object);
      const response = { uid: review.request.uid, allowed: true, ...(ops.length === 0 ? {} : { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') }) };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stripper = server;
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/strip`, caBundle: Buffer.from(ca.certPem).toString('base64') };
}

describe('C: a later mutating webhook (IfNeeded) that removes guarita-proxy', () => {
  beforeAll(async () => {
    const { url, caBundle } = await startStripper();
    const hook = (name: string, reinvocationPolicy: string, namespace: string): Record<string, unknown> => ({
      name, clientConfig: { url, caBundle }, reinvocationPolicy,
      rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
      admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Fail', timeoutSeconds: 5,
    });
    for (const namespace of [nsStrip, nsStripNever]) {
      await createNamespace(namespace, { 'guarita.io/injection': 'enabled', ...scope });
      const secret = exampleYaml('orders-db-credentials.yaml') as { metadata: { namespace: string } };
      secret.metadata.namespace = namespace;
      await applyJson(secret);
      await applyJson(examplePolicy('accesspolicy.yaml', namespace));
    }
    // Named after guarita-webhook-r9-*: the apiserver runs mutating configurations in name order.
    await applyJson({
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: stripConfiguration },
      webhooks: [hook('strip-ifneeded.r9.example.com', 'IfNeeded', nsStrip), hook('strip-never.r9.example.com', 'Never', nsStripNever)],
    });
  }, 60_000);

  it('held: with reinvocationPolicy Never, Guarita\'s reinvocation puts the proxy back', async () => {
    const name = `never-${suffix()}`;
    const pod = examplePod(nsStripNever, name);
    pod.metadata.annotations = { 'guarita.io/inject': 'true' };
    expect(await createPod(pod)).toBeUndefined();
    expect(proxyOf(await getPod(nsStripNever, name))).toBeDefined();
  });

  it('finding: a pod its AccessPolicy selects (and that insists with guarita.io/inject: "true") is refused when it reaches validation without guarita-proxy', async () => {
    const name = `strip-${suffix()}`;
    const pod = examplePod(nsStrip, name);
    pod.metadata.annotations = { 'guarita.io/inject': 'true' };
    const err = await createPod(pod);
    if (err === undefined) {
      const stored = await getPod(nsStrip, name);
      expect({
        admitted: name,
        proxy: proxyOf(stored) !== undefined,
        insists: stored.metadata.annotations?.['guarita.io/inject'],
        looksGoverned: { status: stored.metadata.annotations?.['guarita.io/status'], policies: stored.metadata.annotations?.['guarita.io/policies'] },
        agentEnv: stored.spec.containers[0]?.env?.map((e) => e.name),
      }).toEqual('refused by validate.pods.guarita.io');
    }
    expect(err).toContain(denied);
  });
});
