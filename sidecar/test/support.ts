// Integration-test support for the sidecar: the pod's identity as the sidecar sees it (a
// ServiceAccount with the RBAC docs/sidecar.md asks for, projected-style tokens `kube` and
// `operator` in a token dir, a kubeconfig naming only the cluster), the REAL sidecar process
// (node sidecar/src/main.ts under the harness watchdog), a real HTTP upstream, and clients.
import { SIDECAR_START_ENV, sidecarV8Flags } from '../../core/sidecar-start.ts';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { freePorts } from '../../e2e/harness/ports.ts';
import { loadHarnessState, requireKube } from '../../e2e/harness/state.ts';
import { logTail, supervise, waitUntilReady, type Supervised } from '../../e2e/harness/supervisor.ts';
import { importPublicKey, isLeafRecord, verifyRecords, type ChainRecord, type SessionEvent } from '../../core/recording/index.ts';
import { checkChainCheckpoint, checkpointVerifier } from '../../core/recording/chain-checkpoint.ts';
import { ChainTree } from '../../core/recording/chain-tree.ts';
import { governedBy, injectedProxyToken } from '../../e2e/support/bound-pods.ts';
import { apply, createServiceAccount, serviceAccountToken, userToken } from '../../e2e/support/kube-apply.ts';
import { call, parseJsonl } from '../../e2e/support/operator-api.ts';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/log.ts';
import { startSidecar, type RunningSidecar } from '../src/sidecar.ts';

export const REPO = new URL('../../', import.meta.url).pathname;

/** The Role a governed pod's service account needs for its sidecar (the chart grants the same). */
export const SIDECAR_RULES = [
  { apiGroups: ['guarita.io'], resources: ['accesspolicies'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'create'] },
  { apiGroups: ['guarita.io'], resources: ['approvalrequests/status'], verbs: ['get', 'patch'] },
];

export interface SidecarFixture {
  namespace: string;
  serviceAccount: string;
  dir: string;
  /** The Pod object the operator token is bound to (an injected proxy's shape: the operator accepts evidence only from such pods). */
  podName: string;
  podUid: string;
  tokenDir: string;
  credentialsDir: string;
  spoolDir: string;
  kubeconfig: string;
}

/**
 * ServiceAccount, RBAC (Role + TokenReview), tokens and a cluster-only kubeconfig. The namespace is
 * labelled opted in and a Pod `podName` shaped as the webhook injects it is created, so the
 * `operator` token is bound to it as the kubelet's projection would be.
 */
export async function sidecarFixture(namespace: string, serviceAccount = 'support-agent', podName = 'support-agent-0'): Promise<SidecarFixture> {
  const dir = mkdtempSync(join(tmpdir(), `guarita-sidecar-${namespace}-`));
  await createServiceAccount(namespace, serviceAccount);
  const subjects = [{ kind: 'ServiceAccount', name: serviceAccount, namespace }];
  const clusterRole = `guarita-sidecar-tokenreview-${namespace}`;
  await apply([
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'guarita-sidecar', namespace }, rules: SIDECAR_RULES },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'guarita-sidecar', namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'guarita-sidecar' }, subjects },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: clusterRole }, rules: [{ apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: clusterRole }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole }, subjects },
  ]);
  const tokenDir = join(dir, 'tokens');
  mkdirSync(tokenDir, { mode: 0o700 });
  writeFileSync(join(tokenDir, 'kube'), await serviceAccountToken(namespace, serviceAccount, undefined, 7200), { mode: 0o600 });
  const { token: operatorToken, uid: podUid } = await injectedProxyToken(namespace, serviceAccount, podName, 7200);
  writeFileSync(join(tokenDir, 'operator'), operatorToken, { mode: 0o600 });
  const kube = requireKube();
  const kubeconfig = join(dir, 'cluster.kubeconfig');
  writeFileSync(kubeconfig, stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'pod',
    clusters: [{ name: 'harness', cluster: { server: kube.apiserverUrl, 'certificate-authority': kube.caFile } }],
    users: [{ name: 'pod', user: {} }],
    contexts: [{ name: 'pod', context: { cluster: 'harness', user: 'pod', namespace } }],
  }), { mode: 0o600 });
  const credentialsDir = join(dir, 'targets');
  const spoolDir = join(dir, 'spool');
  mkdirSync(credentialsDir);
  mkdirSync(spoolDir);
  return { namespace, serviceAccount, dir, podName, podUid, tokenDir, credentialsDir, spoolDir, kubeconfig };
}

/** What the injector mounts from a target's credentials Secret. */
export function mountCredentials(fx: SidecarFixture, target: string, files: Record<string, string>): void {
  const dir = join(fx.credentialsDir, target);
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content, { mode: 0o600 });
}

export interface TargetSpec { policy: string; target: string; protocol: 'http' | 'postgres' | 'kubernetes'; listenPort: number }

export interface SidecarProcess {
  proc: Supervised;
  adminUrl: string;
  /** performance.now() just before the process was spawned: a start is timed from here, as the bare Node baseline is. */
  spawnedAt: number;
  port(target: string): number;
  url(target: string): string;
  readyz(): Promise<{ status: number; body: Record<string, unknown> }>;
  metrics(): Promise<string>;
  pid(): Promise<number>;
  kill9(): Promise<void>;
  stop(): Promise<void>;
  log(lines?: number): string;
}

const plain = new Agent();

export interface SidecarStart {
  targets: TargetSpec[];
  operatorUrl: string;
  podName?: string;
  env?: Record<string, string>;
  /** Wait for /readyz (default true). */
  waitReady?: boolean;
  /** The main module to run: the TypeScript source (default), or the production build's (e2e/harness/build.ts). */
  entry?: string;
  /** How often /readyz is probed while waiting (default 100 ms); a benchmark timing the start probes finer. */
  readyIntervalMs?: number;
}

/**
 * The operator URL of a sidecar whose records no operator takes (the test reads them from the
 * spool): nothing listens on port 9.
 */
export const NO_OPERATOR = 'https://127.0.0.1:9';

export function sidecarEnv(fx: SidecarFixture, o: SidecarStart, adminPort: number): Record<string, string> {
  const kube = requireKube();
  return {
    // With no operator, the shutdown's last delivery can only fail: it would retry for the whole
    // 5 s the drain allows it. A test of the drain itself sets GUARITA_DRAIN_TIMEOUT in o.env.
    ...(o.operatorUrl === NO_OPERATOR ? { GUARITA_DRAIN_TIMEOUT: '2s' } : {}),
    PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp',
    GUARITA_NAMESPACE: fx.namespace,
    GUARITA_POD_NAME: o.podName ?? fx.podName,
    GUARITA_POD_UID: fx.podUid,
    GUARITA_TARGETS: JSON.stringify(o.targets),
    GUARITA_ADMIN_PORT: String(adminPort),
    GUARITA_OPERATOR_URL: o.operatorUrl,
    GUARITA_OPERATOR_CA_FILE: kube.caFile,
    GUARITA_SPOOL_DIR: fx.spoolDir,
    GUARITA_CREDENTIALS_DIR: fx.credentialsDir,
    GUARITA_TOKEN_DIR: fx.tokenDir,
    GUARITA_KUBECONFIG: fx.kubeconfig,
    GUARITA_APPROVAL_WAIT: '4s',
    GUARITA_POLICY_STALENESS: '60s',
    GUARITA_LOG_LEVEL: 'debug',
    ...SIDECAR_START_ENV,
    ...o.env,
  };
}

export async function startSidecarProcess(fx: SidecarFixture, o: SidecarStart): Promise<SidecarProcess> {
  // The operator takes records only under the policies the pod's guarita.io/policies names.
  await governedBy(fx.namespace, o.podName ?? fx.podName, o.targets.map((t) => t.policy));
  const [adminPort = 0] = await freePorts(1);
  const logs = join(loadHarnessState().runDir, 'logs');
  mkdirSync(logs, { recursive: true });
  const name = `sidecar-${fx.namespace}`;
  const spawnedAt = performance.now();
  const proc = supervise({
    // Started as the injector starts it (its targets' V8 flags on the command line): once, not re-executed.
    name, command: process.execPath, args: ['--disable-warning=ExperimentalWarning', ...sidecarV8Flags(o.targets.map((t) => t.protocol)), o.entry ?? join(REPO, 'sidecar/src/main.ts')],
    logFile: join(logs, `${name}-${adminPort}.log`), cwd: REPO, env: sidecarEnv(fx, o, adminPort), graceSeconds: 20,
  });
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const ports = new Map(o.targets.map((t) => [t.target, t.listenPort]));
  const handle: SidecarProcess = {
    proc, adminUrl, spawnedAt,
    port: (t) => ports.get(t) ?? 0,
    url: (t) => `http://127.0.0.1:${ports.get(t) ?? 0}`,
    readyz: async () => {
      const res = await request(`${adminUrl}/readyz`, { dispatcher: plain, headersTimeout: 3000 });
      return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
    },
    metrics: async () => (await request(`${adminUrl}/metrics`, { dispatcher: plain })).body.text(),
    pid: async () => Number((await handle.readyz()).body.pid),
    kill9: async () => {
      process.kill(await handle.pid(), 'SIGKILL');
      const deadline = Date.now() + 10_000;
      while (proc.exit === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    },
    stop: () => proc.stop(),
    log: (lines = 120) => logTail(proc.logFile, lines),
  };
  if (o.waitReady !== false) await waitUntilReady(proc, 'ready (/readyz)', async () => (await handle.readyz()).status === 200, { timeoutMs: 60_000, intervalMs: o.readyIntervalMs ?? 100 });
  return handle;
}

// ---- a real HTTP upstream -------------------------------------------------------------------------

export interface SeenRequest { method: string; url: string; headers: IncomingMessage['headers']; body: string }

export interface Upstream {
  url: string;
  seen: SeenRequest[];
  close(): Promise<void>;
}

/** Synthetic customers with valid CPF check digits (not real people). */
export const CUSTOMERS = [
  { id: 1, nome: 'Larissa Oliveira', documento: { tipo: 'cpf', cpf: '590.830.166-33' }, contato: { email: 'larissa.oliveira1@exemplo.com.br', notas: ['ligar depois', 'cpf 390.996.030-88 do titular'] } },
  { id: 2, nome: 'Carla Santos', documento: { tipo: 'cpf', cpf: '390.996.030-88' }, contato: { email: 'carla.santos2@exemplo.com.br', notas: [] } },
  { id: 3, nome: 'Tiago Oliveira', documento: { tipo: 'cpf', cpf: '482.199.351-11' }, contato: { email: 'tiago.oliveira3@exemplo.com.br', notas: ['e-mail alternativo tiago.o@exemplo.com.br'] } },
];

export const RAW_PERSONAL = ['590.830.166-33', '390.996.030-88', '482.199.351-11', 'larissa.oliveira1@exemplo.com.br', 'carla.santos2@exemplo.com.br', 'tiago.oliveira3@exemplo.com.br', 'tiago.o@exemplo.com.br'];

async function writeInChunks(res: ServerResponse, text: string, size: number): Promise<void> {
  const buf = Buffer.from(text, 'utf8');
  for (let i = 0; i < buf.length; i += size) {
    if (!res.write(buf.subarray(i, i + size))) await new Promise((r) => res.once('drain', r));
    await new Promise((r) => setImmediate(r));
  }
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => Promise<void> | void;

async function customerList(_req: IncomingMessage, res: ServerResponse): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  await writeInChunks(res, JSON.stringify({ items: CUSTOMERS, page: { next: null } }), 7);
  res.end();
}

async function slowStream(_req: IncomingMessage, res: ServerResponse): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/plain' });
  for (let i = 0; i < 200 && !res.destroyed; i++) {
    res.write(`line ${i} cliente 590.830.166-33\n`);
    await new Promise((r) => setTimeout(r, 50));
  }
  res.end();
}

const ROUTES: Record<string, Handler> = {
  '/customers': customerList,
  '/customers/export': customerList,
  '/customers/bulk-export': customerList,
  '/orders/gzip': (_req, res) => {
    const zipped = gzipSync(JSON.stringify({ order: 7, cliente: { cpf: '590.830.166-33', email: 'larissa.oliveira1@exemplo.com.br' } }));
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': zipped.length });
    res.end(zipped);
  },
  '/orders/report.txt': (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; charset=iso-8859-1' });
    res.end(Buffer.from('Relatório: cliente 590.830.166-33, e-mail carla.santos2@exemplo.com.br\n', 'latin1'));
  },
  '/orders/label.bin': (_req, res) => {
    const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0x02, 0x03]);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
    res.end(bytes);
  },
  '/orders/stream': slowStream,
  '/orders': (req, res, body) => {
    res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ created: req.method === 'POST', received: body.length }));
  },
};

function customer(res: ServerResponse, id: number): void {
  const c = CUSTOMERS.find((x) => x.id === id);
  const text = JSON.stringify(c ?? { error: 'not found' });
  res.writeHead(c === undefined ? 404 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), etag: '"v1"' });
  res.end(text);
}

async function route(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  const handler = ROUTES[path];
  if (handler !== undefined) return handler(req, res, body);
  const one = /^\/customers\/(\d+)$/.exec(path);
  if (one !== null) return customer(res, Number(one[1]));
  res.writeHead(204);
  res.end();
}

export async function startUpstream(): Promise<Upstream> {
  const seen: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      route(req, res, body).catch(() => res.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`, seen,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

// ---- the agent's side ------------------------------------------------------------------------------

export interface AgentResponse { status: number; headers: Record<string, string | string[] | undefined>; text: string; json(): Record<string, unknown> }

export async function agentRequest(url: string, opts: { token?: string; purpose?: string; method?: string; body?: string; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<AgentResponse> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.purpose !== undefined) headers['x-guarita-purpose'] = opts.purpose;
  const res = await request(url, {
    method: (opts.method ?? 'GET') as 'GET', headers, dispatcher: plain, headersTimeout: 60_000, bodyTimeout: 60_000,
    ...(opts.body === undefined ? {} : { body: opts.body }), ...(opts.signal === undefined ? {} : { signal: opts.signal }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

/** An HTTP AccessPolicy like examples/lgpd-orders/accesspolicy-http.yaml, pointed at the test's upstream and IdP. */
export function httpPolicy(namespace: string, name: string, o: { endpoint: string; issuer: string; listenPort: number; over?: Record<string, unknown> }): Record<string, unknown> {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name, namespace },
    spec: {
      podSelector: { matchLabels: { app: 'support-agent' } },
      target: { name, protocol: 'http', endpoint: o.endpoint, listenPort: o.listenPort, credentialsSecretRef: { name: `${name}-credentials`, tokenKey: 'token' } },
      identity: { oidc: { issuer: o.issuer, audiences: ['guarita'] }, serviceAccounts: { audiences: ['guarita'] } },
      subjects: [{ kind: 'Group', name: 'support' }, { kind: 'ServiceAccount', name: 'batch-runner', namespace }],
      purposes: [{ name: 'customer-support' }, { name: 'fraud-investigation' }],
      rules: [
        { name: 'deny-deletes', match: { http: { methods: ['DELETE'] } }, action: 'deny' },
        { name: 'export-needs-dpo', match: { http: { methods: ['GET', 'POST'], paths: ['/customers/export', '/customers/export/**'] } }, action: 'requireApproval', approval: { approverGroups: ['dpo'], ttl: '15m' } },
        { name: 'bulk-export-short-ttl', match: { http: { methods: ['GET'], paths: ['/customers/bulk-export'] } }, action: 'requireApproval', approval: { approverGroups: ['dpo'], ttl: '3s' } },
        { name: 'read-customers', match: { http: { methods: ['GET'], paths: ['/customers', '/customers/**', '/orders/**'] } }, action: 'allow' },
        { name: 'create-orders', match: { http: { methods: ['POST'], paths: ['/orders'] } }, action: 'allow' },
      ],
      masking: { style: 'partial', fields: [{ names: ['cpf', 'documento'], detector: 'cpf' }, { names: ['email'], detector: 'email' }] },
      recording: { maxBytes: 4096 },
      ...o.over,
    },
  };
}

// ---- a stable address in front of a restartable process (what a Service does in a cluster) ---------

export interface TcpForwarder { port: number; target: number | undefined; close(): Promise<void> }

export async function tcpForwarder(): Promise<TcpForwarder> {
  const sockets = new Set<Socket>();
  const state: { target: number | undefined } = { target: undefined };
  const server = createTcpServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    if (state.target === undefined) {
      client.destroy();
      return;
    }
    const upstream = connect(state.target, '127.0.0.1');
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    port,
    get target() { return state.target; },
    set target(v: number | undefined) {
      state.target = v;
      if (v === undefined) for (const s of sockets) s.destroy();
    },
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

// ---- the operator's export, as an auditor reads it ------------------------------------------------

export type ExportKeyLine = { type: 'key'; chainId: string; keyId: string; publicJwk: Record<string, unknown> };
type RegistrationLine = { type: 'registration'; statement: { chainId: string; keyId: string; publicJwk: Record<string, unknown> } };
type CheckpointLine = { type: 'checkpoint'; chainId: string; size: number; note: string };
export interface Exported { keys: ExportKeyLine[]; records: ChainRecord<SessionEvent>[]; checkpoints: CheckpointLine[] }

/** GET /v1/namespaces/{ns}/export as audrey (a session reader): the chain keys and the records. */
export async function fetchExport(operatorUrl: string, namespace: string): Promise<Exported> {
  const res = await call(operatorUrl, 'GET', `/v1/namespaces/${namespace}/export`, userToken('audrey'));
  if (res.status !== 200) throw new Error(`export: ${res.status} ${res.text}`);
  // Export format 1 (key lines) or 2 (registration statements, checkpoints, proofs): the chain keys, the records
  // (the lines with a seq and a hash) and the sidecar checkpoints.
  const lines = parseJsonl<Record<string, unknown>>(res.text);
  const registrations = lines.filter((l) => l.type === 'registration') as unknown as RegistrationLine[];
  return {
    keys: [
      ...lines.filter((l) => l.type === 'key') as unknown as ExportKeyLine[],
      ...registrations.map((r): ExportKeyLine => ({ type: 'key', chainId: r.statement.chainId, keyId: r.statement.keyId, publicJwk: r.statement.publicJwk })),
    ],
    records: lines.filter((l) => typeof l.seq === 'number' && typeof l.hash === 'string' && typeof l.chainId === 'string') as unknown as ChainRecord<SessionEvent>[],
    checkpoints: lines.filter((l) => l.type === 'checkpoint') as unknown as CheckpointLine[],
  };
}

/** One chain's records of an export, and their verification with the key the export lists for that chain. */
/**
 * One chain's records of an export, and their verification with the key the export lists for that
 * chain: linked from seq 1, format 1 records by their signatures, format 2 records by the newest
 * checkpoint of the chain in the export (signed by that key over the root of the records up to it,
 * which must cover the last record).
 */
export function verifyExportedChain(exported: Exported, chainId: string): { verdict: ReturnType<typeof verifyRecords>; chain: ChainRecord<SessionEvent>[] } {
  const key = exported.keys.find((k) => k.chainId === chainId);
  if (key === undefined) throw new Error(`the export lists no key for chain ${chainId}`);
  const pub = importPublicKey(key.publicJwk);
  const chain = exported.records.filter((r) => r.chainId === chainId);
  const verdict = verifyRecords(chain, (kid) => (kid === key.keyId ? pub : undefined));
  const last = chain[chain.length - 1];
  if (!verdict.ok || last === undefined || !isLeafRecord(last)) return { verdict, chain };
  const bad = newestCheckpointProblem(exported, chain, key);
  return { verdict: bad === undefined ? verdict : { ok: false, index: chain.length - 1, seq: last.seq, problem: 'bad-signature', detail: bad }, chain };
}

/** The chain's newest checkpoint in the export must cover its last record and sign the root of its records. */
function newestCheckpointProblem(exported: Exported, chain: ChainRecord<SessionEvent>[], key: ExportKeyLine): string | undefined {
  const last = chain[chain.length - 1]!;
  const newest = exported.checkpoints.filter((c) => c.chainId === last.chainId).sort((a, b) => b.size - a.size)[0];
  if (newest === undefined || newest.size < last.seq) return `checkpoint-missing: no checkpoint of the chain covers its last record (seq ${last.seq})`;
  const tree = ChainTree.empty();
  for (const r of chain.slice(0, newest.size)) tree.append(r.hash);
  const bad = checkChainCheckpoint(newest.note, { origin: last.chainId, size: newest.size, root: tree.root(), verifier: checkpointVerifier(key.publicJwk, key.keyId) });
  return bad === undefined ? undefined : `${bad.problem}: ${bad.detail}`;
}

/**
 * An HTTP target's sidecar as the webhook would run it: the upstream credentials Secret, the
 * policy (first: the fixture's pod is one the policy selects), the pod's fixture with the Secret
 * mounted, and the sidecar process on a free port, shipping to `operatorUrl`.
 */
export async function startHttpSidecar(namespace: string, policy: string, o: { upstreamUrl: string; issuer: string; operatorUrl: string; over?: (listenPort: number) => Record<string, unknown> }): Promise<{ sidecar: SidecarProcess; port: number }> {
  await apply([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${policy}-credentials`, namespace }, stringData: { token: 'upstream-service-token' } }]);
  const [port = 0] = await freePorts(1);
  await apply([httpPolicy(namespace, policy, { endpoint: o.upstreamUrl, issuer: o.issuer, listenPort: port, ...(o.over === undefined ? {} : { over: o.over(port) }) })]);
  const fx = await sidecarFixture(namespace);
  mountCredentials(fx, policy, { token: 'upstream-service-token' });
  const sidecar = await startSidecarProcess(fx, { targets: [{ policy, target: policy, protocol: 'http', listenPort: port }], operatorUrl: o.operatorUrl });
  return { sidecar, port };
}

/**
 * The same set-up with the sidecar in this process (startSidecar): for tests that drive the listener through a raw
 * or hand-made upstream and need no operator (records are shipped nowhere). Creates the namespace; `rules` are the
 * policy's; `token` is the target credential mounted (default upstream-service-token).
 */
export async function startInProcessHttpSidecar(namespace: string, policy: string, o: { upstreamUrl: string; issuer: string; rules: unknown[]; token?: string }): Promise<{ sidecar: RunningSidecar; listenPort: number }> {
  const token = o.token ?? 'upstream-service-token';
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }]);
  const [listenPort = 0, adminPort = 0] = await freePorts(2);
  const fx = await sidecarFixture(namespace);
  mountCredentials(fx, policy, { token });
  await apply([
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${policy}-credentials`, namespace }, stringData: { token } },
    httpPolicy(namespace, policy, { endpoint: o.upstreamUrl, issuer: o.issuer, listenPort, over: { rules: o.rules } }),
  ]);
  const config = loadConfig(sidecarEnv(fx, { targets: [{ policy, target: policy, protocol: 'http', listenPort }], operatorUrl: NO_OPERATOR }, adminPort));
  const sidecar = await startSidecar(config, silentLogger());
  await sidecar.ready;
  return { sidecar, listenPort };
}

/**
 * Sends `request` on a fresh connection to 127.0.0.1:`port` (a string as UTF-8, bytes as they
 * are): every byte received until the other side closes it.
 */
export function rawExchange(port: number, request: string | Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.write(request);
  });
}

/** A raw HTTP/1.1 answer's body as a client reads it: the chunks joined when `head` says chunked, else as sent. */
export function dechunk(body: Buffer, head: string): Buffer {
  if (!/\r\ntransfer-encoding: chunked/i.test(head)) return body;
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = parseInt(body.subarray(at, eol).toString('latin1'), 16);
    if (!(size > 0)) break;
    out.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** One request an upstream received, as it arrived. */
export interface ReceivedRequest { method: string; url: string; headers: IncomingMessage['headers']; body: Buffer }

export interface RecordingUpstream {
  port: number;
  /** Every request received, in order. */
  received: ReceivedRequest[];
  close(): Promise<void>;
}

/**
 * An HTTP upstream on loopback that keeps every request's bytes and answers `{"ok":true}`: what reached it is what the
 * sidecar forwarded. `respond`, when given, sees each request once kept and may answer it itself (it returns true).
 */
export async function startRecordingUpstream(respond?: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<RecordingUpstream> {
  const received: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(parts) });
      if (respond?.(req, res) === true) return;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    received,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
