// kubectl exec, attach, cp and port-forward through a real sidecar process, against the real
// apiserver and the kubelet stand-in (e2e/support/kubelet-stand-in.ts: the kubelet's own streaming
// code, since the local control plane has no node), with the real operator for approvals and
// records. What the container prints is masked before kubectl shows it; stdin, stdout and stderr
// are recorded as timed 'stream' records; the decision is the policy's rules.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';
import { freePorts } from '../../e2e/harness/ports.ts';
import { kubeconfigPath, kubectl, requireKube } from '../../e2e/harness/state.ts';
import { apply, getObject, grantSessionReaders, serviceAccountToken } from '../../e2e/support/kube-apply.ts';
import { k, suffix } from '../../e2e/support/kubectl.ts';
import { spawnCli } from '../../cli/test/spawn-cli.ts';
import { startKubeletStandIn, type KubeletStandIn } from '../../e2e/support/kubelet-stand-in.ts';
import { startGuaritaSystem, type GuaritaSystem } from '../../e2e/support/guarita-system.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { echoThrough, forwardedPort } from '../../e2e/support/port-forward-client.ts';
import { agentKubectl, readerCredential, writeAgentKubeconfig, type Ran } from './kube-agent.ts';
import { fetchExport, mountCredentials, sidecarFixture, startSidecarProcess, type SidecarFixture, type SidecarProcess } from './support.ts';

jest.setTimeout(120_000);

const POLICY = 'cluster-access';
const TARGET = 'cluster';
const PURPOSE = 'troubleshooting';
const CPF = '590.830.166-33';
const EMAIL = 'larissa.oliveira1@exemplo.com.br';

let system: GuaritaSystem;
let ns: string;
let fx: SidecarFixture;
let sidecar: SidecarProcess;
let standIn: KubeletStandIn;
let echo: Server;
let listenPort: number;
let agentKubeconfig: string;
let agentToken: string;

function policy(revoked = false): Record<string, unknown> {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: POLICY, namespace: ns },
    spec: {
      podSelector: { matchLabels: { app: 'support-agent' } },
      target: { name: TARGET, protocol: 'kubernetes', endpoint: requireKube().apiserverUrl, listenPort, credentialsSecretRef: { name: 'cluster-reader-token' } },
      identity: { serviceAccounts: { audiences: ['guarita'] } },
      subjects: [{ kind: 'ServiceAccount', name: 'support-agent', namespace: ns }],
      ...(revoked ? { revokedSubjects: [{ kind: 'ServiceAccount', name: 'support-agent', namespace: ns, reason: 'test revocation' }] } : {}),
      purposes: [{ name: PURPOSE }],
      rules: [
        { name: 'discovery', match: { kubernetes: { verbs: ['get'], nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/openapi/*', '/version'] } }, action: 'allow' },
        { name: 'exec-orders-db-needs-dpo', match: { kubernetes: { resources: ['pods/exec', 'pods/attach'], names: ['orders-db-*'] } }, action: 'requireApproval', approval: { approverGroups: ['dpo'], ttl: '15m' } },
        { name: 'no-exec-vault', match: { kubernetes: { resources: ['pods/exec', 'pods/attach', 'pods/portforward'], names: ['vault-*'] } }, action: 'deny' },
        { name: 'exec-workers', match: { kubernetes: { resources: ['pods/exec', 'pods/attach', 'pods/portforward'], names: ['worker-*'], namespaces: [ns] } }, action: 'allow' },
        { name: 'read-pods', match: { kubernetes: { verbs: ['get', 'list'], resources: ['pods'], namespaces: [ns] } }, action: 'allow' },
      ],
      masking: { style: 'partial' },
    },
  };
}

const kubectlAgent = agentKubectl(() => agentKubeconfig, () => fx.dir, () => sidecar.log(40));
/** kubectl as the agent: only the injected-style KUBECONFIG. */
const agent = (args: readonly string[], input?: string, env: Record<string, string> = {}): Promise<Ran> => kubectlAgent.run(args, { ...(input === undefined ? {} : { input }), env });
const agentOk = (args: readonly string[], input?: string): Promise<string> => kubectlAgent.ok(args, input === undefined ? {} : { input });

/** The real CLI as audrey (a session reader), to the test's operator. */
async function guarita(args: string[]): Promise<Ran> {
  const r = await spawnCli([...args, '-n', ns], { PATH: process.env.PATH ?? '', HOME: fx.dir, KUBECONFIG: kubeconfigPath('audrey'), GUARITA_OPERATOR_URL: system.op.url, GUARITA_OPERATOR_CA: requireKube().caFile });
  return { ...r, code: r.code ?? 1 };
}

beforeAll(async () => {
  system = await startGuaritaSystem('sc-k8s-stream');
  ns = system.ns;
  const kube = requireKube();
  const readerToken = await readerCredential(ns, 'cluster-reader', [{ apiGroups: [''], resources: ['pods', 'pods/exec', 'pods/attach', 'pods/portforward'], verbs: ['get', 'list', 'create'] }]);
  await apply([
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'reviewers', namespace: ns }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'patch'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'reviewers', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reviewers' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'dpo' }] },
  ]);
  standIn = await startKubeletStandIn(`stream-node-${suffix()}`);
  for (const pod of ['worker-0', 'orders-db-0', 'vault-0']) await standIn.runPod(ns, pod);
  await standIn.runPod(ns, 'worker-attach', { containers: [{ name: 'app', image: 'registry.invalid/stand-in:test', stdin: true }] });
  writeFileSync(join(standIn.podDir(ns, 'worker-0'), 'customers.txt'), `pedido 1 cliente CPF ${CPF} email ${EMAIL}\n`);
  echo = createServer((socket) => socket.pipe(socket));
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  standIn.forward(ns, 'worker-0', 8080, (echo.address() as AddressInfo).port);
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
}, 240_000);

afterAll(async () => {
  echo?.close();
  await sidecar?.stop();
  await standIn?.stop();
  await system?.stop();
});

describe('kubectl exec through the sidecar', () => {
  it('masks what the container prints, on stdout and stderr, and passes the exit code', async () => {
    const r = await agent(['exec', 'worker-0', '--', 'sh', '-c', 'cat customers.txt; cat customers.txt >&2; exit 3']);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('pedido 1 cliente CPF');
    expect(r.stdout).not.toContain(CPF);
    expect(r.stdout).not.toContain(EMAIL);
    expect(r.stderr).toContain('pedido 1 cliente CPF');
    expect(r.stderr).not.toContain(CPF);
    // An identifier printed in pieces is masked whole.
    const split = await agentOk(['exec', 'worker-0', '--', 'sh', '-c', `printf '590.830'; sleep 0.2; printf '.166-33 fim\\n'`]);
    expect(split).toContain('fim');
    expect(split).not.toContain(CPF);
  });

  it('passes stdin to the container as typed', async () => {
    expect(await agentOk(['exec', '-i', 'worker-0', '--', 'cat'], 'typed by the agent\n')).toBe('typed by the agent\n');
  });

  it('refuses a denied exec with kubectl\'s Forbidden text, before anything reaches the pod', async () => {
    const r = await agent(['exec', 'vault-0', '--', 'sh', '-c', 'touch reached']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Forbidden|guarita: AccessPolicy cluster-access/);
    expect(r.stderr).toMatch(/no-exec-vault/);
    expect(existsSync(join(standIn.podDir(ns, 'vault-0'), 'reached'))).toBe(false);
  });

  it('holds an exec for approval, runs it once when approved, and holds the next one again', async () => {
    interface Ar { metadata: { name: string }; spec: { command: { text: string } }; status?: { phase?: string } }
    const cmd = ['exec', 'orders-db-0', '--', 'sh', '-c', 'echo approved-run >> runs.txt; echo ok'];
    const held = await agent(cmd);
    expect(held.code).not.toBe(0);
    expect(held.stderr).toMatch(/approval pending/);
    const ar = await eventually('the Pending ApprovalRequest', async () => {
      const list = (JSON.parse(await k(['get', 'approvalrequests', '-n', ns, '-o', 'json'])) as { items: Ar[] }).items;
      return list.find((a) => a.spec.command.text.includes(`CONNECT /api/v1/namespaces/${ns}/pods/orders-db-0/exec`) && a.status?.phase === 'Pending');
    }, 20_000, 100);
    // kubectl retried the refused WebSocket upgrade as a SPDY POST: the same command, so the same request, not a second one.
    const forExec = (JSON.parse(await k(['get', 'approvalrequests', '-n', ns, '-o', 'json'])) as { items: Ar[] }).items.filter((a) => a.spec.command.text.includes(`/pods/orders-db-0/exec`));
    expect(forExec.map((a) => a.metadata.name)).toEqual([ar.metadata.name]);
    const review = JSON.stringify([{ op: 'add', path: '/spec/reviews/-', value: { decision: 'Approved', reason: 'ticket exec' } }]);
    const res = await kubectl(['patch', 'approvalrequest', ar.metadata.name, '-n', ns, '--type=json', '-p', review], { user: 'dana' });
    expect(res.stderr).toBe('');
    await eventually('Approved', async () => ((await getObject<Ar>('approvalrequest', ns, ar.metadata.name)).status?.phase === 'Approved' ? true : undefined), 20_000, 100);
    expect(await agentOk(cmd)).toContain('ok');
    expect(readFileSync(join(standIn.podDir(ns, 'orders-db-0'), 'runs.txt'), 'utf8')).toBe('approved-run\n');
    const again = await agent(cmd);
    expect(again.stderr).toMatch(/approval pending/);
    expect(readFileSync(join(standIn.podDir(ns, 'orders-db-0'), 'runs.txt'), 'utf8')).toBe('approved-run\n');
  });

  it('kubectl cp into the pod runs (tar over exec, judged); cp out of the pod is refused as unmaskable binary output', async () => {
    const local = join(fx.dir, 'upload.txt');
    writeFileSync(local, 'uploaded by the agent\n');
    await agentOk(['cp', local, 'worker-0:upload.txt']);
    expect(readFileSync(join(standIn.podDir(ns, 'worker-0'), 'upload.txt'), 'utf8')).toBe('uploaded by the agent\n');
    const down = await agent(['cp', 'worker-0:customers.txt', join(fx.dir, 'downloaded.txt')]);
    expect(down.stderr + down.stdout).toMatch(/cannot mask/);
    expect(existsSync(join(fx.dir, 'downloaded.txt')) ? readFileSync(join(fx.dir, 'downloaded.txt'), 'utf8') : '').not.toContain(CPF);
    const cpDenied = await agent(['cp', local, 'vault-0:upload.txt']);
    expect(cpDenied.stderr).toMatch(/no-exec-vault/);
  });

  it('port-forwards to an allowed pod (opaque bytes, counted)', async () => {
    const child = spawn(join(requireKube().binDir, 'kubectl'), ['--kubeconfig', agentKubeconfig, '--cache-dir', join(fx.dir, 'kcache'), 'port-forward', 'pod/worker-0', ':8080'], { env: { PATH: process.env.PATH ?? '', HOME: fx.dir } });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    try {
      const local = await forwardedPort(child, (code) => `kubectl port-forward exited ${code}: ${err}\n${sidecar.log(30)}`);
      expect(await echoThrough(local, 'ping through the sidecar')).toBe('ping through the sidecar');
    } finally {
      child.kill();
    }
    const denied = await agent(['port-forward', 'pod/vault-0', ':8080']);
    expect(denied.stderr).toMatch(/no-exec-vault/);
  });

  it('records stdin, stdout and stderr as masked, timed stream records', async () => {
    await agentOk(['exec', '-i', 'worker-0', '--', 'sh', '-c', 'cat; cat customers.txt; echo to-stderr >&2'], `stdin line with ${CPF}\n`);
    const exported = await eventually('the stream records are exported', async () => {
      const e = await fetchExport(system.op.url, ns);
      const frames = e.records.filter((r) => r.type === 'stream').flatMap((r) => r.frames ?? []);
      const portForwardDone = e.records.some((r) => r.type === 'command' && /portforward/.test(r.command ?? '') && r.result?.sample !== undefined);
      return portForwardDone && frames.some((f) => f.ch === 'e' && f.data.includes('to-stderr')) ? e : undefined;
    }, 30_000, 250);
    const frames = exported.records.filter((r) => r.type === 'stream').flatMap((r) => r.frames ?? []);
    expect(frames.some((f) => f.ch === 'i' && f.data.includes('stdin line with'))).toBe(true);
    expect(frames.some((f) => f.ch === 'o' && f.data.includes('pedido 1 cliente CPF'))).toBe(true);
    for (let i = 1; i < frames.length; i++) expect(typeof frames[i]?.t).toBe('number');
    expect(JSON.stringify(exported.records)).not.toContain(CPF);
    expect(JSON.stringify(exported.records)).not.toContain(EMAIL);
    const execs = exported.records.filter((r) => r.protocol === 'kubernetes' && r.type === 'command' && r.decision === 'allow' && /exec/.test(r.command ?? ''));
    expect(execs.some((r) => r.result?.status === 3)).toBe(true);
    // The port-forward earlier: its bytes each way (the payload is not inspected).
    const forwarded = exported.records.find((r) => r.type === 'command' && /portforward/.test(r.command ?? '') && r.decision === 'allow');
    expect(forwarded?.result?.sample).toMatch(/^port-forward \(SPDY\/3\.1\+portforward\.k8s\.io\): [1-9]\d* bytes to the pod, [1-9]\d* bytes from it/);
  });

  it('guarita replay plays an exec session frame by frame, masked, with its recorded timing', async () => {
    await agentOk(['exec', 'worker-0', '--', 'sh', '-c', `echo replay-start; sleep 0.3; echo CPF ${CPF} replay-end`]);
    const exported = await eventually('the exec\'s stream records', async () => {
      const e = await fetchExport(system.op.url, ns);
      return e.records.some((r) => r.type === 'stream' && r.frames?.some((f) => f.data.includes('replay-end')) === true) ? e : undefined;
    }, 30_000, 250);
    const streams = exported.records.filter((r) => r.type === 'stream' && r.frames?.some((f) => f.data.includes('replay-')) === true);
    const frames = streams.flatMap((r) => r.frames ?? []);
    const startAt = frames.find((f) => f.data.includes('replay-start'))?.t ?? -1;
    const endAt = frames.find((f) => f.data.includes('replay-end'))?.t ?? -1;
    // The recorded offsets keep the pause the command made (data, not a timed assertion).
    expect(endAt - startAt).toBeGreaterThanOrEqual(250);
    const sessionId = streams[0]?.sessionId ?? '';
    const replay = await guarita(['replay', sessionId, '--no-timing']);
    expect(replay.stdout).toContain('▶ terminal (channel');
    expect(replay.stdout.indexOf('replay-start')).toBeGreaterThan(-1);
    expect(replay.stdout.indexOf('replay-end')).toBeGreaterThan(replay.stdout.indexOf('replay-start'));
    expect(replay.stdout).not.toContain(CPF);
    // And as asciicast v2, in order.
    const castFile = join(fx.dir, 'exec.cast');
    // The session holds every exec of this suite, each on its own channel: this exec's.
    const cast = await guarita(['export', '--format', 'asciicast', '--session', sessionId, '--channel', String(streams[0]?.channel ?? 0), '-o', castFile]);
    expect(cast.code).toBe(0);
    const [header, ...events] = readFileSync(castFile, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
    expect(header).toMatchObject({ version: 2 });
    const typed = events as [number, string, string][];
    expect(typed.some(([, code, text]) => code === 'o' && text.includes('replay-end'))).toBe(true);
    expect(JSON.stringify(typed)).not.toContain(CPF);
  });

  it('a client that never reads its exec output holds the container back, not the sidecar\'s memory', async () => {
    const rss = async (): Promise<number> => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${await sidecar.pid()}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    // Warm: what the first execs of the measured part allocate once (compiled code, pools) is not the
    // stalled client's output piling up (a loaded CI run measured 50.9 MB of growth against the bound without it).
    for (let i = 0; i < 2; i++) expect(await agentOk(['exec', 'worker-0', '--', 'echo', `warm-${i}`])).toBe(`warm-${i}\n`);
    const before = await rss();
    const query = ['sh', '-c', `yes 'cliente CPF ${CPF} linha' | head -c 200000000`].map((c) => `command=${encodeURIComponent(c)}`).join('&');
    const url = `wss://127.0.0.1:${listenPort}/guarita-purpose/${PURPOSE}/api/v1/namespaces/${ns}/pods/worker-0/exec?${query}&stdout=true&stderr=true`;
    const stalled = new WebSocket(url, ['v5.channel.k8s.io'], { headers: { authorization: `Bearer ${agentToken}` }, rejectUnauthorized: false });
    await once(stalled, 'open');
    stalled.pause(); // never reads again: its TCP window fills, then the sidecar's queue
    // Meanwhile the sidecar serves others, and 200 MB of output has had every chance to pile up.
    for (let i = 0; i < 5; i++) expect(await agentOk(['exec', 'worker-0', '--', 'echo', `still-served-${i}`])).toBe(`still-served-${i}\n`);
    const grown = (await rss()) - before;
    stalled.terminate();
    expect(grown).toBeLessThan(48 * 1024 * 1024);
  });

  it('kubectl attach: what the agent types reaches the container, what it prints comes back masked', async () => {
    const out = await agentOk(['attach', '-i', 'worker-attach', '-c', 'app'], `attached CPF ${CPF}\n`);
    expect(out).toContain('attached CPF');
    expect(out).not.toContain(CPF);
  });

  it('SPDY (kubectl with WebSockets switched off) is refused naming the fix', async () => {
    const r = await agent(['exec', 'worker-0', '--', 'echo', 'never'], undefined, { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' });
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain('never');
    expect(r.stderr).toMatch(/SPDY\/3\.1 is not supported by the sidecar.*KUBECTL_REMOTE_COMMAND_WEBSOCKETS/);
  });

  it('another client on the v4 channel protocol is masked alike; protocols the sidecar cannot read are refused', async () => {
    const query = ['sh', '-c', 'cat customers.txt'].map((c) => `command=${encodeURIComponent(c)}`).join('&');
    const url = `wss://127.0.0.1:${listenPort}/guarita-purpose/${PURPOSE}/api/v1/namespaces/${ns}/pods/worker-0/exec?${query}&stdout=true&stderr=true`;
    const v4 = new WebSocket(url, ['v4.channel.k8s.io'], { headers: { authorization: `Bearer ${agentToken}` }, rejectUnauthorized: false });
    let stdout = '';
    v4.on('message', (data: Buffer) => { if (data[0] === 1) stdout += data.subarray(1).toString(); });
    await once(v4, 'close');
    expect(v4.protocol).toBe('v4.channel.k8s.io');
    expect(stdout).toContain('pedido 1 cliente CPF');
    expect(stdout).not.toContain(CPF);
    const base64 = new WebSocket(url, ['v4.base64.channel.k8s.io', 'base64.channel.k8s.io'], { headers: { authorization: `Bearer ${agentToken}` }, rejectUnauthorized: false });
    const [, res] = await once(base64, 'unexpected-response') as [unknown, import('node:http').IncomingMessage];
    let body = '';
    for await (const chunk of res) body += (chunk as Buffer).toString();
    expect(res.statusCode).toBe(400);
    expect(body).toMatch(/none of the offered WebSocket protocols.*v5\.channel\.k8s\.io/);
  });

  it('revocation cuts an open port-forward', async () => {
    const child = spawn(join(requireKube().binDir, 'kubectl'), ['--kubeconfig', agentKubeconfig, '--cache-dir', join(fx.dir, 'kcache'), 'port-forward', 'pod/worker-0', ':8080'], { env: { PATH: process.env.PATH ?? '', HOME: fx.dir } });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const local = await forwardedPort(child);
      const socket = connect(local, '127.0.0.1');
      socket.write('before');
      let back = '';
      for await (const chunk of socket) {
        back += (chunk as Buffer).toString();
        if (back.length >= 'before'.length) break;
      }
      expect(back).toBe('before');
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      await apply([policy(true)]);
      // The tunnel is cut: the forwarded connection closes, and kubectl port-forward ends.
      const ended = await Promise.race([Promise.all([closed, exited]).then(() => 'ended'), new Promise<string>((r) => setTimeout(() => r('still open'), 30_000))]);
      expect(ended).toBe('ended');
    } finally {
      child.kill();
      await apply([policy()]);
      await eventually('the policy is back in force', async () => ((await agent(['exec', 'worker-0', '--', 'true'])).code === 0 ? true : undefined), 30_000, 200);
    }
  });

  it('revocation cuts an open exec', async () => {
    const child = spawn(join(requireKube().binDir, 'kubectl'), ['--kubeconfig', agentKubeconfig, '--cache-dir', join(fx.dir, 'kcache'), 'exec', '-i', 'worker-0', '--', 'cat'], { env: { PATH: process.env.PATH ?? '', HOME: fx.dir } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.stdin.write('before revocation\n');
    await eventually('the exec echoes', () => Promise.resolve(out.includes('before revocation') ? true : undefined), 30_000, 100);
    await apply([policy(true)]);
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), 30_000))]);
    child.kill();
    expect(code).not.toBe('still running');
    expect(code).not.toBe(0);
    expect(err).toMatch(/revoked|guarita/);
    await apply([policy()]);
    await eventually('the policy is back in force', async () => ((await agent(['exec', 'worker-0', '--', 'true'])).code === 0 ? true : undefined), 30_000, 200);
  });
});
