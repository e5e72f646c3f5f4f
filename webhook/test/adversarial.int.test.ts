// Adversarial review of issue 18 item 4 (after its fix landed), through the real path: kubectl
// against the harness kube-apiserver, which calls the webhook process (least-privilege token,
// client certificate required). Each case is a way around the sidecar-only volumes that the first
// fix let through: pods the injector skipped reaching OTHER pods' proxies through the node
// (hostPID, hostNetwork, hostIPC, a pod-level Windows host process, gitRepo/flexVolume),
// capabilities over the network namespace the pod shares with its proxy (kubectl debug
// --profile=netadmin), and a namespace opted in after an unguarded pod was created in it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createCa, mintServingCert } from '../../e2e/harness/certs.ts';
import { loadHarnessState } from '../../e2e/harness/state.ts';
import type { Container, Pod } from '../src/kube-types.ts';
import { applyJson, createNamespace, installCrds, k, kFails, registerWebhooks, startWebhookProcess, suffix, unregisterWebhooks, webhookIdentity, type WebhookProcess } from './cluster.ts';
import { admissionReview, examplePod, examplePolicy, exampleYaml } from './fixtures.ts';

const id = suffix();
const system = `guarita-system-${id}`;
const configuration = `guarita-webhook-adv-${id}`;
const scope = { 'guarita.io/test-scope': id };
const ns = `adv-${id}`;
let webhook: WebhookProcess;
let kubeconfig: string;

const denied = 'admission webhook "validate.pods.guarita.io" denied the request';

function optedOut(name: string): Pod {
  const pod = examplePod(ns, name);
  pod.metadata.labels = { ...pod.metadata.labels, 'guarita.io/inject': 'false' };
  return pod;
}

async function refused(pod: Pod): Promise<string> {
  const err = await kFails(['create', '-f', '-'], 'admin', JSON.stringify(pod));
  expect(await kFails(['-n', pod.metadata.namespace ?? ns, 'get', 'pod', pod.metadata.name ?? ''])).toContain('NotFound');
  return err;
}

async function withPolicy(namespace: string): Promise<void> {
  const secret = exampleYaml('orders-db-credentials.yaml') as { metadata: { namespace: string } };
  secret.metadata.namespace = namespace;
  await applyJson(secret);
  await applyJson(examplePolicy('accesspolicy.yaml', namespace));
}

beforeAll(async () => {
  await installCrds();
  await createNamespace(system, {});
  kubeconfig = await webhookIdentity(system, configuration, 'guarita-webhook-tls', loadHarnessState().runDir);
  webhook = await startWebhookProcess({ namespace: system, configurationName: configuration, kubeconfig });
  await registerWebhooks(configuration, system, webhook.url, scope);
  await createNamespace(ns, { 'guarita.io/injection': 'enabled', ...scope });
  await withPolicy(ns);
  await k(['create', '-f', '-'], 'admin', JSON.stringify(examplePod(ns, 'agent-1')));
}, 120_000);

afterAll(async () => {
  await unregisterWebhooks(configuration);
  await webhook?.stop();
});

describe('pods the injector skipped reach other pods\' proxies through the node', () => {
  const corpus: [string, (p: Pod) => void, string][] = [
    ['hostPID (every proxy\'s /proc/<pid>/root on the node)', (p) => { p.spec.hostPID = true; }, 'spec.hostPID: true lets the pod\'s containers read the files of every process on the node through /proc, guarita-proxy of every governed pod included; remove it, or run the pod in a namespace without the guarita.io/injection=enabled label'],
    ['hostNetwork (every pod\'s upstream traffic on the node\'s interfaces)', (p) => { p.spec.hostNetwork = true; }, 'spec.hostNetwork: true puts the pod on the node\'s network, where it can capture every pod\'s traffic'],
    ['hostIPC', (p) => { p.spec.hostIPC = true; }, 'spec.hostIPC: true shares the node\'s IPC namespace'],
    ['a pod-level Windows host process', (p) => { p.spec.hostNetwork = true; p.spec.securityContext = { windowsOptions: { hostProcess: true } }; }, 'spec.securityContext.windowsOptions.hostProcess: true makes every container a Windows host process'],
    ['a gitRepo volume (git runs on the node)', (p) => { p.spec.volumes = [{ name: 'src', gitRepo: { repository: 'https://example.com/x.git' } }]; p.spec.containers[0]!.volumeMounts = [{ name: 'src', mountPath: '/src' }]; }, 'volume src is a gitRepo volume: the kubelet runs git on the node'],
    ['a flexVolume (a node-side driver)', (p) => { p.spec.volumes = [{ name: 'flex', flexVolume: { driver: 'example.com/lvm' } }]; p.spec.containers[0]!.volumeMounts = [{ name: 'flex', mountPath: '/f' }]; }, 'volume flex is a flexVolume'],
  ];
  it.each(corpus)('refuses %s, opted out of injection', async (_name, mutate, message) => {
    const pod = optedOut(`out-${suffix()}`);
    mutate(pod);
    const err = await refused(pod);
    expect(err).toContain(denied);
    expect(err).toContain(message);
  });

  it('refuses them through a workload\'s pod template too (the Pod a Job controller would create)', async () => {
    const job = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'nightly', namespace: ns }, spec: { template: { metadata: { labels: { 'guarita.io/inject': 'false' } }, spec: { hostPID: true, restartPolicy: 'Never', containers: [{ name: 'agent', image: 'busybox' }] } } } };
    await applyJson(job);
    // No controller-manager runs here: create the Pod the Job controller would.
    const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: `nightly-${suffix()}`, namespace: ns, labels: { 'guarita.io/inject': 'false', 'job-name': 'nightly' } }, spec: structuredClone(job.spec.template.spec) };
    expect(await refused(pod)).toContain('spec.hostPID: true');
  });
});

describe('capabilities over the network the pod shares with its proxy', () => {
  it('refuses an agent with NET_ADMIN or NET_RAW (redirect or capture the proxy\'s upstream connection)', async () => {
    for (const caps of [['NET_ADMIN'], ['CAP_NET_RAW'], ['net_admin', 'NET_BIND_SERVICE']]) {
      const pod = examplePod(ns, `net-${suffix()}`);
      pod.spec.containers[0]!.securityContext = { capabilities: { add: caps } };
      const err = await refused(pod);
      expect(err).toContain(denied);
      expect(err).toContain('the pod\'s network is guarita-proxy\'s too, and they redirect or capture its connections');
    }
  });

  it('refuses kubectl debug --profile=netadmin and --profile=sysadmin on a governed pod (general adds SYS_PTRACE, refused before), and still allows --profile=restricted', async () => {
    const netadmin = await kFails(['-n', ns, 'debug', 'agent-1', '--image=busybox', '--target=agent', '--profile=netadmin', '--', 'true']);
    expect(netadmin).toContain(denied);
    expect(netadmin).toMatch(/ephemeral container debugger-\w+ adds capabilities NET_ADMIN, NET_RAW: the pod's network is guarita-proxy's too/);
    const sysadmin = await kFails(['-n', ns, 'debug', 'agent-1', '--image=busybox', '--target=agent', '--profile=sysadmin', '--', 'true']);
    expect(sysadmin).toMatch(/ephemeral container debugger-\w+ is privileged/);
    expect(await kFails(['-n', ns, 'debug', 'agent-1', '--image=busybox', '--target=agent', '--profile=general', '--', 'true'])).toMatch(/ephemeral container debugger-\w+ adds capabilities SYS_PTRACE/);
    await k(['-n', ns, 'debug', 'agent-1', '--image=busybox', '--target=agent', '--profile=restricted', '--', 'true']);
  });
});

describe('the NET_RAW capability runtimes grant by default (capture of the proxy\'s upstream traffic)', () => {
  it('is dropped from every container but the proxy at injection, through the apiserver', async () => {
    const pod = examplePod(ns, `raw-${suffix()}`);
    pod.spec.initContainers = [{ name: 'setup', image: 'busybox' }];
    pod.spec.containers.push({ name: 'helper', image: 'busybox', securityContext: { capabilities: { drop: ['ALL'] } } });
    const stored = JSON.parse(await k(['create', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(pod))) as Pod;
    const caps = (c: Container): unknown => (c.securityContext as { capabilities?: unknown } | undefined)?.capabilities;
    expect(Object.fromEntries([...stored.spec.initContainers!, ...stored.spec.containers].map((c) => [c.name, caps(c)]))).toEqual({
      'guarita-proxy': { drop: ['ALL'] }, setup: { drop: ['NET_RAW'] }, agent: { drop: ['NET_RAW'] }, helper: { drop: ['ALL'] },
    });
  });

  it('refuses debug containers that keep it (the legacy and baseline kubectl debug profiles)', async () => {
    for (const profile of ['legacy', 'baseline']) {
      const err = await kFails(['-n', ns, 'debug', 'agent-1', '--image=busybox', '--target=agent', `--profile=${profile}`, '--', 'true']);
      expect(err).toContain(denied);
      expect(err).toMatch(/ephemeral container debugger-\w+ keeps the NET_RAW capability container runtimes grant by default, with which it can capture the pod's network, where rows travel unmasked between guarita-proxy and its target; add NET_RAW \(or ALL\) to securityContext.capabilities.drop \(kubectl debug --profile=restricted does\)/);
    }
  });

  it('gives a pod created already "injected" the drop again, and refuses one that skipped the injector', async () => {
    const genuine = JSON.parse(await k(['-n', ns, 'get', 'pod', 'agent-1', '-o', 'json'])) as Pod;
    const forge = (name: string, labels: Record<string, string>): Pod => {
      const forged: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels, annotations: genuine.metadata.annotations }, spec: structuredClone(genuine.spec) };
      delete forged.spec.nodeName;
      delete forged.spec.ephemeralContainers;
      delete (forged.spec.containers[0]!.securityContext as { capabilities?: unknown }).capabilities;
      return forged;
    };
    // The injector sees it (reinvocation path) and drops NET_RAW again.
    const seen = JSON.parse(await k(['create', '-o', 'json', '-f', '-'], 'admin', JSON.stringify(forge(`forged-raw-${suffix()}`, genuine.metadata.labels ?? {})))) as Pod;
    expect((seen.spec.containers[0]!.securityContext as { capabilities?: unknown }).capabilities).toEqual({ drop: ['NET_RAW'] });
    // The label guarita.io/inject=false skips the injector: the validating webhook refuses it.
    const err = await refused(forge(`skipped-raw-${suffix()}`, { ...genuine.metadata.labels, 'guarita.io/inject': 'false' }));
    expect(err).toContain(denied);
    expect(err).toContain('container agent keeps the NET_RAW capability');
  });
});

describe('Windows pods', () => {
  it('are refused injection with the reason instead of an apiserver validation error about Linux fields', async () => {
    const pod = examplePod(ns, `win-${suffix()}`);
    pod.spec.os = { name: 'windows' };
    delete pod.spec.containers[0]!.securityContext;
    const err = await refused(pod);
    expect(err).toContain('admission webhook "inject.pods.guarita.io" denied the request');
    expect(err).toContain('Windows pods cannot be governed: guarita-proxy is a Linux container');
  });
});

describe('pod-level name resolution, which the proxy shares', () => {
  it('refuses hostAliases pointing the target or the operator elsewhere, and chosen nameservers, in a governed pod', async () => {
    const aliased = examplePod(ns, `alias-${suffix()}`);
    // Where the proxy would present the target's password, and its ingest token.
    aliased.spec.hostAliases = [{ ip: '10.9.9.9', hostnames: ['orders-db.lgpd-orders.svc', 'guarita-operator.guarita-system.svc'] }];
    const err = await refused(aliased);
    expect(err).toContain(denied);
    expect(err).toContain('spec.hostAliases (orders-db.lgpd-orders.svc, guarita-operator.guarita-system.svc) writes the pod\'s /etc/hosts, which is guarita-proxy\'s too');
    const dns = examplePod(ns, `dns-${suffix()}`);
    dns.spec.dnsPolicy = 'None';
    dns.spec.dnsConfig = { nameservers: ['10.9.9.9'], searches: ['lgpd-orders.svc.cluster.local'] };
    expect(await refused(dns)).toContain('spec.dnsPolicy None or spec.dnsConfig.nameservers chooses the nameservers guarita-proxy resolves');
    const extra = examplePod(ns, `dns-${suffix()}`);
    extra.spec.dnsConfig = { nameservers: ['10.9.9.9'] };
    expect(await refused(extra)).toContain('spec.dnsConfig.nameservers');
    // Round 9: search domains choose which name is asked first (refused); timing options stay allowed.
    const searched = examplePod(ns, `dns-${suffix()}`);
    searched.spec.dnsConfig = { searches: ['corp.example'], options: [{ name: 'ndots', value: '2' }] };
    expect(await refused(searched)).toContain('spec.dnsConfig.searches (corp.example) adds search domains');
    const fine = examplePod(ns, `dns-${suffix()}`);
    fine.spec.dnsConfig = { options: [{ name: 'ndots', value: '2' }, { name: 'timeout', value: '3' }] };
    await k(['create', '-f', '-'], 'admin', JSON.stringify(fine));
  });
});

describe('a governed pod relabelled out of its policy (UPDATE)', () => {
  it('refuses label changes that change which policies select it, through label, JSON patch and server-side apply', async () => {
    const message = 'the new labels change which AccessPolicies select this pod (orders-db before, none after), but guarita-proxy keeps serving what it was injected with; delete the pod and create it with the new labels';
    const viaLabel = await kFails(['-n', ns, 'label', '--overwrite', 'pod/agent-1', 'app=billing-agent']);
    expect(viaLabel).toContain(denied);
    expect(viaLabel).toContain(message);
    expect(await kFails(['-n', ns, 'label', 'pod/agent-1', 'app-'])).toContain(message);
    expect(await kFails(['-n', ns, 'patch', 'pod/agent-1', '--type=json', '-p', JSON.stringify([{ op: 'remove', path: '/metadata/labels' }])])).toContain(message);
    const applied = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'agent-1', namespace: ns, labels: { app: 'billing-agent' } } };
    expect(await kFails(['apply', '--server-side', '--force-conflicts', '--field-manager=kubectl-client-side-apply', '-f', '-'], 'admin', JSON.stringify(applied))).toContain(message);
    const stored = JSON.parse(await k(['-n', ns, 'get', 'pod', 'agent-1', '-o', 'json'])) as Pod;
    expect(stored.metadata.labels?.app).toBe('support-agent');
    // Labels no policy looks at still change.
    await k(['-n', ns, 'label', 'pod/agent-1', 'on-call=yes']);
  });
});

describe('a namespace opted in after its pods were created', () => {
  it('refuses the label while an unguarded pod reads the operator-audience token, names the pod, and accepts it once the pod is gone', async () => {
    const late = `late-${id}`;
    await createNamespace(late, { ...scope });
    await withPolicy(late);
    // Not opted in: no webhook judges this pod, which mounts the sidecar's ingest credential.
    await applyJson({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: late } });
    const pod = examplePod(late, 'thief');
    pod.spec.serviceAccountName = 'default';
    pod.spec.volumes = [{ name: 'ingest', projected: { sources: [{ serviceAccountToken: { path: 'operator', audience: 'guarita-operator' } }] } }];
    pod.spec.containers[0]!.volumeMounts = [{ name: 'ingest', mountPath: '/ingest' }];
    await k(['create', '-f', '-'], 'admin', JSON.stringify(pod));
    await k(['create', '-f', '-'], 'admin', JSON.stringify(examplePod(late, 'harmless')));
    const err = await kFails(['label', 'namespace', late, 'guarita.io/injection=enabled']);
    expect(err).toContain('admission webhook "optin.namespaces.guarita.io" denied the request');
    expect(err).toContain(`namespace ${late} cannot be opted in to injection (guarita.io/injection=enabled) while it runs pods admitted without the pod guard that it refuses; delete or fix them first: pod thief: container agent reads a service-account token for audience guarita-operator (volume ingest)`);
    expect(err).not.toContain('pod harmless');
    // The same through apply (an UPDATE of the whole object) and with another value first.
    await k(['label', 'namespace', late, 'guarita.io/injection=disabled']);
    expect(await kFails(['label', '--overwrite', 'namespace', late, 'guarita.io/injection=enabled'])).toContain('pod thief');
    await k(['-n', late, 'delete', 'pod', 'thief', '--wait=false', '--grace-period=0', '--force']);
    await k(['label', '--overwrite', 'namespace', late, 'guarita.io/injection=enabled']);
    // Once opted in, other namespace updates do not call the webhook at all (matchConditions).
    await k(['annotate', 'namespace', late, 'team=support']);
  });
});

/** One HTTPS POST of a pod review straight to a webhook's port, with the given client certificate: the status code. */
function postStatus(url: string, client: { cert: string; key: string }): Promise<number> {
  const body = JSON.stringify(admissionReview({ operation: 'CREATE', namespace: ns, object: examplePod(ns, 'probe') }));
  return new Promise((resolve, reject) => {
    const req = request(`${url}/validate/pods`, { method: 'POST', rejectUnauthorized: false, timeout: 10_000, headers: { 'content-type': 'application/json' }, ...client }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Plain HTTP/1.1 bytes on the TLS port: everything the server sends back before closing. */
function plainHttp(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? resolve(Buffer.concat(chunks).toString('latin1')) : reject(err)));
    const body = JSON.stringify(admissionReview({ operation: 'CREATE', namespace: ns, object: examplePod(ns, 'probe') }));
    socket.end(`POST /validate/pods HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
}

describe('who may call the webhook (item 17): the certificate\'s name, and plain HTTP', () => {
  it('with GUARITA_WEBHOOK_CLIENT_NAMES, refuses a certificate the same CA issued to another name or a look-alike one', async () => {
    const ca = await createCa(`adv-client-ca-${id}`);
    const caFile = join(loadHarnessState().runDir, `adv-client-ca-${id}.crt`);
    writeFileSync(caFile, ca.certPem);
    // A second replica of the same installation, configured with a name: what a CA shared with
    // the cluster (kubelets, admins) needs.
    const strict = await startWebhookProcess({ namespace: system, configurationName: configuration, kubeconfig, name: 'webhook-strict', env: { GUARITA_WEBHOOK_CLIENT_CA_FILE: caFile, GUARITA_WEBHOOK_CLIENT_NAMES: 'kube-apiserver-admission' } });
    try {
      const cert = async (commonName: string, dnsNames: string[]): Promise<{ cert: string; key: string }> => {
        const c = await mintServingCert(ca, { commonName, dnsNames, ips: [], clientAuth: true });
        return { cert: c.certPem, key: c.keyPem };
      };
      expect(await postStatus(strict.url, await cert('kube-apiserver-admission', []))).toBe(200);
      // Issued by the trusted CA, but to another name: authenticated, not authorised (403).
      expect(await postStatus(strict.url, await cert('system:node:worker-1', ['worker-1']))).toBe(403);
      expect(await postStatus(strict.url, await cert('kube-apiserver-admission.evil', ['x.kube-apiserver-admission', 'kube-apiserver-admission.evil']))).toBe(403);
      // A DNS name among the names counts like the common name.
      expect(await postStatus(strict.url, await cert('eve', ['kube-apiserver-admission']))).toBe(200);
    } finally {
      await strict.stop();
    }
  });

  it('answers nothing to plain HTTP on the TLS port', async () => {
    const answer = await plainHttp(webhook.port);
    expect(answer).not.toContain('HTTP/1.1 200');
    expect(answer).not.toContain('"allowed"');
  });
});
