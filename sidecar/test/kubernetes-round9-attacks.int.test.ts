// Round 9 adversarial review of the Kubernetes target, through the real sidecar process, the real
// kube-apiserver and the real kubectl (docs/security-model.md, "Round 9"). Each test FAILS on the
// code reviewed (135e089):
//  - label selectors are an oracle on masked values: a label the proxy masks in every answer
//    (`cpf: "59083016633"` shows as a mask) is read back exactly by asking the apiserver which
//    objects match `cpf>N` (set-based selectors take gt/lt on integer label values): a binary search
//    of ~37 allowed `list` requests recovers the whole value, and `in (...)` confirms any guess;
//  - request bodies are buffered before the agent is authenticated or judged and outside every
//    memory budget: connections that send 1 MiB - 1 byte of a declared 1 MiB body and stop hold
//    ~1 MiB of the sidecar's memory each for the request timeout (5 min), 1024 connections allowed;
//    the injected sidecar's default memory limit is 256Mi.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import { apply } from '../../e2e/support/kube-apply.ts';
import { startGuaritaSystem, type GuaritaSystem } from '../../e2e/support/guarita-system.ts';
import { agentKubectl, readerCredential, type Ran } from './kube-agent.ts';
import type { SidecarFixture, SidecarProcess } from './support.ts';
import { KUBE_PURPOSE, kubernetesPolicy, startKubernetesSidecar } from './kubernetes-sidecar.ts';

jest.setTimeout(180_000);

const PURPOSE = KUBE_PURPOSE;
// A valid CPF, digits only, as a label value: gt/lt take integer values, and applications label
// per-customer objects with the bare number.
const CPF_DIGITS = '59083016633';

let system: GuaritaSystem;
let ns: string;
let fx: SidecarFixture;
let sidecar: SidecarProcess;
let listenPort: number;
let agentKubeconfig: string;
let agentToken: string;
let caPem: string;

function policy(): Record<string, unknown> {
  return kubernetesPolicy(ns, listenPort, [
    // Troubleshooting reads configuration; personal data in it is masked (the policy's promise).
    { name: 'read-config', match: { kubernetes: { verbs: ['get', 'list', 'watch'], resources: ['configmaps'], namespaces: [ns] } }, action: 'allow' },
  ], { style: 'partial' });
}

const kubectlAgent = agentKubectl(() => agentKubeconfig, () => fx.dir, () => sidecar.log(40));
const agent = (args: readonly string[]): Promise<Ran> => kubectlAgent.run(args);
const agentOk = (args: readonly string[]): Promise<string> => kubectlAgent.ok(args);

/** GET through the sidecar as the agent (its own token, the purpose prefix): status and body. */
function agentGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1', port: listenPort, path: `/guarita-purpose/${PURPOSE}${path}`, method: 'GET', ca: caPem,
      headers: { authorization: `Bearer ${agentToken}`, accept: 'application/json' },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Names of the ConfigMaps of `ns` matching a label selector, as the agent lists them through the proxy. */
async function matching(selector: string): Promise<string[]> {
  const r = await agentGet(`/api/v1/namespaces/${ns}/configmaps?labelSelector=${encodeURIComponent(selector)}`);
  if (r.status !== 200) throw new Error(`list with ${selector}: ${r.status} ${r.body.slice(0, 300)}`);
  return (JSON.parse(r.body) as { items: { metadata: { name: string } }[] }).items.map((i) => i.metadata.name);
}

const DECLARED = 1024 * 1024; // GUARITA_HTTP_MAX_BUFFERED_BODY, the default

/** `count` TLS connections that send `head` and all but the last byte of its DECLARED body, then stall; their status lines as they come. */
/**
 * Opens `count` connections that each send `head` and stop 1 byte short of the declared body, then
 * waits until `answered` of them have an answer (up to 30 s: on a loaded machine the sidecar takes
 * longer than any fixed pause to read 60 MiB over TLS) and 1 s more for answers beyond the ones expected.
 */
async function stallBodies(head: string, count: number, answered: number): Promise<{ sockets: TLSSocket[]; answers: string[] }> {
  const sockets: TLSSocket[] = [];
  const answers: string[] = [];
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  for (let i = 0; i < count; i++) {
    const s = connect({ host: '127.0.0.1', port: listenPort, rejectUnauthorized: false });
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => answers.push(d.toString('latin1').split('\r\n')[0] ?? ''));
    sockets.push(s);
    await new Promise<void>((resolve) => s.once('secureConnect', () => resolve()));
    s.write(head);
    for (let sent = 0; sent < DECLARED - 1; sent += chunk.length) s.write(chunk.subarray(0, Math.min(chunk.length, DECLARED - 1 - sent)));
    if (i % 20 === 19) await new Promise((r) => setTimeout(r, 200));
  }
  const deadline = Date.now() + 30_000;
  while (answers.length < answered && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 1000));
  return { sockets, answers };
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

beforeAll(async () => {
  system = await startGuaritaSystem('sc-k8s-r9');
  ns = system.ns;
  const readerToken = await readerCredential(ns, 'cluster-reader', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }]);
  await apply([
    // One object per customer, labelled with the customer's CPF (as the application does).
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'customer-settings-a', namespace: ns, labels: { app: 'billing', cpf: CPF_DIGITS } }, data: { plan: 'gold' } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unrelated', namespace: ns, labels: { app: 'web' } }, data: { note: 'x' } },
  ]);
  ({ fx, sidecar, listenPort, agentToken, caPem, agentKubeconfig } = await startKubernetesSidecar({
    system, readerToken, policy: (port) => { listenPort = port; return policy(); },
  }));
}, 240_000);

afterAll(async () => {
  await sidecar?.stop();
  await system?.stop();
});

describe('label selectors: an oracle on the values the proxy masks', () => {
  it('the CPF label is masked in what the agent reads (control: the policy masks it)', async () => {
    const json = await agentOk(['get', 'configmaps', 'customer-settings-a', '-o', 'json']);
    const shown = await agentOk(['get', 'configmaps', '--show-labels']);
    expect(json).not.toContain(CPF_DIGITS);
    expect(shown).not.toContain(CPF_DIGITS);
  });

  it('kubectl get -l "cpf in (...)" does not confirm a guessed CPF the answers mask', async () => {
    // kubectl's own form: a guess is confirmed by the object coming back.
    const hit = await agent(['get', 'configmaps', '-l', `cpf in (${CPF_DIGITS})`, '-o', 'name']);
    const miss = await agent(['get', 'configmaps', '-l', 'cpf in (52998224725)', '-o', 'name']);
    expect({ hit: hit.stdout.trim(), miss: miss.stdout.trim() }).not.toEqual({ hit: 'configmap/customer-settings-a', miss: '' });
  });

  it('ordering comparisons (cpf>N, cpf<N) are refused: a binary search over them read the masked CPF back', async () => {
    // Set-based selectors take gt/lt on integer label values (labels.Parse): each allowed list
    // answered one bit, and 37 lists recovered the 11 digits.
    expect(await matching('cpf')).toEqual(['customer-settings-a']);
    for (const selector of ['cpf>49999999999', 'cpf<60000000000', 'cpf > 1', 'app=billing,cpf>1', '!x,cpf<1']) {
      const r = await agentGet(`/api/v1/namespaces/${ns}/configmaps?labelSelector=${encodeURIComponent(selector)}`);
      expect({ selector, status: r.status, says: r.body.includes('labelSelector with < or >') }).toEqual({ selector, status: 400, says: true });
    }
    // kubectl's own form and a watch are refused the same way.
    const ran = await agent(['get', 'configmaps', '-l', 'cpf>1', '-o', 'name']);
    expect(ran.stdout).not.toContain('customer-settings-a');
    expect(ran.stderr).toContain('labelSelector with < or >');
    const watch = await agentGet(`/api/v1/namespaces/${ns}/configmaps?watch=true&labelSelector=${encodeURIComponent('cpf>1')}`);
    expect(watch.status).toBe(400);
  });

  it('a selector comparing a value the answers mask is refused, in label and field selectors; other selectors still work', async () => {
    for (const selector of [`cpf=${CPF_DIGITS}`, `cpf!=${CPF_DIGITS}`, `cpf notin (1,${CPF_DIGITS})`, `app=billing,cpf==${CPF_DIGITS}`]) {
      const r = await agentGet(`/api/v1/namespaces/${ns}/configmaps?labelSelector=${encodeURIComponent(selector)}`);
      expect({ selector, status: r.status, leaks: r.body.includes(CPF_DIGITS), says: r.body.includes('a value the answers mask') }).toEqual({ selector, status: 400, leaks: false, says: true });
    }
    const field = await agentGet(`/api/v1/namespaces/${ns}/configmaps?fieldSelector=${encodeURIComponent(`metadata.name=${CPF_DIGITS}`)}`);
    expect(field.status).toBe(400);
    expect(await matching('app in (billing,web)')).toEqual(['customer-settings-a', 'unrelated']);
    expect(await matching('app!=web')).toEqual(['customer-settings-a']);
  });
});

describe('request bodies held before authentication, outside every budget', () => {
  it('connections that stall 1 byte short of a 1 MiB body do not grow the sidecar by hundreds of MiB', async () => {
    const pid = await sidecar.pid();
    const before = rssKiB(pid);
    // No Authorization header at all: the body was read before the token was even looked at.
    const stalled = await stallBodies(`PUT /api/v1/namespaces/${ns}/configmaps/unrelated HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${DECLARED}\r\n\r\n`, 300, 300);
    try {
      const grownMiB = (rssKiB(pid) - before) / 1024;
      // Shown on failure: the sidecar's growth for 300 unauthenticated stalled uploads (the injected
      // sidecar's memory limit is 256Mi).
      expect(Math.round(grownMiB) < 128 ? 'under 128' : Math.round(grownMiB)).toBe('under 128');
      expect(stalled.answers.filter((a) => a.includes(' 401 ')).length).toBe(300);
    } finally {
      for (const s of stalled.sockets) s.destroy();
    }
  });

  it('stalled bodies of an authenticated agent are held up to the budget of the listener (16 x 1 MiB), then answered 503', async () => {
    const pid = await sidecar.pid();
    const before = rssKiB(pid);
    const stalled = await stallBodies(`PUT /guarita-purpose/${PURPOSE}/api/v1/namespaces/${ns}/configmaps/unrelated HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${agentToken}\r\ncontent-type: application/json\r\ncontent-length: ${DECLARED}\r\n\r\n`, 60, 60 - 16);
    try {
      const grownMiB = (rssKiB(pid) - before) / 1024;
      expect(stalled.answers.filter((a) => a.includes(' 503 ')).length).toBeGreaterThanOrEqual(60 - 16);
      expect(Math.round(grownMiB)).toBeLessThan(128);
    } finally {
      for (const s of stalled.sockets) s.destroy();
    }
    // The budget is released with the connections: an ordinary request goes through again.
    await new Promise((r) => setTimeout(r, 500));
    expect(await matching('app=web')).toEqual(['unrelated']);
  });
});
