// Issue 18, items 6, 11, 14, 15 and 16, through the real path: raw HTTP/1.1 bytes from a socket to
// the real sidecar process (live AccessPolicy, IdP tokens, approvals decided with kubectl as the
// DPO users through the real admission webhook and operator), in front of an upstream that records
// exactly what it receives: the raw request target, every raw header line, the body bytes, and
// every byte on each of its connections (so a smuggled second request would show).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { getToken, kubeconfigPath, kubectl, requireIdp, requireKube } from '../../e2e/harness/state.ts';
import { createHash } from 'node:crypto';
import { apply, getObject, grantSessionReaders, serviceAccountToken } from '../../e2e/support/kube-apply.ts';
import { k, suffix } from '../../e2e/support/kubectl.ts';
import { type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { runCli } from '../../cli/test/run-cli.ts';
import { startGuaritaSystem, type GuaritaSystem } from '../../e2e/support/guarita-system.ts';
import { TARGET_CORPUS } from '../../core/policy/corpus/http-targets.corpus.ts';
import { FORGEABLE_HEADERS, REFUSED_HEADS } from '../src/http/request-headers.corpus.ts';
import { fetchExport, startHttpSidecar, type SidecarProcess } from './support.ts';

jest.setTimeout(120_000);

const id = suffix();
const POLICY = 'customers-api';
const PURPOSE = 'customer-support';
const CPF = '590.830.166-33';
const CPF_DIGITS = '59083016633';
const EMAIL = 'larissa.oliveira1@exemplo.com.br';

// ---- an upstream that records what it receives --------------------------------------------------

interface Received { method: string; target: string; rawHeaders: string[]; body: Buffer }

class RecordingUpstream {
  readonly received: Received[] = [];
  /** Every byte each connection carried, in order. */
  readonly wire: Buffer[] = [];
  readonly #server: Server;
  url = '';

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({ method: req.method ?? '', target: req.url ?? '', rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) });
        this.#answer(req, res);
      });
    });
    this.#server.on('connection', (socket: Socket) => {
      const i = this.wire.push(Buffer.alloc(0)) - 1;
      socket.on('data', (c: Buffer) => { this.wire[i] = Buffer.concat([this.wire[i] ?? Buffer.alloc(0), c]); });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    const addr = this.#server.address();
    this.url = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
  }

  close(): Promise<void> {
    return new Promise((r) => { this.#server.closeAllConnections(); this.#server.close(() => r()); });
  }

  headerNames(r: Received): string[] {
    return r.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
  }

  allBytes(): string {
    return Buffer.concat(this.wire).toString('latin1');
  }

  #answer(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/customers/1/download') {
      // Identifiers in every header form an upstream uses (issue 18, item 16).
      const encoded = [...Buffer.from(`relatório ${CPF}.csv`)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
      res.setHeader('x-customer-cpf', CPF);
      res.setHeader('x-customer-email', EMAIL);
      res.setHeader('content-disposition', `attachment; filename="cliente-${CPF}.csv"; filename*=UTF-8''${encoded}`);
      res.setHeader('location', `/customers?cpf=${CPF_DIGITS}`);
      res.setHeader('link', `</customers/by-email/${encodeURIComponent(EMAIL)}>; rel="canonical"`);
      res.setHeader('set-cookie', [`last_customer=${CPF_DIGITS}; Path=/`, 'plain=1; Path=/']);
      res.setHeader('x-filename-2047', `=?UTF-8?B?${Buffer.from(CPF).toString('base64')}?=`);
      const type = req.headers['x-test-type'];
      const status = req.headers['x-test-status'] === undefined ? 200 : Number(req.headers['x-test-status']);
      res.writeHead(status, { 'content-type': typeof type === 'string' ? type : 'application/json' });
      res.end(status === 204 || req.method === 'HEAD' ? undefined : '{"ok":true}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  }
}

// ---- a client that writes raw bytes ---------------------------------------------------------------

interface RawResponse { status: number; headers: Record<string, string[]>; body: string; json(): Record<string, unknown> }

/** Writes `bytes` on a fresh connection and reads until the sidecar closes it. */
function rawExchange(port: number, bytes: Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    let failure: Error | undefined;
    // A server that answers before reading a whole body may reset the connection: the answer counts.
    socket.on('error', (err) => { failure = err; });
    socket.on('close', () => {
      if (chunks.length === 0 && failure !== undefined) {
        reject(failure);
        return;
      }
      // Interim 100 Continue answers precede the final one.
      const text = Buffer.concat(chunks).toString('utf8').replace(/^(?:HTTP\/1\.1 100 [^\r]*\r\n(?:[^\r]+\r\n)*\r\n)+/, '');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string[]> = {};
      for (const l of lines) {
        const at = l.indexOf(':');
        (headers[l.slice(0, at).toLowerCase()] ??= []).push(l.slice(at + 1).trim());
      }
      const body = rest.join('\r\n\r\n');
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body, json: () => JSON.parse(body) as Record<string, unknown> });
    });
    // Not end(): a half-closed client is not answered. Every request asks for Connection: close.
    socket.write(bytes);
  });
}

let system: GuaritaSystem;
let op: OperatorProcess;
let ns: string;
let upstream: RecordingUpstream;
let sidecar: SidecarProcess;
let port: number;
let token: string;

function head(method: string, target: string, headers: readonly [string, string][] = [], opts: { close?: boolean } = {}): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${token}`, `X-Guarita-Purpose: ${PURPOSE}`];
  for (const [n, v] of headers) lines.push(`${n}: ${v}`);
  if (opts.close !== false) lines.push('Connection: close');
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function send(method: string, target: string, headers: readonly [string, string][] = [], body = ''): Promise<RawResponse> {
  return rawExchange(port, Buffer.from(head(method, target, headers) + body, 'utf8'));
}

beforeAll(async () => {
  upstream = new RecordingUpstream();
  await upstream.listen();
  system = await startGuaritaSystem('sc-bypass');
  ({ ns, op } = system);
  await apply([
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'reviewers', namespace: ns }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'patch', 'delete'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'reviewers', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reviewers' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'dpo' }] },
  ]);
  await grantSessionReaders(ns, { kind: 'Group', name: 'auditors' });
  ({ sidecar, port } = await startHttpSidecar(ns, POLICY, { upstreamUrl: upstream.url, issuer: requireIdp().issuer, operatorUrl: op.url }));
  token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
}, 180_000);

afterAll(async () => {
  await sidecar?.stop();
  await Promise.all([system?.stop(), upstream?.close()]);
});

describe('item 15: the target the policy judged is the target the upstream receives', () => {
  it('forwards the issue\'s control request unchanged', async () => {
    const res = await send('GET', '/customers/1');
    expect(res.status).toBe(200);
    expect(upstream.received.at(-1)?.target).toBe('/customers/1');
  });

  it.each(TARGET_CORPUS.map((c) => [c.class, JSON.stringify(c.raw), c] as const))('%s %s', async (_class, _raw, c) => {
    const before = upstream.received.length;
    const res = await send('GET', c.raw);
    if ('refused' in c) {
      // Refused by the sidecar (403 Unparseable, recorded) or by Node's HTTP parser (400): never forwarded.
      expect([400, 403]).toContain(res.status);
      expect(upstream.received.length).toBe(before);
      if (res.status === 403) expect(res.json()).toMatchObject({ code: 'Unparseable', message: expect.stringMatching(c.refused) });
      return;
    }
    expect(res.status).toBe(200);
    expect(upstream.received.length).toBe(before + 1);
    expect(upstream.received.at(-1)?.target).toBe(c.forwarded);
  });

  it('never lets a fragment reach the upstream (the issue\'s example)', () => {
    expect(upstream.allBytes()).not.toContain('#');
    expect(upstream.allBytes()).not.toMatch(/GET \/customers\/export/);
  });
});

describe('items 6 and 16: what the upstream could read differently is refused before it is judged', () => {
  it.each(REFUSED_HEADS.map((c) => [c.what, c] as const))('%s', async (_what, c) => {
    const before = upstream.received.length;
    const chunked = c.headers.some(([n, v]) => n.toLowerCase() === 'transfer-encoding' && v.toLowerCase().includes('chunked'));
    const body = chunked ? '5\r\nhello\r\n0\r\n\r\n' : c.headers.some(([n]) => n.toLowerCase() === 'content-length') ? 'hello' : '';
    const res = await send(c.method, '/customers/1', c.headers, body);
    expect(res.status).toBe(400);
    expect(upstream.received.length).toBe(before);
    // The sidecar's own answers name the problem; Node's parser answers some framing errors itself.
    if ((res.headers['content-type']?.[0] ?? '').startsWith('application/json') && res.body !== '') expect(res.json()).toMatchObject({ error: c.code, message: expect.stringMatching(c.names) });
  });

  it('refuses a GET whose body is a second request, so no upstream can be handed it', async () => {
    const smuggled = 'DELETE /customers/2 HTTP/1.1\r\nHost: upstream\r\n\r\n';
    const res = await send('GET', '/customers/1', [['Content-Length', String(smuggled.length)]], smuggled);
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ error: 'UnexpectedBody' });
    expect(upstream.allBytes()).not.toContain('DELETE');
  });

  it.each([
    ['query parameter', 'GET', '/customers/1?_method=DELETE', [], ''],
    ['query parameter, other spelling', 'GET', '/customers/1?__method=DELETE', [], ''],
    ['form field', 'POST', '/orders', [['Content-Type', 'application/x-www-form-urlencoded']], '_method=DELETE&id=1'],
    ['JSON field', 'POST', '/orders', [['Content-Type', 'application/json']], '{"_method":"DELETE","id":1}'],
    ['multipart field', 'POST', '/orders', [['Content-Type', 'multipart/form-data; boundary=b']], '--b\r\nContent-Disposition: form-data; name="_method"\r\n\r\nDELETE\r\n--b--\r\n'],
  ] as [string, string, string, [string, string][], string][])('refuses a method override as a %s', async (_what, method, target, headers, body) => {
    const before = upstream.received.length;
    const res = await send(method, target, body === '' ? headers : [...headers, ['Content-Length', String(Buffer.byteLength(body))]], body);
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ error: 'MethodOverride', message: expect.stringContaining('method') });
    expect(upstream.received.length).toBe(before);
  });

  it('refuses a JSON body too large to check for method-override fields (413), without forwarding it', async () => {
    const before = upstream.received.length;
    const body = `{"pad":"${'x'.repeat(1024 * 1024 + 16)}","_method":"DELETE"}`;
    const res = await send('POST', '/orders', [['Content-Type', 'application/json'], ['Content-Length', String(body.length)]], body);
    expect(res.status).toBe(413);
    expect(res.json()).toMatchObject({ error: 'BodyTooLarge', message: expect.stringContaining('method-override') });
    expect(upstream.received.length).toBe(before);
  });

  it('answers Expect: 100-continue itself: the body is judged and forwarded, the Expect header is not', async () => {
    const body = '{"item":"pen","qty":2}';
    const res = await send('POST', '/orders', [['Content-Type', 'application/json'], ['Content-Length', String(body.length)], ['Expect', '100-continue']], body);
    expect(res.status).toBe(200);
    const got = upstream.received.at(-1);
    expect(got?.body.toString()).toBe(body);
    expect(upstream.headerNames(got ?? { method: '', target: '', rawHeaders: [], body: Buffer.alloc(0) })).not.toContain('expect');
  });

  it('refuses an Expect it cannot meet (417), without reaching the upstream', async () => {
    const before = upstream.received.length;
    const res = await send('GET', '/customers/1', [['Expect', 'gimme-everything']]);
    expect(res.status).toBe(417);
    expect(upstream.received.length).toBe(before);
  });

  it('forwards an ordinary POST with its body (control)', async () => {
    const body = '{"item":"book","qty":1}';
    const res = await send('POST', '/orders', [['Content-Type', 'application/json'], ['Content-Length', String(body.length)]], body);
    expect(res.status).toBe(200);
    expect(upstream.received.at(-1)?.body.toString()).toBe(body);
  });

  it('answers an Upgrade with Connection: upgrade without reaching the upstream', async () => {
    const before = upstream.received.length;
    const res = await rawExchange(port, Buffer.from(head('GET', '/customers/1', [['Connection', 'Upgrade'], ['Upgrade', 'websocket'], ['Sec-WebSocket-Version', '13'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==']], { close: false })));
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(upstream.received.length).toBe(before);
  });

  it('never forwards forgeable forwarding claims, nor headers the client names in Connection', async () => {
    const res = await send('GET', '/customers/2', [...FORGEABLE_HEADERS, ['Connection', 'X-Feature-Switch'], ['X-Feature-Switch', 'export-all'], ['X-Request-Id', 'r-1']]);
    expect(res.status).toBe(200);
    const got = upstream.received.at(-1);
    if (got === undefined) throw new Error('nothing forwarded');
    const names = upstream.headerNames(got);
    for (const [name] of FORGEABLE_HEADERS) expect(names).not.toContain(name.toLowerCase());
    expect(names).not.toContain('x-feature-switch');
    expect(names).toContain('x-request-id');
    expect(got.rawHeaders.join('\n')).not.toContain('dpo-admin');
  });
});

describe('item 16: identifiers in response headers are masked', () => {
  const leaks = (res: RawResponse): string[] => {
    const text = Object.entries(res.headers).map(([n, v]) => `${n}: ${v.join(' | ')}`).join('\n');
    let decoded = text;
    try { decoded = decodeURIComponent(text.replace(/%(?![0-9a-f]{2})/gi, '%25')); } catch { /* keep */ }
    const b64 = Buffer.from(CPF).toString('base64');
    return [CPF, CPF_DIGITS, EMAIL, b64].filter((raw) => text.includes(raw) || decoded.includes(raw));
  };

  it.each([
    ['a JSON answer', 'GET', []],
    ['a binary answer (passed through unmasked in the body)', 'GET', [['X-Test-Type', 'application/octet-stream']]],
    ['a 204', 'GET', [['X-Test-Status', '204']]],
    ['a redirect', 'GET', [['X-Test-Status', '302']]],
  ] as [string, string, [string, string][]][])('in %s', async (_what, method, headers) => {
    const res = await send(method, '/customers/1/download', headers);
    expect(res.status).toBeLessThan(400);
    expect(res.headers['x-customer-cpf']).toBeDefined();
    expect(res.headers['content-disposition']?.[0]).toMatch(/^attachment; filename="cliente-.*\.csv"; filename\*=UTF-8''/);
    expect(res.headers['set-cookie']).toContain('plain=1; Path=/');
    expect(leaks(res)).toEqual([]);
  });
});

// ---- approvals ---------------------------------------------------------------------------------------

interface Ar { metadata: { name: string }; spec: { command: { text: string } }; status?: { phase?: string } }

async function review(name: string, user: 'dana' | 'dave', decision: 'Approved' | 'Denied'): Promise<void> {
  const patch = JSON.stringify([{ op: 'add', path: '/spec/reviews/-', value: { decision, reason: `ticket ${id}-${name.slice(-8)} by ${user}` } }]);
  const res = await kubectl(['patch', 'approvalrequest', name, '-n', ns, '--type=json', '-p', patch], { user });
  if (res.code !== 0) throw new Error(`kubectl patch as ${user}: ${res.stderr}`);
}

function phase(name: string, want: string): Promise<Ar> {
  return eventually(`${name} ${want}`, async () => {
    const ar = await getObject<Ar>('approvalrequest', ns, name);
    return ar.status?.phase === want ? ar : undefined;
  }, 20_000, 100);
}

async function approved(method: string, target: string, headers: [string, string][] = [], body = ''): Promise<string> {
  const held = await send(method, target, headers, body);
  expect(held.status).toBe(409);
  const name = String(held.json().approvalRequest);
  await review(name, 'dana', 'Approved');
  await phase(name, 'Approved');
  return name;
}

describe('item 6: the approval binds the headers that change what the upstream does', () => {
  it('shows them to the approver, and an approval does not run the command with other headers', async () => {
    const body = '{"format":"csv"}';
    const json: [string, string][] = [['Content-Type', 'application/json'], ['Content-Length', String(body.length)]];
    const name = await approved('POST', '/customers/export', json, body);
    const ar = await getObject<Ar>('approvalrequest', ns, name);
    expect(ar.spec.command.text).toBe(`POST /customers/export\ncontent-type: application/json\n\n${body}`);
    const before = upstream.received.length;
    // Same method, target and body, another Content-Type: a different command, held on its own.
    const other = await send('POST', '/customers/export', [['Content-Type', 'text/csv'], ['Content-Length', String(body.length)]], body);
    expect(other.status).toBe(409);
    expect(other.json().approvalRequest).not.toBe(name);
    const accept = await send('POST', '/customers/export', [...json, ['Accept', 'text/csv']], body);
    expect(accept.status).toBe(409);
    expect(upstream.received.length).toBe(before);
    const run = await send('POST', '/customers/export', json, body);
    expect(run.status).toBe(200);
    expect(upstream.received.length).toBe(before + 1);
    expect(upstream.received.at(-1)?.body.toString()).toBe(body);
  });

  it('binds a cookie by its hash: another cookie is another command, and the secret is shown nowhere', async () => {
    const target = '/customers/export?page=cookie';
    const name = await approved('GET', target, [['Cookie', 'session=s3cr3t-one']]);
    const ar = await getObject<Ar>('approvalrequest', ns, name);
    expect(ar.spec.command.text).toMatch(new RegExp(`^GET ${target.replace('?', '\\?')}\ncookie: \\[secret, sha256 [0-9a-f]{32}\\]$`));
    expect(ar.spec.command.text).not.toContain('s3cr3t');
    const other = await send('GET', target, [['Cookie', 'session=s3cr3t-two']]);
    expect(other.status).toBe(409);
    expect(other.json().approvalRequest).not.toBe(name);
    const run = await send('GET', target, [['Cookie', 'session=s3cr3t-one']]);
    expect(run.status).toBe(200);
    expect(upstream.received.at(-1)?.rawHeaders).toContain('session=s3cr3t-one');
  });
});

describe('the text reviewers read is the command that runs', () => {
  // The agent runs under the pod's service account, which the sidecar shares: it may create
  // ApprovalRequests. One showing a harmless command under the hash (and label) of another must not
  // approve the other.
  it('an ApprovalRequest forged by the agent with a harmless text or preview over an unseen command is refused and approves nothing', async () => {
    const seen = '/customers/export?page=forged-harmless';
    const unseen = 'GET /customers/export?page=forged-everything';
    const held = await send('GET', seen);
    expect(held.status).toBe(409);
    const genuine = await getObject<Ar & { metadata: { labels: Record<string, string> }; spec: Record<string, unknown> }>('approvalrequest', ns, String(held.json().approvalRequest));
    const hash = createHash('sha256').update(unseen).digest('hex');
    const forged = {
      apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest',
      metadata: { name: `forged-${id}`, namespace: ns, labels: { ...genuine.metadata.labels, 'guarita.io/command-sha256': hash.slice(0, 63) } },
      spec: { ...genuine.spec, command: { ...genuine.spec.command, sha256: hash }, reviews: [] },
    };
    // The admission webhook refuses it, naming the field; the sidecar would not consume it either
    // (it compares text and preview too: an earlier sidecar ran the unseen command here).
    const agent = await serviceAccountToken(ns, 'support-agent');
    const created = await kubectl(['--token', agent, 'create', '-f', '-'], { user: 'admin', input: JSON.stringify(forged) });
    expect(created.code).not.toBe(0);
    expect(created.stderr).toContain('spec.command.sha256: is not the SHA-256 of spec.command.text');
    const misleading = { ...forged, metadata: { ...forged.metadata, labels: genuine.metadata.labels }, spec: { ...forged.spec, command: { ...genuine.spec.command, preview: 'GET /customers/1' } } };
    const shown = await kubectl(['--token', agent, 'create', '-f', '-'], { user: 'admin', input: JSON.stringify(misleading) });
    expect(shown.stderr).toContain('spec.command.preview: must be the first line of spec.command.text');
    const before = upstream.received.length;
    const run = await send('GET', unseen.slice('GET '.length));
    expect(run.status).toBe(409);
    expect(run.json().approvalRequest).not.toBe(forged.metadata.name);
    expect(upstream.received.length).toBe(before);
    expect(upstream.allBytes()).not.toContain('forged-everything');
  });
});

type Forgeable = Record<string, unknown> & { requester: { claims?: Record<string, string>; groups?: string[] }; expiresAt?: string };

describe('the requester reviewers are shown is the one that runs the command', () => {
  // Four-eyes maps the recorded claims to a Kubernetes username: a request the agent created with
  // its own command text and subject but another person's claims would let the agent's human review
  // it as "someone else". The sidecar never consumes such a request.
  it.each([
    ['another person\'s claims', 'claims', (spec: Forgeable) => ({ ...spec, requester: { ...spec.requester, claims: { ...spec.requester.claims, sub: 'someone-else', email: 'someone-else@example.com', preferred_username: 'someone-else' } } })],
    ['other groups', 'groups', (spec: Forgeable) => ({ ...spec, requester: { ...spec.requester, groups: ['batch-approved-by-dpo'] } })],
    ['a lifetime past the rule\'s ttl', 'ttl', (spec: Forgeable) => ({ ...spec, expiresAt: new Date(Date.now() + 30 * 24 * 3600_000).toISOString().replace(/\.\d+Z$/, 'Z') })],
  ] as [string, string, (spec: Forgeable) => Forgeable][])('an approved ApprovalRequest the agent created for its own command with %s runs nothing', async (_what, tag, forge) => {
    const held = await send('GET', `/customers/export?page=${tag}-harmless`);
    expect(held.status).toBe(409);
    const genuine = await getObject<Ar & { metadata: { labels: Record<string, string> }; spec: Forgeable }>('approvalrequest', ns, String(held.json().approvalRequest));
    const text = `GET /customers/export?page=${tag}-forged`;
    const hash = createHash('sha256').update(text).digest('hex');
    const forged = {
      apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest',
      metadata: { name: `${tag}-${id}`, namespace: ns, labels: { ...genuine.metadata.labels, 'guarita.io/command-sha256': hash.slice(0, 63) } },
      spec: { ...forge(genuine.spec), command: { text, preview: text, sha256: hash }, reviews: [] },
    };
    const agent = await serviceAccountToken(ns, 'support-agent');
    const created = await kubectl(['--token', agent, 'create', '-f', '-'], { user: 'admin', input: JSON.stringify(forged) });
    expect(created.stderr).toBe('');
    await review(forged.metadata.name, 'dana', 'Approved');
    await phase(forged.metadata.name, 'Approved');
    const before = upstream.received.length;
    const run = await send('GET', `/customers/export?page=${tag}-forged`);
    expect(run.status).toBe(409);
    expect(run.json().approvalRequest).not.toBe(forged.metadata.name);
    expect(upstream.received.length).toBe(before);
    expect(upstream.allBytes()).not.toContain(`${tag}-forged`);
  });
});

describe('credentials in the query are bound by hash and shown nowhere', () => {
  it('an access_token or signature in the query reaches the upstream, but the ApprovalRequest and the signed records show a hash', async () => {
    const target = '/customers/export?page=query-secret&access_token=agent-s3cr3t-one&X-Amz-Signature=deadbeef01';
    const name = await approved('GET', target);
    const ar = await getObject<Ar>('approvalrequest', ns, name);
    expect(ar.spec.command.text).toMatch(/^GET \/customers\/export\?page=query-secret&access_token=\[secret, sha256 [0-9a-f]{32}\]&X-Amz-Signature=\[secret, sha256 [0-9a-f]{32}\]$/);
    expect(ar.spec.command.text).not.toMatch(/s3cr3t|deadbeef/);
    const other = await send('GET', target.replace('agent-s3cr3t-one', 'agent-s3cr3t-two'));
    expect(other.status).toBe(409);
    expect(other.json().approvalRequest).not.toBe(name);
    const run = await send('GET', target);
    expect(run.status).toBe(200);
    expect(upstream.received.at(-1)?.target).toBe(target);
    // The signed records of this command (held, consumed, run) show the hash too.
    const records = await eventually('the records of the command', async () => {
      const mine = (await fetchExport(op.url, ns)).records.filter((r) => JSON.stringify(r).includes('query-secret'));
      return mine.length >= 2 ? mine : undefined;
    }, 30_000, 1000);
    expect(JSON.stringify(records)).toContain('access_token=[secret, sha256 ');
    expect(JSON.stringify(records)).not.toMatch(/s3cr3t|deadbeef/);
  });
});

describe('item 14: concurrent retries of an approved command', () => {
  it.each([2, 4, 16])('%i retries: one runs, every other is held on one new ApprovalRequest', async (n) => {
    const target = `/customers/export?page=c${n}`;
    const name = await approved('GET', target);
    const before = upstream.received.filter((r) => r.target === target).length;
    const answers = await Promise.all(Array.from({ length: n }, () => send('GET', target)));
    const statuses = answers.map((a) => a.status).sort((a, b) => a - b);
    expect(statuses).toEqual([200, ...Array<number>(n - 1).fill(409)]);
    expect(upstream.received.filter((r) => r.target === target).length).toBe(before + 1);
    const held = answers.filter((a) => a.status === 409).map((a) => a.json());
    const names = new Set(held.map((h) => h.approvalRequest));
    expect(names.size).toBe(1);
    const [next] = [...names];
    expect(next).not.toBe(name);
    for (const h of held) expect(h).toMatchObject({ error: 'ApprovalPending', message: expect.stringContaining(String(next)) });
    expect((await getObject<Ar>('approvalrequest', ns, String(next))).status?.phase ?? 'Pending').toBe('Pending');
    await phase(name, 'Consumed');
  });
});

describe('item 11: the signed records say who approved and why, after the ApprovalRequest is gone', () => {
  it('keeps reviewers, groups, decisions, reasons, rule and required count in the export and the replay', async () => {
    const target = '/customers/export?page=evidence';
    const name = await approved('GET', target);
    expect((await send('GET', target)).status).toBe(200);
    await phase(name, 'Consumed');
    await k(['delete', 'approvalrequest', name, '-n', ns]);
    const consumed = await eventually('the approval.consumed record in the store', async () => {
      const exported = await fetchExport(op.url, ns);
      return exported.records.find((r) => r.type === 'approval.consumed' && r.approvalRequest === name);
    }, 30_000, 300);
    expect(consumed.approval).toMatchObject({
      request: name, rule: 'export-needs-dpo', required: 1, approvals: 1, approverGroups: ['dpo'],
      reviews: [{ reviewer: 'dana', groups: expect.arrayContaining(['dpo']), decision: 'Approved', reason: `ticket ${id}-${name.slice(-8)} by dana`, time: expect.any(String) }],
    });
    const replay = await runCli(['replay', consumed.sessionId, '--no-timing', '-n', ns], {
      env: { KUBECONFIG: kubeconfigPath('audrey'), GUARITA_OPERATOR_URL: op.url, GUARITA_OPERATOR_CA: requireKube().caFile },
    });
    expect(replay.code).toBe(0);
    expect(replay.out).toMatch(new RegExp(`✓ approved by dana \\(groups [^)]*dpo[^)]*\\) at \\S+: "ticket ${id}-${name.slice(-8)} by dana"`));
    expect(replay.out).toContain(`ApprovalRequest ${name} consumed: the approved command ran once`);
    expect(replay.out).toContain('rule export-needs-dpo: 1 of 1 required approval from dpo');
    expect(replay.err).not.toContain(`reviewers of ApprovalRequest ${name} not shown`);
  });
});
