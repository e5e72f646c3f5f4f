// Round 11 adversarial review of the Kubernetes target with today's kubectl, through the real
// sidecar process, the real kube-apiserver and the real kubectl (docs/security-model.md, "Round 11 review: the Kubernetes target"). Each
// test in "findings" FAILS on the code reviewed (454ea3f):
//  - Table cells are read without their keys: the policy's field rules (`masking.fields`, by JSON
//    key) mask `spec.nome` in `kubectl get cliente -o json`, but `kubectl get clientes` (the
//    apiserver's Table, kubectl's default output) shows the CRD's additionalPrinterColumns cells
//    (`.spec.nome`, `.status.titular`) in clear, and the record's sample holds them too;
//  - a followed log spelled `follow=yes` (or `follow=on`, `follow=`: the apiserver's
//    Convert_Slice_string_To_bool reads every value but "false"/"0" as true) is not counted as a
//    stream: the GUARITA_KUBE_MAX_WATCHES bound (issue 22) is passed by any number of followed logs;
//  - binaryData holding UTF-16LE text (valid UTF-8: a NUL after every character) is "masked as text"
//    with a boundary between every two characters, so it reaches the agent whole;
//  - the held-answers budget (4 x GUARITA_KUBE_MAX_RESPONSE = 256 MiB by default) is the injected
//    sidecar's whole memory limit (256Mi), and it counts an answer's bytes once while its parsed and
//    masked copies take several times that: an agent that asks for 14 lists of ~24 MB and never reads
//    them took the sidecar from ~150 MiB to ~1.1 GiB RSS (11 admitted, 3 refused with 503); an OOM
//    kill of guarita-proxy cuts every target of the pod.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { apply } from '../../e2e/support/kube-apply.ts';
import { k } from '../../e2e/support/kubectl.ts';
import { startGuaritaSystem, type GuaritaSystem } from '../../e2e/support/guarita-system.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { createServingIdentity } from '../src/kubernetes/serving-cert.ts';
import { agentKubectl, readerCredential } from './kube-agent.ts';
import { fetchExport, type SidecarFixture, type SidecarProcess } from './support.ts';
import { KUBE_PURPOSE, kubernetesPolicy, startKubernetesSidecar } from './kubernetes-sidecar.ts';

jest.setTimeout(240_000);

const PURPOSE = KUBE_PURPOSE;
const GROUP = 'r11.guarita.example';
// A person's name: no detector recognises it; the policy masks it by key (masking.fields).
const NOME = 'Maria Aparecida Souza';
const TITULAR = 'Joaquim Pereira Lima';
// Values the detectors mask only next to their keyword (cep, nasc...): the JSON key gives it in the
// object; a Table cell has no key, and its column's name is far before it.
const CEP = '01310-100';
const NASCIMENTO = '1985-03-14';
const LEAKS = [NOME, TITULAR, CEP, NASCIMENTO];
const MAX_WATCHES = 2;

let system: GuaritaSystem;
let ns: string;
let fx: SidecarFixture;
let sidecar: SidecarProcess;
let listenPort: number;
let agentKubeconfig: string;
let agentToken: string;
let caPem: string;
let kubelet: Server | undefined;
/** Queries the stand-in kubelet received for containerLogs, as the apiserver built them. */
const kubeletQueries: string[] = [];

function policy(): Record<string, unknown> {
  return kubernetesPolicy(ns, listenPort, [
    { name: 'read', match: { kubernetes: { verbs: ['get', 'list', 'watch'], apiGroups: ['', GROUP], resources: ['configmaps', 'clientes', 'pods', 'pods/log'], namespaces: [ns] } }, action: 'allow' },
  ],
  // The names of the customer and of the account holder are masked by key, whatever they hold.
  { style: 'partial', fields: [{ names: ['nome', 'titular'] }] });
}

const kubectlAgent = agentKubectl(() => agentKubeconfig, () => fx.dir, () => sidecar.log(40));
const agentOk = (args: readonly string[]): Promise<string> => kubectlAgent.ok(args);

/** GET through the sidecar as the agent; status and body once the answer ends, or the status alone when `headOnly`. */
function agentGet(path: string, o: { headOnly?: boolean } = {}): Promise<{ status: number; body: string; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1', port: listenPort, path: `/guarita-purpose/${PURPOSE}${path}`, method: 'GET', ca: caPem, agent: false,
      headers: { authorization: `Bearer ${agentToken}`, accept: 'application/json' },
    }, (res) => {
      const close = (): void => { res.destroy(); req.destroy(); };
      if (o.headOnly === true) {
        res.on('error', () => undefined);
        resolve({ status: res.statusCode ?? 0, body: '', close });
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, close }));
    });
    req.on('error', reject);
    req.end();
  });
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

/** A node whose kubelet is a local HTTPS server: followed logs (follow=true reaching it) stay open; others end at once. */
async function standInKubelet(): Promise<string> {
  const identity = await createServingIdentity('r11-kubelet');
  kubelet = createHttpsServer({ cert: identity.certPem, key: identity.keyPem }, (req, res) => {
    const url = req.url ?? '';
    if (!url.startsWith('/containerLogs/')) {
      res.writeHead(404).end();
      return;
    }
    kubeletQueries.push(url);
    res.writeHead(200, { 'content-type': 'text/plain' });
    // Enough lines that the proxy's masker passes some at once (it holds back a short tail).
    res.write(Array.from({ length: 400 }, (_, i) => `line ${i} of the application log\n`).join(''));
    if (!/[?&]follow=true(&|$)/.test(url)) res.end();
    // A followed log stays open (the container keeps running).
  });
  await new Promise<void>((resolve) => kubelet?.listen(0, '127.0.0.1', () => resolve()));
  const port = (kubelet.address() as AddressInfo).port;
  const node = `r11-node-${ns}`;
  await apply([{ apiVersion: 'v1', kind: 'Node', metadata: { name: node } }]);
  await k(['patch', 'node', node, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: port } } } })]);
  await apply([{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'logger-0', namespace: ns }, spec: { nodeName: node, automountServiceAccountToken: false, containers: [{ name: 'app', image: 'registry.invalid/app:1' }] } }]);
  return node;
}

beforeAll(async () => {
  system = await startGuaritaSystem('sc-k8s-r11');
  ns = system.ns;
  // A CRD whose printer columns show the customer's and the holder's names (status without the
  // status subresource: written with the object).
  await apply([{
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: `clientes.${GROUP}` },
    spec: {
      group: GROUP, scope: 'Namespaced', names: { plural: 'clientes', singular: 'cliente', kind: 'Cliente', listKind: 'ClienteList' },
      versions: [{
        name: 'v1', served: true, storage: true,
        schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { nome: { type: 'string' }, plano: { type: 'string' }, cep: { type: 'string' }, nascimento: { type: 'string' } } }, status: { type: 'object', properties: { titular: { type: 'string' } } } } } },
        additionalPrinterColumns: [
          { name: 'Nome', type: 'string', jsonPath: '.spec.nome' },
          { name: 'Titular', type: 'string', jsonPath: '.status.titular' },
          { name: 'Plano', type: 'string', jsonPath: '.spec.plano' },
          { name: 'CEP', type: 'string', jsonPath: '.spec.cep' },
          { name: 'Nascimento', type: 'string', jsonPath: '.spec.nascimento' },
          // Its own description (kubebuilder's printcolumn:description=): the apiserver's Table then
          // names no JSONPath for it (docs/security-model.md, "Round 12: custom resource columns").
          { name: 'Responsavel', type: 'string', jsonPath: '.status.titular', description: 'Who answers for the contract.' },
        ],
      }],
    },
  }]);
  await k(['wait', '--for=condition=Established', `crd/clientes.${GROUP}`, '--timeout=60s']);
  const readerToken = await readerCredential(ns, 'cluster-reader', [
    { apiGroups: ['', GROUP], resources: ['configmaps', 'clientes', 'pods', 'pods/log'], verbs: ['get', 'list', 'watch'] },
  ]);
  await apply([{ apiVersion: `${GROUP}/v1`, kind: 'Cliente', metadata: { name: 'cliente-0001', namespace: ns }, spec: { nome: NOME, plano: 'gold', cep: CEP, nascimento: NASCIMENTO }, status: { titular: TITULAR } }]);
  // GUARITA_KUBE_MAX_RESPONSE stays at its default (64 MiB), as injected.
  ({ fx, sidecar, listenPort, agentToken, caPem, agentKubeconfig } = await startKubernetesSidecar({
    system, readerToken, policy: (port) => { listenPort = port; return policy(); }, env: { GUARITA_KUBE_MAX_WATCHES: String(MAX_WATCHES) },
  }));
}, 300_000);

afterAll(async () => {
  kubelet?.close();
  await k(['delete', 'node', `r11-node-${ns}`, '--ignore-not-found', '--wait=false']).catch(() => undefined);
  await k(['delete', 'crd', `clientes.${GROUP}`, '--ignore-not-found', '--wait=false']).catch(() => undefined);
  await sidecar?.stop();
  await system?.stop();
});

describe('Table cells are masked without their keys', () => {
  it('control: the field rules mask nome and titular, the detectors cep and nascimento, in the object (-o json)', async () => {
    const json = await agentOk(['get', 'clientes', 'cliente-0001', '-o', 'json']);
    expect(json).toContain('"nome"');
    expect(LEAKS.filter((v) => json.includes(v))).toEqual([]);
  });

  it('kubectl get clientes (the apiserver Table: additionalPrinterColumns) does not show the names the policy masks by key', async () => {
    const table = await agentOk(['get', 'clientes']);
    // Shown on failure: the default output of kubectl get, through the proxy.
    expect({ table, leaks: LEAKS.filter((n) => table.includes(n)) }).toEqual({ table, leaks: [] });
  });

  it('a column with its own description (no JSONPath in the Table) is redacted under field rules, not shown', async () => {
    const table = await agentOk(['get', 'clientes']);
    expect(table).toContain('RESPONSAVEL');
    expect(table).toContain('[redacted by guarita: column not known]');
    expect(table).not.toContain(TITULAR);
  });

  it('the raw Table (as=Table, what kubectl get asks for) carries none of them either', async () => {
    const r = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest({
        host: '127.0.0.1', port: listenPort, path: `/guarita-purpose/${PURPOSE}/apis/${GROUP}/v1/namespaces/${ns}/clientes`, method: 'GET', ca: caPem, agent: false,
        headers: { authorization: `Bearer ${agentToken}`, accept: 'application/json;as=Table;g=meta.k8s.io;v=v1' },
      }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { body += d; });
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end();
    });
    expect(r).toContain('"kind":"Table"');
    expect(LEAKS.filter((n) => r.includes(n))).toEqual([]);
  });

  it('a watch of the Table (kubectl get -w: columns in the first event only) masks the later events\' cells too', async () => {
    // The second name and CEP arrive in a MODIFIED event, whose Table carries no columnDefinitions.
    const later = ['Joaquim Pereira Lima Neto', '04538-133'];
    let body = '';
    const req = httpsRequest({
      host: '127.0.0.1', port: listenPort, path: `/guarita-purpose/${PURPOSE}/apis/${GROUP}/v1/namespaces/${ns}/clientes?watch=true&fieldSelector=metadata.name%3Dcliente-0001`, method: 'GET', ca: caPem, agent: false,
      headers: { authorization: `Bearer ${agentToken}`, accept: 'application/json;as=Table;g=meta.k8s.io;v=v1' },
    }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('error', () => undefined);
    });
    req.on('error', () => undefined);
    req.end();
    try {
      await eventually('the ADDED event of the Table watch', () => Promise.resolve(body.includes('"ADDED"') ? true : undefined), 30_000, 100);
      await k(['-n', ns, 'patch', `clientes.${GROUP}`, 'cliente-0001', '--type=merge', '-p', JSON.stringify({ spec: { nome: later[0], cep: later[1] } })]);
      await eventually('the MODIFIED event of the Table watch', () => Promise.resolve(body.includes('"MODIFIED"') ? true : undefined), 30_000, 100);
    } finally {
      req.destroy();
      await k(['-n', ns, 'patch', `clientes.${GROUP}`, 'cliente-0001', '--type=merge', '-p', JSON.stringify({ spec: { nome: NOME, cep: CEP } })]).catch(() => undefined);
    }
    const events = body.trim().split('\n').map((l) => JSON.parse(l) as { type: string; object: { kind: string; columnDefinitions?: unknown[] | null } });
    // The apiserver's form, as the fix relies on it: columns in the first event, none after.
    expect(events.map((e) => [e.type, e.object.kind, (e.object.columnDefinitions ?? []).length > 0])).toEqual([['ADDED', 'Table', true], ['MODIFIED', 'Table', false]]);
    expect([...LEAKS, ...later].filter((n) => body.includes(n))).toEqual([]);
  });

  it('the evidence does not keep them either (the record\'s sample is the masked answer)', async () => {
    const samples = await eventually('the list records of clientes', async () => {
      const e = await fetchExport(system.op.url, ns);
      const found = e.records.filter((r) => r.type === 'command' && /^kubectl list clientes/.test(r.command ?? '') && typeof r.result?.sample === 'string').map((r) => r.result?.sample ?? '');
      return found.length > 0 ? found : undefined;
    }, 30_000, 250);
    expect(LEAKS.filter((n) => samples.some((sample) => sample.includes(n)))).toEqual([]);
  });
});

describe('UTF-16 text in a ConfigMap', () => {
  // A Windows export without a byte-order mark: every byte < 0x80, so valid UTF-8 (kubectl create
  // configmap --from-file puts it in data; applications writing bytes put it in binaryData).
  const line = 'cliente cpf 590.830.166-33 email maria.souza@example.com\n';
  const bytes = Buffer.from(line, 'utf16le');

  it('binaryData holding UTF-16LE text reaches the agent masked or redacted, not whole', async () => {
    await apply([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'export-utf16', namespace: ns }, binaryData: { 'clientes.csv': bytes.toString('base64') } }]);
    const got = JSON.parse(await agentOk(['get', 'configmap', 'export-utf16', '-o', 'json'])) as { binaryData?: Record<string, string> };
    const read = Buffer.from(got.binaryData?.['clientes.csv'] ?? '', 'base64').toString('utf16le');
    expect({ cpf: read.includes('590.830.166-33'), email: read.includes('maria.souza@example.com') }).toEqual({ cpf: false, email: false });
  });

  it('a data string holding the same UTF-16LE text (valid UTF-8: kubectl create configmap --from-file) reaches the agent masked', async () => {
    await apply([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'export-utf16-data', namespace: ns }, data: { 'clientes.csv': bytes.toString('utf8') } }]);
    const got = JSON.parse(await agentOk(['get', 'configmap', 'export-utf16-data', '-o', 'json'])) as { data?: Record<string, string> };
    const read = Buffer.from(got.data?.['clientes.csv'] ?? '', 'utf8').toString('utf16le');
    expect(read).toContain('cliente cpf');
    expect({ cpf: read.includes('590.830.166-33'), email: read.includes('maria.souza@example.com') }).toEqual({ cpf: false, email: false });
  });
});

describe('followed logs in a spelling the apiserver reads as follow', () => {
  it('follow=yes is a followed log for the apiserver (control), and counts against GUARITA_KUBE_MAX_WATCHES like follow=true', async () => {
    await standInKubelet();
    const open: { close: () => void }[] = [];
    try {
      // Fill the bound with kubectl's own spelling: the next one is refused (429).
      for (let i = 0; i < MAX_WATCHES; i++) {
        const r = await agentGet(`/api/v1/namespaces/${ns}/pods/logger-0/log?follow=true`, { headOnly: true });
        open.push(r);
        expect(r.status).toBe(200);
      }
      const over = await agentGet(`/api/v1/namespaces/${ns}/pods/logger-0/log?follow=true`);
      expect(over.status).toBe(429);
      // The same followed log spelled follow=yes: the apiserver asks the kubelet to follow it...
      const before = kubeletQueries.length;
      const spelled: number[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await agentGet(`/api/v1/namespaces/${ns}/pods/logger-0/log?follow=yes`, { headOnly: true });
        open.push(r);
        spelled.push(r.status);
      }
      await new Promise((r) => setTimeout(r, 500));
      const followedUpstream = kubeletQueries.slice(before).filter((q) => /[?&]follow=true(&|$)/.test(q)).length;
      // ...and the proxy, which read it as a plain log, admitted each one beyond the bound.
      // Fixed either way (counted: 429; or refused as unreadable: 400), none of them reaches the kubelet beyond the bound.
      expect({ followedUpstream, admittedBeyondBound: spelled.filter((s) => s === 200).length }).toEqual({ followedUpstream: 0, admittedBeyondBound: 0 });
    } finally {
      for (const r of open) r.close();
    }
  });
});

describe('the held-answers budget against the injected memory limit', () => {
  it('answers an agent never reads do not take the sidecar past its injected memory limit (256Mi)', async () => {
    // 24 ConfigMaps of ~1 MB each (plain text, no identifiers): one list is ~24 MB, well under
    // GUARITA_KUBE_MAX_RESPONSE (64 MiB).
    const big = 'a'.repeat(1_000_000);
    for (let i = 0; i < 24; i++) await apply([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `bulk-${String(i).padStart(2, '0')}`, namespace: ns }, data: { blob: big } }]);
    const pid = await sidecar.pid();
    const before = rssKiB(pid);
    const sockets: TLSSocket[] = [];
    const statuses: string[] = [];
    let peak = before;
    try {
      for (let i = 0; i < 14; i++) {
        const s = connect({ host: '127.0.0.1', port: listenPort, rejectUnauthorized: false });
        s.on('error', () => undefined);
        sockets.push(s);
        await new Promise<void>((resolve) => s.once('secureConnect', () => resolve()));
        // Never read: the answer stays in the sidecar (up to the 60 s read deadline).
        s.write(`GET /guarita-purpose/${PURPOSE}/api/v1/namespaces/${ns}/configmaps HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${agentToken}\r\naccept: application/json\r\n\r\n`);
        peak = Math.max(peak, rssKiB(pid));
      }
      const deadline = Date.now() + 40_000;
      while (Date.now() < deadline) {
        peak = Math.max(peak, rssKiB(pid));
        await new Promise((r) => setTimeout(r, 250));
      }
      // The status lines of the answers (read only now: a 503 beyond the budget would show here).
      for (const s of sockets) {
        const first = s.read(64) as Buffer | null;
        statuses.push(first === null ? 'unread' : first.toString('latin1').split('\r\n')[0] ?? '');
      }
    } finally {
      for (const s of sockets) s.destroy();
    }
    // The memory comes back with the connections: an ordinary answer is served again.
    expect(await agentOk(['get', 'configmap', 'bulk-00', '-o', 'name'])).toContain('configmap/bulk-00');
    // Shown on failure: the sidecar's peak RSS (MiB) with the answers held, and how many were refused (503).
    const peakMiB = Math.round(peak / 1024);
    expect({ peakUnderLimit: peakMiB < 256 ? true : peakMiB, beforeMiB: Math.round(before / 1024), refused: statuses.filter((s) => s.includes(' 503 ')).length })
      .toEqual({ peakUnderLimit: true, beforeMiB: Math.round(before / 1024), refused: statuses.filter((s) => s.includes(' 503 ')).length });
  });
});
