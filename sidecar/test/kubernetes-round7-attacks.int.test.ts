// Round 7 adversarial review of the Kubernetes target, through the real sidecar process, the real
// kube-apiserver (and the kubelet stand-in for exec: e2e/support/kubelet-stand-in.ts) and the real
// kubectl (docs/security-model.md, "Round 7"). Each class failed on the code reviewed (4e40bf6):
//  - exec and port-forward over a WebSocket upgrade sent with another method (DELETE, PATCH, PUT)
//    were judged as that method's verb while the sidecar opened them upstream as a GET (run as
//    create): a deny on `create pods/exec` was passed. Now refused (400/405) and never opened;
//  - the sidecar opened the upstream exec before the agent's own WebSocket handshake was checked: a
//    handshake ws refuses (bad key, POST) still ran the command, unrecorded and never ended. Now the
//    handshake is checked first, and one ws still turns down ends the upstream and is recorded;
//  - managedFields and continue tokens carried values (a CPF-keyed ConfigMap; the name of a page's
//    last object, here named with a CPF) the masker kept "as sent". Now managedFields is not passed
//    (a write-back keeps the server's) and continue tokens go out sealed (paging still works).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { connect, createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { freePorts } from '../../e2e/harness/ports.ts';
import { kubeconfigPath, requireKube } from '../../e2e/harness/state.ts';
import { apply, grantSessionReaders, serviceAccountToken } from '../../e2e/support/kube-apply.ts';
import { suffix } from '../../e2e/support/kubectl.ts';
import { startKubeletStandIn, type KubeletStandIn } from '../../e2e/support/kubelet-stand-in.ts';
import { startGuaritaSystem, type GuaritaSystem } from '../../e2e/support/guarita-system.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { echoThrough, forwardedPort } from '../../e2e/support/port-forward-client.ts';
import { createServingIdentity } from '../src/kubernetes/serving-cert.ts';
import { agentKubectl, readerCredential, writeAgentKubeconfig, type Ran } from './kube-agent.ts';
import { fetchExport, mountCredentials, sidecarFixture, startSidecarProcess, type SidecarFixture, type SidecarProcess } from './support.ts';

jest.setTimeout(120_000);

const run = promisify(execFile);
const POLICY = 'cluster-access';
const TARGET = 'cluster';
const PURPOSE = 'troubleshooting';
const CPF = '590.830.166-33';

let system: GuaritaSystem;
let ns: string;
let fx: SidecarFixture;
let sidecar: SidecarProcess;
let standIn: KubeletStandIn;
let listenPort: number;
let agentKubeconfig: string;
let agentToken: string;
let echo: NetServer;
let shim: TlsServer;
let shimKubeconfig: string;

function policy(): Record<string, unknown> {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: POLICY, namespace: ns },
    spec: {
      podSelector: { matchLabels: { app: 'support-agent' } },
      target: { name: TARGET, protocol: 'kubernetes', endpoint: requireKube().apiserverUrl, listenPort, credentialsSecretRef: { name: 'cluster-reader-token' } },
      identity: { serviceAccounts: { audiences: ['guarita'] } },
      subjects: [{ kind: 'ServiceAccount', name: 'support-agent', namespace: ns }],
      purposes: [{ name: PURPOSE }],
      rules: [
        { name: 'discovery', match: { kubernetes: { verbs: ['get'], nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/openapi/*', '/version'] } }, action: 'allow' },
        // As docs/kubernetes.md words it: "a rule on create pods/exec covers both forms" (SPDY POST, WebSocket GET).
        { name: 'no-exec-vault', match: { kubernetes: { verbs: ['create'], resources: ['pods/exec', 'pods/attach'], names: ['vault-*'] } }, action: 'deny' },
        // The support team's pod rule names the subresources it reaches (as it must) and leaves verbs open.
        { name: 'no-portforward-vault', match: { kubernetes: { verbs: ['create'], resources: ['pods/portforward'], names: ['vault-*'] } }, action: 'deny' },
        { name: 'support-pods', match: { kubernetes: { resources: ['pods', 'pods/log', 'pods/exec', 'pods/attach', 'pods/portforward'], namespaces: [ns] } }, action: 'allow' },
        { name: 'read-config', match: { kubernetes: { verbs: ['get', 'list', 'watch'], resources: ['configmaps'], namespaces: [ns] } }, action: 'allow' },
        { name: 'edit-first', match: { kubernetes: { verbs: ['update'], resources: ['configmaps'], names: ['a-first'], namespaces: [ns] } }, action: 'allow' },
      ],
      masking: { style: 'partial' },
    },
  };
}

const kubectlAgent = agentKubectl(() => agentKubeconfig, () => fx.dir, () => sidecar.log(40));
const agent = (args: readonly string[]): Promise<Ran> => kubectlAgent.run(args);
const agentOk = (args: readonly string[]): Promise<string> => kubectlAgent.ok(args);

/** A raw WebSocket-style upgrade request on a TLS connection; the agent's answer (first 2 s of it). */
async function rawUpgrade(method: string, pod: string, command: readonly string[], extra: Record<string, string> = {}): Promise<string> {
  const query = command.map((c) => `command=${encodeURIComponent(c)}`).join('&');
  const headers: Record<string, string> = {
    host: `127.0.0.1:${listenPort}`, authorization: `Bearer ${agentToken}`, connection: 'Upgrade', upgrade: 'websocket',
    'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-protocol': 'v5.channel.k8s.io', ...extra,
  };
  const head = `${method} /guarita-purpose/${PURPOSE}/api/v1/namespaces/${ns}/pods/${pod}/exec?${query}&stdout=true&stderr=true HTTP/1.1\r\n`
    + `${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
  const socket = connect({ host: '127.0.0.1', port: listenPort, rejectUnauthorized: false });
  socket.on('error', () => undefined);
  let answer = '';
  socket.on('data', (d: Buffer) => { answer += d.toString('latin1'); });
  await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
  socket.write(head);
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 2000);
    socket.once('close', () => { clearTimeout(t); resolve(); });
  });
  socket.destroy();
  return answer;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  system = await startGuaritaSystem('sc-k8s-r7');
  ns = system.ns;
  const kube = requireKube();
  const readerToken = await readerCredential(ns, 'cluster-reader', [{ apiGroups: [''], resources: ['pods', 'pods/exec', 'pods/attach', 'pods/portforward', 'pods/log', 'configmaps'], verbs: ['get', 'list', 'watch', 'create', 'update'] }]);
  await apply([
    // Personal data the application wrote: a ledger keyed by CPF, and one object per customer named with it.
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ledger', namespace: ns }, data: { [CPF]: 'saldo 10' } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a-first', namespace: ns }, data: { note: 'first page' } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cliente-${CPF}`, namespace: ns }, data: { note: 'customer settings' } },
  ]);
  standIn = await startKubeletStandIn(`r7-node-${suffix()}`);
  for (const pod of ['worker-0', 'vault-0']) await standIn.runPod(ns, pod);
  // vault-0's port 8080: an echo server standing for the vault's listener.
  echo = createNetServer((socket) => socket.pipe(socket));
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  standIn.forward(ns, 'vault-0', 8080, (echo.address() as AddressInfo).port);
  await apply([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cluster-reader-token', namespace: ns }, stringData: { token: readerToken } }]);
  [listenPort = 0] = await freePorts(1);
  await apply([policy()]);
  fx = await sidecarFixture(ns);
  mountCredentials(fx, TARGET, { token: readerToken, 'ca.crt': readFileSync(kube.caFile, 'utf8') });
  const caDir = join(fx.dir, 'kube');
  mkdirSync(caDir);
  sidecar = await startSidecarProcess(fx, { targets: [{ policy: POLICY, target: TARGET, protocol: 'kubernetes', listenPort }], operatorUrl: system.op.url, env: { GUARITA_KUBE_CA_DIR: caDir } });
  await grantSessionReaders(ns, { kind: 'Group', name: 'auditors' });
  agentToken = await serviceAccountToken(ns, 'support-agent', 'guarita', 7200);
  agentKubeconfig = writeAgentKubeconfig({ dir: fx.dir, listenPort, purpose: PURPOSE, target: TARGET, namespace: ns, token: agentToken, caFile: join(caDir, TARGET, 'ca.crt') });
  const tokenFile = join(fx.dir, 'agent-token');
  // What an agent can put in front of the sidecar in its own container: a TLS relay (its own CA in
  // its own KUBECONFIG) that sends kubectl's port-forward upgrade as DELETE instead of GET.
  const identity = await createServingIdentity('agent-shim');
  shim = createTlsServer({ cert: identity.certPem, key: identity.keyPem }, (client) => {
    const up = connect({ host: '127.0.0.1', port: listenPort, rejectUnauthorized: false });
    client.on('data', (d: Buffer) => {
      const text = d.toString('latin1');
      up.write(/^GET \S*\/portforward\S* HTTP\/1\.1\r\n/.test(text) ? Buffer.from(text.replace(/^GET /, 'DELETE '), 'latin1') : d);
    });
    up.pipe(client);
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
    client.on('error', () => undefined);
    up.on('error', () => undefined);
  });
  shim.listen(0, '127.0.0.1');
  await once(shim, 'listening');
  shimKubeconfig = join(fx.dir, 'shim.kubeconfig');
  writeFileSync(shimKubeconfig, stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': PURPOSE,
    clusters: [{ name: TARGET, cluster: { server: `https://127.0.0.1:${(shim.address() as AddressInfo).port}/guarita-purpose/${PURPOSE}`, 'certificate-authority-data': Buffer.from(identity.caPem).toString('base64') } }],
    users: [{ name: 'agent', user: { tokenFile } }],
    contexts: [{ name: PURPOSE, context: { cluster: TARGET, user: 'agent', namespace: ns } }],
  }));
}, 240_000);

afterAll(async () => {
  shim?.close();
  echo?.close();
  await sidecar?.stop();
  await standIn?.stop();
  await system?.stop();
});

describe('exec judged under one verb, run under another', () => {
  it('kubectl exec into vault-0 is denied by the create pods/exec rule (control)', async () => {
    const r = await agent(['exec', 'vault-0', '--', 'sh', '-c', 'touch reached-by-kubectl']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no-exec-vault/);
    expect(existsSync(join(standIn.podDir(ns, 'vault-0'), 'reached-by-kubectl'))).toBe(false);
  });

  for (const method of ['DELETE', 'PATCH', 'PUT']) {
    it(`a WebSocket upgrade sent as ${method} runs nothing in vault-0 (the deny on create pods/exec holds)`, async () => {
      const marker = `reached-by-${method.toLowerCase()}`;
      const answer = await rawUpgrade(method, 'vault-0', ['sh', '-c', `touch ${marker}`]);
      await sleep(1500);
      const ran = existsSync(join(standIn.podDir(ns, 'vault-0'), marker));
      // Shown on failure: what the agent got, and whether the container ran the command.
      expect({ ran, answer: answer.split('\r\n')[0] }).toEqual({ ran: false, answer: expect.stringMatching(/^HTTP\/1\.1 40[03]/) as unknown as string });
    });
  }
});

describe('port-forward judged under the method the agent sent', () => {
  /** Runs kubectl port-forward to vault-0:8080 with `kubeconfig`; what came of it within 20 s. */
  async function portForwardVault(kubeconfig: string): Promise<string> {
    const child = spawn(join(requireKube().binDir, 'kubectl'), ['--kubeconfig', kubeconfig, '--cache-dir', join(fx.dir, 'kcache'), 'port-forward', 'pod/vault-0', ':8080'], { env: { PATH: process.env.PATH ?? '', HOME: fx.dir } });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = new Promise<string>((resolve) => child.once('exit', (code) => resolve(`exited ${code}: ${err.trim().split('\n')[0] ?? ''}`)));
    try {
      return await Promise.race([
        forwardedPort(child).then((port) => echoThrough(port, 'vault handshake')).then((back) => `echoed "${back}"`).catch(() => exited),
        exited,
        sleep(20_000).then(() => 'no answer in 20 s'),
      ]);
    } finally {
      child.kill();
    }
  }

  it('kubectl port-forward to vault-0 is denied by the create pods/portforward rule (control)', async () => {
    expect(await portForwardVault(agentKubeconfig)).toMatch(/^exited [1-9].*no-portforward-vault/);
  });

  it('the same kubectl port-forward with its upgrade sent as DELETE does not reach vault-0\'s port', async () => {
    expect(await portForwardVault(shimKubeconfig)).toMatch(/^exited/);
  });

  it('no allowed record describes a port-forward to vault-0 (as "kubectl delete pods/portforward")', async () => {
    const exported = await eventually('the port-forward records', async () => {
      const e = await fetchExport(system.op.url, ns);
      return e.records.some((r) => r.type === 'command' && /pods\/portforward vault-0/.test(r.command ?? '') && r.decision === 'deny') ? e : undefined;
    }, 30_000, 250);
    await sleep(1000);
    const again = await fetchExport(system.op.url, ns);
    const allowed = [...exported.records, ...again.records].filter((r) => r.type === 'command' && r.decision === 'allow' && /pods\/portforward vault-0/.test(r.command ?? ''));
    expect([...new Set(allowed.map((r) => `${(r.command ?? '').split('\n')[0]} -> ${r.result?.sample ?? '(no result yet)'}`))]).toEqual([]);
  });
});

describe('the agent\'s WebSocket handshake is checked only after the exec is opened upstream', () => {
  it('an allowed exec whose agent handshake the sidecar refuses (bad Sec-WebSocket-Key) runs nothing', async () => {
    const answer = await rawUpgrade('GET', 'worker-0', ['sh', '-c', `echo cliente ${CPF}; touch blind-bad-key`], { 'sec-websocket-key': 'not a key' });
    await sleep(1500);
    expect({ ran: existsSync(join(standIn.podDir(ns, 'worker-0'), 'blind-bad-key')), answer: answer.split('\r\n')[0] })
      .toEqual({ ran: false, answer: expect.stringMatching(/^HTTP\/1\.1 400/) as unknown as string });
  });

  it('an allowed exec sent as POST with a WebSocket upgrade runs nothing it cannot relay and record', async () => {
    await rawUpgrade('POST', 'worker-0', ['sh', '-c', 'touch blind-post']);
    await sleep(1500);
    expect(existsSync(join(standIn.podDir(ns, 'worker-0'), 'blind-post'))).toBe(false);
  });

  it('refused agent handshakes do not leave upstream exec streams open in the sidecar', async () => {
    const fds = async (): Promise<number> => (await run('ls', [`/proc/${await sidecar.pid()}/fd`])).stdout.split('\n').filter((l) => l !== '').length;
    const before = await fds();
    await Promise.all(Array.from({ length: 20 }, () => rawUpgrade('GET', 'worker-0', ['sleep', '60'], { 'sec-websocket-key': 'not a key' })));
    await sleep(1000);
    // Each refused agent got its 400 and is gone; an upstream exec per request is still open (sleep 60 runs on).
    expect((await fds()) - before).toBeLessThan(5);
  });

  it('every exec that ran in a container is in the evidence: recorded as create pods/exec, with its result', async () => {
    // A normal exec after the others: once its record is exported, theirs would be too.
    expect(await agentOk(['exec', 'worker-0', '--', 'echo', 'control-marker'])).toBe('control-marker\n');
    const exported = await eventually('the control exec\'s record', async () => {
      const e = await fetchExport(system.op.url, ns);
      return e.records.some((r) => r.type === 'command' && r.result !== undefined && /control-marker/.test(r.command ?? '')) ? e : undefined;
    }, 30_000, 250);
    const ran = [['vault-0', 'reached-by-delete'], ['vault-0', 'reached-by-patch'], ['vault-0', 'reached-by-put'], ['worker-0', 'blind-bad-key'], ['worker-0', 'blind-post']]
      .filter(([pod = '', marker = '']) => existsSync(join(standIn.podDir(ns, pod), marker)));
    const evidence = ran.map(([pod = '', marker = '']) => {
      const records = exported.records.filter((r) => r.protocol === 'kubernetes' && r.type === 'command' && r.decision === 'allow' && (r.command ?? '').includes(marker));
      return { marker, recorded: records.length > 0, withResult: records.some((r) => r.result !== undefined), as: records.map((r) => (r.command ?? '').split('\n')[0]).find((l) => l?.includes(pod) === true) };
    });
    // Every command that ran: recorded, with a result, and described as what the apiserver ran.
    expect(evidence).toEqual(ran.map(([pod = '', marker = '']) => ({ marker, recorded: true, withResult: true, as: `kubectl create pods/exec ${pod} -n ${ns}` })));
  });
});

describe('values kept as bookkeeping', () => {
  it('a ConfigMap keyed by CPF: the key is masked in data (control) and managedFields (which names it) is not passed', async () => {
    const plain = await agentOk(['get', 'configmap', 'ledger', '-o', 'json']);
    expect(plain).toContain('saldo 10');
    expect(plain).not.toContain(CPF);
    const withFields = await agentOk(['get', 'configmap', 'ledger', '-o', 'json', '--show-managed-fields']);
    expect(withFields).not.toContain('managedFields');
    expect(withFields).not.toContain(CPF);
    // Nor in lists, Tables (kubectl's default output asks for one) or watch events.
    for (const args of [['get', 'configmaps', '-o', 'json', '--show-managed-fields'], ['get', '--raw', `/api/v1/namespaces/${ns}/configmaps`], ['get', '--raw', `/api/v1/namespaces/${ns}/configmaps?watch=1&timeoutSeconds=1`]]) {
      const out = await agentOk(args);
      expect(out).not.toContain('managedFields');
      expect(out).not.toContain(CPF);
    }
  });

  it('an object the agent writes back without managedFields keeps the server\'s (the apiserver keeps what an update omits)', async () => {
    const admin = (args: readonly string[]): Promise<{ stdout: string }> => run(join(requireKube().binDir, 'kubectl'), ['--kubeconfig', kubeconfigPath('admin'), '-n', ns, ...args]);
    const managers = async (): Promise<string[]> => (JSON.parse((await admin(['get', 'configmap', 'a-first', '-o', 'json', '--show-managed-fields'])).stdout) as { metadata: { managedFields?: { manager: string }[] } }).metadata.managedFields?.map((f) => f.manager) ?? [];
    // A field another manager owns, which the agent's write-back does not change: its entry must stay.
    await admin(['label', 'configmap', 'a-first', 'team=support', '--overwrite']);
    expect(await managers()).toContain('kubectl-label');
    const read = JSON.parse(await agentOk(['get', 'configmap', 'a-first', '-o', 'json'])) as { data: Record<string, string> };
    read.data.note = 'written back by the agent';
    const file = join(fx.dir, 'a-first.json');
    writeFileSync(file, JSON.stringify(read));
    await agentOk(['replace', '--validate=false', '-f', file]);
    // The server's entries are still there (the agent's update added its own): the update omitted managedFields.
    expect(await managers()).toEqual(expect.arrayContaining(['kubectl-label', 'kubectl-replace']));
    const stored = JSON.parse((await admin(['get', 'configmap', 'a-first', '-o', 'json'])).stdout) as { data: Record<string, string> };
    expect(stored.data.note).toBe('written back by the agent');
  });

  it('a page of a list does not carry its last object\'s unmasked name in its continue token', async () => {
    // The item itself is masked when listed (control).
    const all = await agentOk(['get', 'configmaps', '-o', 'json']);
    expect(all).toContain('customer settings');
    expect(all).not.toContain(CPF);
    const page = JSON.parse(await agentOk(['get', '--raw', `/api/v1/namespaces/${ns}/configmaps?limit=2`])) as { metadata: { continue?: string }; items: { metadata: { name: string } }[] };
    // etcd3 encodeContinue: the token's "start" is the page's last key + "\\x00", i.e. cliente-<CPF>, masked in items.
    expect(page.items.map((i) => i.metadata.name)[0]).toBe('a-first');
    expect(JSON.stringify(page.items)).not.toContain(CPF);
    const token = page.metadata.continue ?? '';
    expect(token).not.toBe('');
    expect(Buffer.from(token, 'base64url').toString('utf8')).not.toContain(CPF);
    expect(Buffer.from(token.replace(/^guarita\./, ''), 'base64url').toString('latin1')).not.toContain(CPF);
  });

  it('paging still works through the sealed tokens: a page at a time, kubectl lists every object', async () => {
    const admin = (await run(join(requireKube().binDir, 'kubectl'), ['--kubeconfig', kubeconfigPath('admin'), '-n', ns, 'get', 'configmaps', '-o', 'name'])).stdout.trim().split('\n');
    const paged = (await agentOk(['get', 'configmaps', '-o', 'name', '--chunk-size=1'])).trim().split('\n');
    expect(paged).toHaveLength(admin.length);
    expect(paged.join('\n')).not.toContain(CPF);
    // Followed by hand: each page's token opens the next page.
    let token = '';
    const names: string[] = [];
    for (let i = 0; i < 10; i++) {
      const page = JSON.parse(await agentOk(['get', '--raw', `/api/v1/namespaces/${ns}/configmaps?limit=1${token === '' ? '' : `&continue=${token}`}`])) as { metadata: { continue?: string }; items: { metadata: { name: string } }[] };
      names.push(...page.items.map((x) => x.metadata.name));
      token = page.metadata.continue ?? '';
      if (token === '') break;
    }
    expect(names).toHaveLength(admin.length);
  });

  it('a continue token the proxy did not issue (the apiserver\'s own form, one crafted to start at a name) is refused as expired', async () => {
    const crafted = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: 1, start: 'cliente-\u0000' })).toString('base64url');
    const r = await agent(['get', '--raw', `/api/v1/namespaces/${ns}/configmaps?limit=1&continue=${crafted}`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Expired|410|not issued by this proxy/);
  });
});

// ---- answers being read and masked count against the held-answers budget ------------------------------

describe('answers being read and masked are inside the proxy\'s memory budget', () => {
  const ANSWER_ITEMS = 600;
  let slow: TlsServer;
  let slowSidecar: SidecarProcess;
  let slowPort: number;
  const streams = { started: 0, completed: 0, cut: 0 };

  /** A stand-in apiserver whose list answers (~200 KB) arrive in chunks over ~1.5 s: requests overlap while they are read. */
  async function startSlowApiserver(): Promise<{ url: string; ca: string }> {
    const identity = await createServingIdentity('slow-apiserver');
    const items = Array.from({ length: ANSWER_ITEMS }, (_, i) => ({ metadata: { name: `cm-${i}`, namespace: ns, resourceVersion: String(i) }, data: { note: `${'x'.repeat(300)} ${i}` } }));
    const body = Buffer.from(JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items }));
    slow = createTlsServer({ cert: identity.certPem, key: identity.keyPem }, (socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => {
        streams.started++;
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`);
        const parts = 15;
        let sent = 0;
        const next = (): void => {
          if (socket.destroyed) {
            streams.cut++;
            return;
          }
          const end = Math.round(((sent + 1) * body.length) / parts);
          socket.write(body.subarray(Math.round((sent * body.length) / parts), end));
          if (++sent < parts) setTimeout(next, 100);
          else {
            streams.completed++;
            socket.end();
          }
        };
        next();
      });
    });
    slow.listen(0, '127.0.0.1');
    await once(slow, 'listening');
    return { url: `https://127.0.0.1:${(slow.address() as AddressInfo).port}`, ca: identity.caPem };
  }

  beforeAll(async () => {
    const upstream = await startSlowApiserver();
    [slowPort = 0] = await freePorts(1);
    const slowPolicy = policy() as { metadata: { name: string }; spec: Record<string, unknown> };
    slowPolicy.metadata.name = 'slow-access';
    slowPolicy.spec = { ...slowPolicy.spec, target: { name: 'slow', protocol: 'kubernetes', endpoint: upstream.url, listenPort: slowPort, credentialsSecretRef: { name: 'cluster-reader-token' } } };
    await apply([slowPolicy]);
    const fx2 = await sidecarFixture(ns, 'support-agent', 'support-agent-1');
    mountCredentials(fx2, 'slow', { token: 'stand-in', 'ca.crt': upstream.ca });
    const caDir = join(fx2.dir, 'kube');
    mkdirSync(caDir);
    // 256 KiB per answer: 1 MiB for all answers being masked or held at once.
    slowSidecar = await startSidecarProcess(fx2, { targets: [{ policy: 'slow-access', target: 'slow', protocol: 'kubernetes', listenPort: slowPort }], operatorUrl: system.op.url, env: { GUARITA_KUBE_CA_DIR: caDir, GUARITA_KUBE_MAX_RESPONSE: String(256 * 1024) } });
  }, 120_000);

  afterAll(async () => {
    await slowSidecar?.stop();
    slow?.close();
  });

  it('eight ~200 KB answers read at once: those past the 1 MiB budget are refused (503) while being read, the others served whole and masked', async () => {
    const ask = async (): Promise<{ status: number; text: string }> => {
      const res = await fetchInsecure(`https://127.0.0.1:${slowPort}/guarita-purpose/${PURPOSE}/api/v1/namespaces/${ns}/configmaps`, agentToken);
      return res;
    };
    const answers = await Promise.all(Array.from({ length: 8 }, ask));
    const refused = answers.filter((a) => a.status === 503);
    const served = answers.filter((a) => a.status === 200);
    expect(refused.length + served.length).toBe(8);
    // 8 × ~200 KB being read is over 1 MiB: some are cut while their bodies still arrive.
    expect(refused.length).toBeGreaterThanOrEqual(3);
    for (const r of refused) expect(r.text).toContain('being masked or not yet read');
    expect(served.length).toBeGreaterThanOrEqual(1);
    for (const s of served) expect((JSON.parse(s.text) as { items: unknown[] }).items).toHaveLength(ANSWER_ITEMS);
    await eventually('the stand-in to see every stream end', () => Promise.resolve(streams.completed + streams.cut === streams.started ? true : undefined), 10_000, 100);
    expect(streams.cut).toBeGreaterThanOrEqual(refused.length);
  });
});

/** A GET over TLS to the sidecar's listener (its CA is per process), with the agent's token. */
async function fetchInsecure(url: string, token: string): Promise<{ status: number; text: string }> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
