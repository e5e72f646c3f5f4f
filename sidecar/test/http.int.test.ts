// The sidecar's HTTP path end to end on the harness: the real sidecar process, the real
// apiserver (live AccessPolicy, ApprovalRequests, TokenReview), the real IdP's JWTs, a real HTTP
// upstream, the real operator (ingest, approval phases) and the real admission webhook (review
// stamping), with approvals granted and denied by `kubectl patch` as the DPO users.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createHmac, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { request } from 'undici';
import { freePorts } from '../../e2e/harness/ports.ts';
import { getToken, kubectl, loadHarnessState, requireIdp } from '../../e2e/harness/state.ts';
import { apply, createServiceAccount, getObject, serviceAccountToken } from '../../e2e/support/kube-apply.ts';
import { k, suffix } from '../../e2e/support/kubectl.ts';
import { type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { eventually } from '../../e2e/support/wait.ts';

import {
  agentRequest, httpPolicy, mountCredentials, RAW_PERSONAL, sidecarFixture, startSidecarProcess, startUpstream, type SidecarFixture, type SidecarProcess, type Upstream,
} from './support.ts';
import { startGuaritaSystem, type GuaritaSystem } from '../../e2e/support/guarita-system.ts';

jest.setTimeout(90_000);

const id = suffix();
let ns: string;
const POLICY = 'customers-api';
const PURPOSE = 'customer-support';

let system: GuaritaSystem;
let op: OperatorProcess;
let upstream: Upstream;
let fx: SidecarFixture;
let sidecar: SidecarProcess;
let listenPort: number;
let token: string;

function url(path: string): string {
  return `${sidecar.url(POLICY)}${path}`;
}

async function policy(over: Record<string, unknown> = {}): Promise<void> {
  await apply([httpPolicy(ns, POLICY, { endpoint: upstream.url, issuer: requireIdp().issuer, listenPort, over })]);
}

beforeAll(async () => {
  upstream = await startUpstream();
  system = await startGuaritaSystem('sc-http');
  ({ ns, op } = system);
  // Reviewers may patch ApprovalRequests (RBAC); whether a review counts is the webhook's and operator's decision.
  await apply([
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'reviewers', namespace: ns }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests', 'accesspolicies'], verbs: ['get', 'list', 'watch', 'patch', 'update'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'reviewers', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reviewers' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'dpo' }] },
  ]);
  // The target's Secret exists in the cluster (the webhook checks) and is mounted into the sidecar only.
  await apply([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${POLICY}-credentials`, namespace: ns }, stringData: { token: 'upstream-service-token' } }]);
  [listenPort = 0] = await freePorts(1);
  await policy();
  // After the policy: the fixture's pod goes through the live webhook, which injects only pods a policy selects.
  fx = await sidecarFixture(ns);
  mountCredentials(fx, POLICY, { token: 'upstream-service-token' });
  sidecar = await startSidecarProcess(fx, { targets: [{ policy: POLICY, target: POLICY, protocol: 'http', listenPort }], operatorUrl: op.url });
  token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
}, 180_000);

afterAll(async () => {
  await sidecar?.stop();
  await Promise.all([system?.stop(), upstream?.close()]);
});

describe('allowed, denied, masked', () => {
  it('forwards an allowed request with the target credential, never the agent token or purpose', async () => {
    const res = await agentRequest(url('/customers/2'), { token, purpose: PURPOSE });
    expect(res.status).toBe(200);
    const seen = upstream.seen.at(-1);
    expect(seen?.url).toBe('/customers/2');
    expect(seen?.headers.authorization).toBe('Bearer upstream-service-token');
    expect(seen?.headers['x-guarita-purpose']).toBeUndefined();
    expect(JSON.stringify(seen?.headers)).not.toContain(token);
  });

  it('accepts a Kubernetes service-account token through TokenReview when the policy allows them', async () => {
    await createServiceAccount(ns, 'batch-runner');
    const saToken = await serviceAccountToken(ns, 'batch-runner', 'guarita');
    expect((await agentRequest(url('/customers/1'), { token: saToken, purpose: PURPOSE })).status).toBe(200);
    const wrongAudience = await serviceAccountToken(ns, 'batch-runner', 'guarita-operator');
    expect((await agentRequest(url('/customers/1'), { token: wrongAudience, purpose: PURPOSE })).status).toBe(401);
  });

  it('denies with 403 naming the rule', async () => {
    const before = upstream.seen.length;
    const res = await agentRequest(url('/customers/2'), { token, purpose: PURPOSE, method: 'DELETE' });
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ error: 'Forbidden', rule: 'deny-deletes', code: 'RuleDenied' });
    expect(upstream.seen.length).toBe(before);
  });

  it('denies what no rule allows, and refuses a missing token, an undeclared purpose and a non-member', async () => {
    expect((await agentRequest(url('/admin/users'), { token, purpose: PURPOSE })).json()).toMatchObject({ code: 'NoMatchingRule' });
    const missing = await agentRequest(url('/customers/2'), { purpose: PURPOSE });
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toContain('Bearer');
    const undeclared = await agentRequest(url('/customers/2'), { token });
    expect(undeclared.status).toBe(403);
    expect(undeclared.json().message).toContain('no purpose declared');
    const wrongPurpose = await agentRequest(url('/customers/2'), { token, purpose: 'marketing' });
    expect(wrongPurpose.status).toBe(403);
    const outsider = await agentRequest(url('/customers/2'), { token: await getToken({ clientId: 'outsider', audience: 'guarita' }), purpose: PURPOSE });
    expect(outsider.status).toBe(403);
    expect(outsider.json().message).toContain('not among the policy\'s subjects');
  });

  it('masks CPF and e-mail inside nested JSON streamed in small chunks', async () => {
    const res = await agentRequest(url('/customers'), { token, purpose: PURPOSE });
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBeUndefined();
    for (const raw of RAW_PERSONAL) expect(res.text).not.toContain(raw);
    const body = res.json() as { items: { nome: string; documento: { cpf: string }; contato: { email: string; notas: string[] } }[] };
    expect(body.items).toHaveLength(3);
    expect(body.items[0]?.nome).toBe('Larissa Oliveira');
    expect(body.items[0]?.documento.cpf).not.toBe('590.830.166-33');
    expect(body.items[0]?.contato.notas[1]).not.toContain('390.996.030-88');
    const metrics = await sidecar.metrics();
    expect(metrics).toMatch(/guarita_sidecar_masked_values_total\{target="customers-api",type="cpf"\} [1-9]/);
    expect(metrics).toMatch(/guarita_sidecar_masked_values_total\{target="customers-api",type="email"\} [1-9]/);
  });

  it('decodes gzip and other charsets to mask them, and leaves binary types alone', async () => {
    const gz = await agentRequest(url('/orders/gzip'), { token, purpose: PURPOSE, headers: { 'accept-encoding': 'gzip' } });
    expect(gz.status).toBe(200);
    expect(gz.headers['content-encoding']).toBeUndefined();
    expect(gz.text).not.toContain('590.830.166-33');
    expect(gz.json()).toMatchObject({ order: 7 });
    const latin = await agentRequest(url('/orders/report.txt'), { token, purpose: PURPOSE });
    expect(latin.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(latin.text).toContain('Relatório');
    expect(latin.text).not.toContain('590.830.166-33');
    const bin = await agentRequest(url('/orders/label.bin'), { token, purpose: PURPOSE });
    expect(bin.status).toBe(200);
    expect(bin.headers['content-length']).toBe('8');
  });
});

// ---- JWT attacks ------------------------------------------------------------------------------------

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function idpSigningKey(): JWK {
  const config = JSON.parse(readFileSync(join(loadHarnessState().runDir, 'idp', 'config.json'), 'utf8')) as { privateJwks: { keys: JWK[] } };
  const key = config.privateJwks.keys.find((x) => x.alg === 'RS256');
  if (key === undefined) throw new Error('no RS256 key in the IdP config');
  return key;
}

function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: requireIdp().issuer, aud: 'guarita', sub: 'support-agent', groups: ['support'], iat: now, exp: now + 600, ...over };
}

async function signWithIdpKey(payload: Record<string, unknown>): Promise<string> {
  const jwk = idpSigningKey();
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: jwk.kid ?? '', typ: 'at+jwt' }).sign(await importJWK(jwk, 'RS256'));
}

const ATTACKS: [string, () => Promise<string>, RegExp][] = [
  ['alg none', () => Promise.resolve(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`), /algorithm "none" is not allowed/],
  ['HS256 signed with the RSA public key', () => {
    const jwk = idpSigningKey();
    const pem = createPublicKey({ key: { kty: jwk.kty, n: jwk.n, e: jwk.e }, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const head = `${b64({ alg: 'HS256', kid: jwk.kid, typ: 'JWT' })}.${b64(claims())}`;
    return Promise.resolve(`${head}.${createHmac('sha256', pem).update(head).digest('base64url')}`);
  }, /algorithm "HS256" is not allowed/],
  ['expired', () => signWithIdpKey(claims({ iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 })), /expired/],
  ['wrong aud', () => getToken({ clientId: 'support-agent', audience: 'another-api' }), /audience/],
  ['wrong iss', () => signWithIdpKey(claims({ iss: 'https://idp.attacker.example' })), /not accepted/],
  ['unknown kid', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    return new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'attacker-kid' }).sign(privateKey);
  }, /does not publish/],
  ['tampered payload', async () => {
    const [h, , sig] = (await getToken({ clientId: 'outsider', audience: 'guarita' })).split('.');
    return `${h ?? ''}.${b64(claims({ sub: 'outsider', groups: ['support'] }))}.${sig ?? ''}`;
  }, /signature does not verify/],
];

describe('JWT attacks', () => {
  it('accepts a genuine token signed with the IdP key (control)', async () => {
    const res = await agentRequest(url('/customers/3'), { token: await signWithIdpKey(claims()), purpose: PURPOSE });
    expect(res.status).toBe(200);
  });

  it.each(ATTACKS)('rejects %s with 401', async (_what, forge, message) => {
    const before = upstream.seen.length;
    const res = await agentRequest(url('/customers/3'), { token: await forge(), purpose: PURPOSE });
    expect(res.status).toBe(401);
    expect(res.json()).toMatchObject({ error: 'Unauthenticated', message: expect.stringMatching(message) });
    expect(upstream.seen.length).toBe(before);
  });

  it('counts each request once by outcome, and its upstream latency, in the scrape', async () => {
    const count = (text: string, series: string): number => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1] ?? '0');
    const allowed = 'guarita_sidecar_requests_total{target="customers-api",protocol="http",outcome="allowed"}';
    const denied = 'guarita_sidecar_requests_total{target="customers-api",protocol="http",outcome="denied"}';
    const latency = 'guarita_sidecar_upstream_latency_seconds_count{target="customers-api",protocol="http"}';
    const before = await sidecar.metrics();
    for (let i = 0; i < 3; i++) expect((await agentRequest(url('/customers/1'), { token, purpose: PURPOSE })).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await agentRequest(url('/customers/2'), { token, purpose: PURPOSE, method: 'DELETE' })).status).toBe(403);
    const after = await sidecar.metrics();
    expect([allowed, denied, latency].map((m) => count(after, m) - count(before, m))).toEqual([3, 2, 3]);
  });

  it('counts the rejections by reason', async () => {
    const metrics = await sidecar.metrics();
    for (const reason of ['algorithm', 'expired', 'claim-aud', 'unknown-key', 'signature']) {
      expect(metrics).toMatch(new RegExp(`guarita_sidecar_authentication_failures_total\\{target="customers-api",reason="${reason}"\\} [1-9]`));
    }
  });
});

// ---- just-in-time approval ----------------------------------------------------------------------------

interface Ar { metadata: { name: string; resourceVersion: string }; spec: { command: { text: string; sha256: string }; rule: string; requester: { username: string }; reviews?: unknown[] }; status?: { phase?: string; consumedAt?: string; execution?: Record<string, unknown> } }

async function review(name: string, user: 'dana' | 'dave', decision: 'Approved' | 'Denied'): Promise<void> {
  const patch = JSON.stringify([{ op: 'add', path: '/spec/reviews/-', value: { decision, reason: `ticket ${id} by ${user}` } }]);
  const res = await kubectl(['patch', 'approvalrequest', name, '-n', ns, '--type=json', '-p', patch], { user });
  if (res.code !== 0) throw new Error(`kubectl patch as ${user}: ${res.stderr}`);
}

async function approvalRequests(): Promise<Ar[]> {
  return (JSON.parse(await k(['get', 'approvalrequests', '-n', ns, '-o', 'json'])) as { items: Ar[] }).items;
}

async function phase(name: string, want: string): Promise<Ar> {
  return eventually(`${name} ${want}`, async () => {
    const ar = await getObject<Ar>('approvalrequest', ns, name);
    return ar.status?.phase === want ? ar : undefined;
  }, 20_000, 100);
}

/** The Pending request holding `text`, as an approver would find it with kubectl get. */
function pendingFor(text: string): Promise<Ar> {
  return eventually(`a Pending ApprovalRequest for ${text}`, async () => (await approvalRequests()).find((a) => a.spec.command.text === text && a.status?.phase === 'Pending'), 20_000, 100);
}

describe('just-in-time approval', () => {
  it('holds the command, answers 409 naming the ApprovalRequest, and runs the retry once approved, exactly once', async () => {
    const before = upstream.seen.length;
    const held = await agentRequest(url('/customers/export?page=1'), { token, purpose: PURPOSE });
    expect(held.status).toBe(409);
    const name = String(held.json().approvalRequest);
    expect(held.headers['x-guarita-approval-request']).toBe(name);
    expect(held.json().message).toContain(name);
    expect(upstream.seen.length).toBe(before);
    const ar = await getObject<Ar>('approvalrequest', ns, name);
    expect(ar.spec).toMatchObject({ rule: 'export-needs-dpo', requester: { username: 'support-agent' }, command: { text: 'GET /customers/export?page=1' } });
    expect(ar.spec.command.sha256).toMatch(/^[0-9a-f]{64}$/);

    // Retrying while pending is held on the same request, not a new one.
    const again = await agentRequest(url('/customers/export?page=1'), { token, purpose: PURPOSE });
    expect(again.json().approvalRequest).toBe(name);

    await review(name, 'dana', 'Approved');
    await phase(name, 'Approved');
    // A different command (another page) cannot use this approval.
    const other = await agentRequest(url('/customers/export?page=2'), { token, purpose: PURPOSE });
    expect(other.status).toBe(409);
    expect(other.json().approvalRequest).not.toBe(name);

    const run = await agentRequest(url('/customers/export?page=1'), { token, purpose: PURPOSE });
    expect(run.status).toBe(200);
    for (const raw of RAW_PERSONAL) expect(run.text).not.toContain(raw);
    expect(upstream.seen.filter((r) => r.url === '/customers/export?page=1')).toHaveLength(1);
    const consumed = await phase(name, 'Consumed');
    expect(consumed.status?.consumedAt).toBeDefined();

    // The approval is spent: the same command again needs a new approval.
    const replay = await agentRequest(url('/customers/export?page=1'), { token, purpose: PURPOSE });
    expect(replay.status).toBe(409);
    expect(replay.json().approvalRequest).not.toBe(name);
    expect(upstream.seen.filter((r) => r.url === '/customers/export?page=1')).toHaveLength(1);
    // The operator fills status.execution from the sidecar's approval.consumed record.
    const executed = await eventually('execution summary', async () => {
      const a = await getObject<Ar>('approvalrequest', ns, name);
      return a.status?.execution === undefined ? undefined : a;
    }, 30_000, 200);
    expect(executed.status?.execution).toMatchObject({ outcome: 'Succeeded' });
  });

  it('runs the command as soon as it is approved during the hold', async () => {
    const pending = agentRequest(url('/customers/export?page=3'), { token, purpose: PURPOSE });
    const ar = await pendingFor('GET /customers/export?page=3');
    await review(ar.metadata.name, 'dave', 'Approved');
    const res = await pending;
    expect(res.status).toBe(200);
    await phase(ar.metadata.name, 'Consumed');
    expect((await sidecar.metrics())).toMatch(/guarita_sidecar_approval_wait_seconds_count\{target="customers-api",outcome="approved"\} [1-9]/);
  });

  it('lets exactly one of two concurrent retries use an approval', async () => {
    const held = await agentRequest(url('/customers/export?page=5'), { token, purpose: PURPOSE });
    const name = String(held.json().approvalRequest);
    await review(name, 'dana', 'Approved');
    await phase(name, 'Approved');
    const [a, b] = await Promise.all([0, 1].map(() => agentRequest(url('/customers/export?page=5'), { token, purpose: PURPOSE })));
    expect([a?.status, b?.status].sort()).toEqual([200, 409]);
    expect(upstream.seen.filter((r) => r.url === '/customers/export?page=5')).toHaveLength(1);
  });

  it('answers 403 naming the request when an approver denies it', async () => {
    const pending = agentRequest(url('/customers/export?page=4'), { token, purpose: PURPOSE });
    const ar = await pendingFor('GET /customers/export?page=4');
    await review(ar.metadata.name, 'dana', 'Denied');
    const res = await pending;
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ code: 'ApprovalDenied', rule: 'export-needs-dpo', message: expect.stringContaining(ar.metadata.name) });
    // The denial stands for the retry.
    const retry = await agentRequest(url('/customers/export?page=4'), { token, purpose: PURPOSE });
    expect(retry.status).toBe(403);
    expect(retry.json().message).toContain(ar.metadata.name);
  });

  it('answers 403 naming the request when it expires before anyone approves', async () => {
    const res = await agentRequest(url('/customers/bulk-export'), { token, purpose: PURPOSE });
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ code: 'ApprovalExpired', rule: 'bulk-export-short-ttl' });
    const name = /ApprovalRequest (\S+)/.exec(String(res.json().message))?.[1] ?? '';
    expect((await getObject<Ar>('approvalrequest', ns, name)).status?.phase).toBe('Expired');
  });
});

// ---- live policy -----------------------------------------------------------------------------------

/** Until a request gets `status` (the sidecar applies changes from its watch, within moments). */
async function until(path: string, status: number, opts: { token?: string } = {}): Promise<Awaited<ReturnType<typeof agentRequest>>> {
  return eventually(`${path} → ${status}`, async () => {
    const res = await agentRequest(url(path), { token: opts.token ?? token, purpose: PURPOSE });
    return res.status === status ? res : undefined;
  }, 20_000, 100);
}

describe('live policy', () => {
  it('applies an edit to the next request, without restart', async () => {
    const pid = await sidecar.pid();
    await policy({ rules: [
      { name: 'customer-2-is-off-limits', match: { http: { paths: ['/customers/2'] } }, action: 'deny' },
      { name: 'read-customers', match: { http: { methods: ['GET'], paths: ['/customers', '/customers/**', '/orders/**'] } }, action: 'allow' },
    ] });
    const denied = await until('/customers/2', 403);
    expect(denied.json()).toMatchObject({ rule: 'customer-2-is-off-limits' });
    await policy();
    await until('/customers/2', 200);
    expect(await sidecar.pid()).toBe(pid);
  });

  it('revocation cuts the subject\'s open session and refuses its next request', async () => {
    const started = Date.now();
    const controller = new AbortController();
    const streaming = request(url('/orders/stream'), { headers: { authorization: `Bearer ${token}`, 'x-guarita-purpose': PURPOSE }, signal: controller.signal });
    const res = await streaming;
    expect(res.statusCode).toBe(200);
    let received = '';
    const consumed = (async () => {
      for await (const chunk of res.body) received += String(chunk);
    })();
    await eventually('first streamed lines', () => Promise.resolve(received.includes('line 3') ? true : undefined), 10_000, 20);
    expect(received).not.toContain('590.830.166-33');
    await policy({ revokedSubjects: [{ kind: 'User', name: 'support-agent', reason: 'contractor off-boarded (test)' }] });
    await expect(consumed).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(9000);
    expect(received).not.toContain('line 199');
    const refused = await agentRequest(url('/customers/1'), { token, purpose: PURPOSE });
    expect(refused.status).toBe(403);
    expect(refused.json().message).toMatch(/revoked.*contractor off-boarded/);
    expect(await sidecar.metrics()).toMatch(/guarita_sidecar_sessions_closed_total\{target="customers-api",reason="revoked"\} [1-9]/);
    await policy();
    await until('/customers/1', 200);
  });

  it('refuses with a clear error while the policy is deleted, and recovers when it returns', async () => {
    await k(['delete', 'accesspolicy', POLICY, '-n', ns]);
    const refused = await until('/customers/1', 503);
    expect(refused.json().message).toContain(`AccessPolicy ${POLICY} does not exist`);
    await policy();
    await until('/customers/1', 200);
  });

  it('refuses with a clear error when it cannot enforce the policy (hash key not mounted)', async () => {
    await apply([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hash-keys', namespace: ns }, stringData: { key: 'k'.repeat(40) } }]);
    await policy({ masking: { style: 'hash', hashKeySecretRef: { name: 'hash-keys', key: 'key' } } });
    const refused = await until('/customers/1', 503);
    expect(refused.json().message).toMatch(/cannot be enforced: spec.masking.hashKeySecretRef: .* is not mounted/);
    await policy();
    await until('/customers/1', 200);
  });
});

// ---- agents leaving during authentication ------------------------------------------------------------

describe('agents leaving during authentication', () => {
  it('an exchange whose agent left while its token was reviewed, or halfway through its body, ends at once as the agent\'s doing: the body is not awaited, judged or forwarded', async () => {
    await createServiceAccount(ns, 'batch-runner');
    // Exchanges ended, by outcome.
    const ended = async (): Promise<Record<string, number>> => Object.fromEntries([...(await sidecar.metrics()).matchAll(/^guarita_sidecar_requests_total\{target="customers-api",protocol="http",outcome="(\w+)"\} (\d+)$/gm)].map((m): [string, number] => [m[1] ?? '', Number(m[2])]));
    const before = await ended();
    const since = async (): Promise<Record<string, number>> => Object.fromEntries(Object.entries(await ended()).map(([k, v]): [string, number] => [k, v - (before[k] ?? 0)]).filter(([, v]) => v !== 0));
    const LEAVERS = 8;
    for (let i = 0; i < LEAVERS; i++) {
      // A fresh token each time: the sidecar sends a TokenReview before it reads anything else.
      const fresh = await serviceAccountToken(ns, 'batch-runner', 'guarita', 3600 + i);
      const socket = connect(listenPort, '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      // 1 KiB of a declared 1 MiB body, and the agent leaves as soon as it is out (the review under way).
      socket.write(`POST /orders?gone=${i} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${fresh}\r\nX-Guarita-Purpose: ${PURPOSE}\r\nContent-Type: text/plain\r\nContent-Length: ${1024 * 1024}\r\n\r\n${'x'.repeat(1024)}`, () => socket.destroy());
    }
    // And agents of an open session leaving halfway through their body, while it is read.
    for (let i = 0; i < LEAVERS; i++) {
      const socket = connect(listenPort, '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(`POST /orders?gone=half-${i} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nX-Guarita-Purpose: ${PURPOSE}\r\nContent-Type: text/plain\r\nContent-Length: ${1024 * 1024}\r\n\r\n${'x'.repeat(200 * 1024)}`, () => setTimeout(() => socket.destroy(), 50));
    }
    // Each exchange ends, refused 400 ClientGone (counted as an error: the agent's doing, not the
    // sidecar unavailable), well before the 30 s a body has to arrive: a listener waiting out that
    // deadline for agents gone keeps every one of them open.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (await since()).error !== 2 * LEAVERS) await new Promise((r) => setTimeout(r, 200));
    expect(await since()).toEqual({ error: 2 * LEAVERS });
    expect(upstream.seen.filter((r) => r.url.includes('gone='))).toEqual([]);
    // The listener still takes a whole body.
    const res = await agentRequest(url('/orders'), { token, purpose: PURPOSE, method: 'POST', body: 'y'.repeat(1024 * 1024) });
    expect(res.status).toBe(201);
  });
});
