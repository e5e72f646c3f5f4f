// Identity on the real path (issue 18 items 7 and 9): the real sidecar process in front of a real
// HTTP upstream, the AccessPolicy changed with kubectl on the harness apiserver, OIDC tokens from
// the harness IdP, service-account tokens reviewed by the apiserver's TokenReview (counted on the
// apiserver's own /metrics). Clients speak raw HTTP/1.1 on one keep-alive connection, so "the open
// session" is exactly one TCP connection that stays open across the policy change.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, importJWK, SignJWT, UnsecuredJWT, type JWK } from 'jose';
import { requestToken } from '../../e2e/harness/idp-client.ts';
import { startIdp, type IdpHandle } from '../../e2e/harness/idp.ts';
import { freePorts } from '../../e2e/harness/ports.ts';
import { getToken, loadHarnessState, requireIdp } from '../../e2e/harness/state.ts';
import { apply, createNamespaces, createServiceAccount, serviceAccountToken } from '../../e2e/support/kube-apply.ts';
import { installCrds, k, suffix } from '../../e2e/support/kubectl.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { tokenIssuer } from '../src/identity/service-account.ts';
import { httpPolicy, mountCredentials, NO_OPERATOR, sidecarFixture, startSidecarProcess, startUpstream, type SidecarFixture, type SidecarProcess, type Upstream } from './support.ts';

jest.setTimeout(120_000);

const POLICY = 'customers-api';
/** A second target whose policy trusts an IdP of this test's own, which the outage test stops. */
const OWN = 'reports-api';
const PURPOSE = 'customer-support';
const id = suffix();
const ns = `sc-ident-${id}`;

let upstream: Upstream;
let fx: SidecarFixture;
let sidecar: SidecarProcess;
let listenPort: number;
let ownPort: number;
let ownIdp: IdpHandle;
let oidcToken: string;
let saToken: string;
let saIssuer: string;

interface Reply { status: number; headers: Record<string, string>; body: string }

/** One HTTP/1.1 keep-alive connection, written and read as bytes. */
class Connection {
  readonly socket: Socket;
  #buf = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  #ended = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => { this.#buf = Buffer.concat([this.#buf, d]); this.#wake?.(); });
    socket.on('close', () => { this.#ended = true; this.#wake?.(); });
    socket.on('error', () => undefined);
  }

  static open(port: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new Connection(s)));
      s.once('error', reject);
    });
  }

  get open(): boolean { return !this.#ended && !this.socket.destroyed; }

  async #more(): Promise<void> {
    if (this.#ended) throw new Error(`the sidecar closed the connection (buffered: ${JSON.stringify(this.#buf.toString('latin1').slice(0, 200))})`);
    await new Promise<void>((r) => { this.#wake = r; });
    this.#wake = undefined;
  }

  /** `purpose` '' sends no X-Guarita-Purpose (the token's purposeClaim may supply it). */
  async get(path: string, token: string | undefined, purpose = PURPOSE): Promise<Reply> {
    const auth = token === undefined ? '' : `Authorization: Bearer ${token}\r\n`;
    const declared = purpose === '' ? '' : `X-Guarita-Purpose: ${purpose}\r\n`;
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: upstream\r\n${auth}${declared}\r\n`);
    let end: number;
    while ((end = this.#buf.indexOf('\r\n\r\n')) < 0) await this.#more();
    const head = this.#buf.subarray(0, end).toString('latin1').split('\r\n');
    this.#buf = this.#buf.subarray(end + 4);
    const status = Number(head[0]?.split(' ')[1]);
    const headers = Object.fromEntries(head.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const body = headers['transfer-encoding'] === 'chunked' ? await this.#chunked() : await this.#bytes(Number(headers['content-length'] ?? 0));
    return { status, headers, body: body.toString('utf8') };
  }

  async #bytes(n: number): Promise<Buffer> {
    while (this.#buf.length < n) await this.#more();
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  async #chunked(): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (;;) {
      let eol: number;
      while ((eol = this.#buf.indexOf('\r\n')) < 0) await this.#more();
      const size = parseInt(this.#buf.subarray(0, eol).toString('latin1'), 16);
      this.#buf = this.#buf.subarray(eol + 2);
      const chunk = await this.#bytes(size + 2);
      if (size === 0) return Buffer.concat(parts);
      parts.push(chunk.subarray(0, size));
    }
  }

  close(): void { this.socket.destroy(); }
}

/** Sum of the apiserver's own count of TokenReview requests (admin reads /metrics). */
async function apiserverTokenReviews(): Promise<number> {
  const text = await k(['get', '--raw', '/metrics']);
  return text.split('\n').filter((l) => l.startsWith('apiserver_request_total{') && l.includes('resource="tokenreviews"'))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** A counter of the sidecar's /metrics (sum over the label sets matching `labels`). */
async function sidecarCounter(name: string, labels = ''): Promise<number> {
  const text = await sidecar.metrics();
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) && l.includes(labels)).reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

async function policy(identity?: Record<string, unknown>, over: Record<string, unknown> = {}): Promise<void> {
  const doc = httpPolicy(ns, POLICY, { endpoint: upstream.url, issuer: requireIdp().issuer, listenPort, over });
  if (identity !== undefined) (doc.spec as Record<string, unknown>).identity = identity;
  await apply([doc]);
}

const defaultIdentity = (): Record<string, unknown> => ({ oidc: { issuer: requireIdp().issuer, audiences: ['guarita'] }, serviceAccounts: { audiences: ['guarita'] } });

beforeAll(async () => {
  upstream = await startUpstream();
  await installCrds();
  await createNamespaces(ns);
  fx = await sidecarFixture(ns);
  await apply([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${POLICY}-credentials`, namespace: ns }, stringData: { token: 'upstream-service-token' } }]);
  mountCredentials(fx, POLICY, { token: 'upstream-service-token' });
  [listenPort = 0, ownPort = 0] = await freePorts(2);
  await policy();
  const idpDir = mkdtempSync(join(tmpdir(), 'guarita-own-idp-'));
  mkdirSync(join(idpDir, 'logs'));
  ownIdp = await startIdp(idpDir);
  await apply([
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${OWN}-credentials`, namespace: ns }, stringData: { token: 'upstream-service-token' } },
    httpPolicy(ns, OWN, { endpoint: upstream.url, issuer: ownIdp.coordinates.issuer, listenPort: ownPort }),
  ]);
  mountCredentials(fx, OWN, { token: 'upstream-service-token' });
  // A small review budget per source (8, refilled at 1 a minute) makes the bound exact within the
  // test; keys refreshed after 1 s make an outage visible at once (the bound stays 24 h).
  sidecar = await startSidecarProcess(fx, {
    targets: [{ policy: POLICY, target: POLICY, protocol: 'http', listenPort }, { policy: OWN, target: OWN, protocol: 'http', listenPort: ownPort }], operatorUrl: NO_OPERATOR,
    env: { GUARITA_TOKENREVIEW_BURST: '8', GUARITA_TOKENREVIEW_PER_MINUTE: '1', GUARITA_OIDC_JWKS_REFRESH: '1s' },
  });
  oidcToken = await getToken({ clientId: 'support-agent', audience: 'guarita' });
  await createServiceAccount(ns, 'batch-runner');
  saToken = await serviceAccountToken(ns, 'batch-runner', 'guarita');
  saIssuer = tokenIssuer(saToken) ?? '';
}, 180_000);

afterAll(async () => {
  await sidecar?.stop();
  await ownIdp?.process.stop();
  await upstream?.close();
  await k(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
});

/** Applies `identity`, waits until the sidecar closed `closedBefore + n` sessions for it. */
async function changeIdentityAndWaitClosed(identity: Record<string, unknown>, n = 1): Promise<void> {
  const before = await sidecarCounter('guarita_sidecar_sessions_closed_total', 'reason="identity"');
  await policy(identity);
  await eventually('the sidecar closed the session for the identity change', async () => ((await sidecarCounter('guarita_sidecar_sessions_closed_total', 'reason="identity"')) >= before + n ? true : undefined), 30_000);
}

describe('item 7: a change of spec.identity re-checks open sessions', () => {
  const changes: [string, () => Record<string, unknown>, RegExp][] = [
    ['the issuer moves to another IdP', () => ({ oidc: { issuer: 'https://idp.elsewhere.example', audiences: ['guarita'] } }), /issuer/],
    ['the accepted audiences change', () => ({ oidc: { issuer: requireIdp().issuer, audiences: ['another-audience'] } }), /audience/],
    ['OIDC is dropped for service-account tokens only', () => ({ serviceAccounts: { audiences: ['guarita'] } }), /issuer|service.account/],
    ['the username claim changes to one the token lacks', () => ({ oidc: { issuer: requireIdp().issuer, audiences: ['guarita'], usernameClaim: 'email' } }), /email/],
    ['the groups claim changes (the session\'s identity would differ)', () => ({ oidc: { issuer: requireIdp().issuer, audiences: ['guarita'], groupsClaim: 'roles' } }), /maps to|not among|subjects/],
    ['the accepted algorithms no longer include the token\'s', () => ({ oidc: { issuer: requireIdp().issuer, audiences: ['guarita'], algorithms: ['ES256'] } }), /algorithm/],
    ['the issuer URL is spelled differently (trailing slash)', () => ({ oidc: { issuer: `${requireIdp().issuer}/`, audiences: ['guarita'] } }), /issuer/],
  ];

  it.each(changes)('HTTP keep-alive: %s: the open session is closed and the next request on the same connection is refused', async (_what, identity, why) => {
    await policy(defaultIdentity());
    const c = await Connection.open(listenPort);
    try {
      await eventually('the default identity is in force', async () => ((await c.get('/customers/1', oidcToken)).status === 200 ? true : undefined));
      await changeIdentityAndWaitClosed(identity());
      expect(c.open).toBe(true);
      const refused = await c.get('/customers/1', oidcToken);
      expect([401, 403]).toContain(refused.status);
      expect(refused.body).toMatch(why);
      expect(sidecar.log(400)).toMatch(/spec\.identity changed/);
    } finally {
      c.close();
      await policy(defaultIdentity());
    }
  });

  it('a service-account session is closed when serviceAccounts is removed, and an OIDC one survives', async () => {
    await policy(defaultIdentity());
    const sa = await Connection.open(listenPort);
    const user = await Connection.open(listenPort);
    try {
      await eventually('both sessions open', async () => ((await sa.get('/customers/1', saToken)).status === 200 && (await user.get('/customers/1', oidcToken)).status === 200 ? true : undefined));
      await changeIdentityAndWaitClosed({ oidc: { issuer: requireIdp().issuer, audiences: ['guarita'] } });
      expect((await sa.get('/customers/1', saToken)).status).toBe(401);
      expect((await user.get('/customers/1', oidcToken)).status).toBe(200);
    } finally {
      sa.close();
      user.close();
      await policy(defaultIdentity());
    }
  });

  it('a service-account session is closed when the accepted service-account audiences change', async () => {
    await policy(defaultIdentity());
    const sa = await Connection.open(listenPort);
    try {
      await eventually('session open', async () => ((await sa.get('/customers/1', saToken)).status === 200 ? true : undefined));
      await changeIdentityAndWaitClosed({ oidc: { issuer: requireIdp().issuer, audiences: ['guarita'] }, serviceAccounts: { audiences: ['batch-reports'] } });
      const refused = await sa.get('/customers/1', saToken);
      expect(refused.status).toBe(401);
      expect(refused.body).toMatch(/audience/);
    } finally {
      sa.close();
      await policy(defaultIdentity());
    }
  });

  it('a session whose purpose came from the token\'s purposeClaim is closed when purposeClaim changes', async () => {
    const config = JSON.parse(readFileSync(join(loadHarnessState().runDir, 'idp', 'config.json'), 'utf8')) as { privateJwks: { keys: JWK[] } };
    const jwk = config.privateJwks.keys.find((x) => x.alg === 'RS256');
    if (jwk === undefined) throw new Error('no RS256 key in the harness IdP config');
    const withPurpose = await new SignJWT({ groups: ['support'], guarita_purpose: PURPOSE }).setProtectedHeader({ alg: 'RS256', kid: jwk.kid ?? '' })
      .setIssuer(requireIdp().issuer).setAudience('guarita').setSubject('support-agent').setIssuedAt().setExpirationTime('10m').sign(await importJWK(jwk, 'RS256'));
    const claimed = (purposeClaim: string): Record<string, unknown> => ({ oidc: { issuer: requireIdp().issuer, audiences: ['guarita'], purposeClaim } });
    await policy(claimed('guarita_purpose'));
    const c = await Connection.open(listenPort);
    try {
      await eventually('a session with the purpose from the token', async () => ((await c.get('/customers/1', withPurpose, '')).status === 200 ? true : undefined));
      await changeIdentityAndWaitClosed(claimed('other_purpose'));
      const refused = await c.get('/customers/1', withPurpose, '');
      expect(refused.status).toBe(403);
      expect(refused.body).toMatch(/purpose/);
    } finally {
      c.close();
      await policy(defaultIdentity());
    }
  });

  it('a policy change that leaves spec.identity alone does not close sessions', async () => {
    await policy(defaultIdentity());
    const c = await Connection.open(listenPort);
    try {
      await eventually('session open', async () => ((await c.get('/customers/1', oidcToken)).status === 200 ? true : undefined));
      const closed = await sidecarCounter('guarita_sidecar_sessions_closed_total', 'reason="identity"');
      const purpose = `audit-${id}`;
      await policy(defaultIdentity(), { purposes: [{ name: PURPOSE }, { name: purpose }] });
      // In force once the new purpose is accepted (on another connection: another session).
      const probe = await Connection.open(listenPort);
      await eventually('the policy change reached the sidecar', async () => ((await probe.get('/customers/1', oidcToken, purpose)).status === 200 ? true : undefined));
      probe.close();
      expect((await c.get('/customers/1', oidcToken)).status).toBe(200);
      expect(await sidecarCounter('guarita_sidecar_sessions_closed_total', 'reason="identity"')).toBe(closed);
    } finally {
      c.close();
    }
  });
});

// ---- item 9 -----------------------------------------------------------------------------------

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const nowS = (): number => Math.floor(Date.now() / 1000);

/** Service-account-shaped claims; `over` changes or (undefined) removes some. */
function saClaims(over: Record<string, unknown> = {}): Record<string, unknown> {
  const claims: Record<string, unknown> = { iss: saIssuer, aud: ['guarita'], sub: `system:serviceaccount:${ns}:batch-runner`, exp: nowS() + 600, iat: nowS(), nbf: nowS(), jti: randomBytes(8).toString('hex'), ...over };
  for (const [key, v] of Object.entries(claims)) if (v === undefined) delete claims[key];
  return claims;
}

/** Tokens the local pre-check refuses, one class per entry; each call makes a distinct token. */
function junkCorpus(): Record<string, () => Promise<string> | string> {
  const forged = (over: Record<string, unknown>, header: Record<string, unknown> = { alg: 'RS256', kid: 'x' }): string => `${b64(header)}.${b64(saClaims(over))}.${randomBytes(64).toString('base64url')}`;
  return {
    'random text': () => randomBytes(24).toString('base64url'),
    'two segments': () => `${b64({ alg: 'RS256' })}.${b64(saClaims())}`,
    'four segments': () => `${forged({})}.${randomBytes(4).toString('hex')}`,
    'header not JSON': () => `${b64('not json')}.${b64(saClaims())}.sig${randomBytes(4).toString('hex')}`,
    'payload not JSON': () => `${b64({ alg: 'RS256' })}.${b64(`{oops ${randomBytes(4).toString('hex')}`)}.sig`,
    'alg none': () => new UnsecuredJWT(saClaims()).encode(),
    'alg HS256': () => forged({}, { alg: 'HS256' }),
    'no alg': () => forged({}, { typ: 'JWT' }),
    expired: () => forged({ exp: nowS() - 3600 }),
    'no exp (legacy token)': () => forged({ exp: undefined }),
    'not yet valid': () => forged({ nbf: nowS() + 3600 }),
    'wrong audience': () => forged({ aud: ['guarita-operator'] }),
    'no audience': () => forged({ aud: undefined }),
    'another issuer': () => forged({ iss: 'https://evil.example' }),
    'no issuer': () => forged({ iss: undefined }),
    'a user subject': () => forged({ sub: 'admin' }),
    'huge token': () => forged({ pad: 'x'.repeat(6000) + randomBytes(4).toString('hex'), iss: 'https://evil.example' }),
  };
}

describe('item 9: service-account token floods are bounded before the apiserver', () => {
  it('refuses every class of malformed or mis-bound token locally: no TokenReview at all', async () => {
    const reviews = await sidecarCounter('guarita_sidecar_tokenreviews_total');
    const corpus = junkCorpus();
    const c = await Connection.open(listenPort);
    try {
      for (const [what, make] of Object.entries(corpus)) {
        for (let i = 0; i < 8; i++) {
          const r = await c.get('/customers/1', await make());
          expect({ what, status: r.status }).toEqual({ what, status: 401 });
        }
      }
    } finally {
      c.close();
    }
    expect(await sidecarCounter('guarita_sidecar_tokenreviews_total')).toBe(reviews);
    expect(await sidecarCounter('guarita_sidecar_tokenreview_refused_total', 'reason="precheck-')).toBeGreaterThanOrEqual(Object.keys(corpus).length * 8);
    expect(upstream.seen.some((s) => s.headers.authorization !== 'Bearer upstream-service-token')).toBe(false);
  });

  it('150 well-formed forgeries over one connection and over many cost at most the review budget; a cached good token keeps working', async () => {
    // The good token is reviewed (and cached) before the flood.
    const good = await Connection.open(listenPort);
    expect((await good.get('/customers/1', saToken)).status).toBe(200);
    const apiBefore = await apiserverTokenReviews();
    const sentBefore = await sidecarCounter('guarita_sidecar_tokenreviews_total');
    const attacker = await generateKeyPair('RS256');
    const forge = (): Promise<string> => new SignJWT(saClaims()).setProtectedHeader({ alg: 'RS256', kid: 'forged' }).sign(attacker.privateKey);
    const statuses: number[] = [];
    // A rejected token repeated is answered from the negative cache: one review.
    const repeated = await forge();
    const r = await Connection.open(listenPort);
    try {
      for (let i = 0; i < 30; i++) statuses.push((await r.get('/customers/1', repeated)).status);
    } finally {
      r.close();
    }
    expect(statuses).toEqual(Array.from({ length: 30 }, () => 401));
    const one = await Connection.open(listenPort);
    try {
      for (let i = 0; i < 75; i++) statuses.push((await one.get('/customers/1', await forge())).status);
    } finally {
      one.close();
    }
    for (let i = 0; i < 75; i++) {
      const c = await Connection.open(listenPort);
      try {
        statuses.push((await c.get('/customers/1', await forge())).status);
      } finally {
        c.close();
      }
    }
    expect(statuses.every((s) => s === 401 || s === 503)).toBe(true);
    const limited = await Connection.open(listenPort);
    const answer = await limited.get('/customers/1', await forge());
    limited.close();
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'Unavailable', message: expect.stringMatching(/too many service-account token reviews .*retry in \d+s/) });
    const sent = (await sidecarCounter('guarita_sidecar_tokenreviews_total')) - sentBefore;
    const apiDelta = (await apiserverTokenReviews()) - apiBefore;
    // Burst 8 (plus at most a refill or two at 1 a minute); the old code sent one review per distinct token (151).
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThanOrEqual(10);
    // The apiserver's own count (shared with other tests, so only bounded above by far less than the flood).
    expect(apiDelta).toBeGreaterThanOrEqual(sent);
    expect(apiDelta).toBeLessThan(150);
    // One connection gets a quarter of the budget (2); many connections share the source's.
    expect(await sidecarCounter('guarita_sidecar_tokenreview_refused_total', 'reason="rate-limited-connection"')).toBeGreaterThanOrEqual(70);
    expect(await sidecarCounter('guarita_sidecar_tokenreview_refused_total', 'reason="rate-limited-source"')).toBeGreaterThanOrEqual(60);
    expect(await sidecarCounter('guarita_sidecar_tokenreview_cache_hits_total', 'result="negative"')).toBeGreaterThanOrEqual(29);
    // The good token was cached before the flood: its session keeps working.
    expect((await good.get('/customers/2', saToken)).status).toBe(200);
    good.close();
    expect(await sidecar.metrics()).not.toContain(saToken);
    expect(sidecar.log(2000)).not.toContain(saToken.split('.')[2] ?? saToken);
  });
});

// ---- item 10 ----------------------------------------------------------------------------------

describe('item 10: an IdP outage does not refuse new sessions while the cached keys are within their bound', () => {
  it('the sidecar verifies a never-seen token with the last good keys after its IdP stopped, says so in metrics, and refuses an unknown kid naming the outage', async () => {
    const issuer = ownIdp.coordinates.issuer;
    const seenBefore = await requestToken(ownIdp.coordinates, { clientId: 'support-agent', audience: 'guarita' });
    const neverSeen = await requestToken(ownIdp.coordinates, { clientId: 'batch-job', audience: 'guarita' });
    const c = await Connection.open(ownPort);
    try {
      expect((await c.get('/customers/1', seenBefore)).status).toBe(200);
      await ownIdp.process.stop();
      const attacker = await generateKeyPair('RS256');
      const forge = (): Promise<string> => new SignJWT({ groups: ['support'] }).setProtectedHeader({ alg: 'RS256', kid: `unknown-${randomBytes(4).toString('hex')}` })
        .setIssuer(issuer).setAudience('guarita').setSubject('mallory').setIssuedAt().setExpirationTime('5m').sign(attacker.privateKey);
      // Each new credential asks for the keys; once they are older than the refresh age, a
      // background refresh runs, fails against the stopped IdP, and the stale state shows.
      const stale = new RegExp(`guarita_sidecar_oidc_jwks_stale\\{issuer="${issuer.replace(/[.:/]/g, (m) => `\\${m}`)}"\\} 1`);
      await eventually('the sidecar reports serving stale keys', async () => {
        await c.get('/customers/1', await forge());
        return stale.test(await sidecar.metrics()) ? true : undefined;
      }, 30_000, 300);
      expect(await sidecarCounter('guarita_sidecar_oidc_jwks_refresh_failures_total', `issuer="${issuer}"`)).toBeGreaterThanOrEqual(1);
      // A token the sidecar never saw, signed with a published key: verified with the cached keys.
      const fresh = await c.get('/customers/2', neverSeen);
      expect(fresh.status).toBe(200);
      expect(upstream.seen.at(-1)?.url).toBe('/customers/2');
      // A key the sidecar never fetched: refused, naming the outage, never trusted.
      const unknown = await c.get('/customers/3', await forge());
      expect(unknown.status).toBe(503);
      expect(unknown.body).toMatch(/not among the cached keys .* cannot be asked for new keys/);
      // The other target's issuer is unaffected.
      const other = await Connection.open(listenPort);
      expect((await other.get('/customers/1', oidcToken)).status).toBe(200);
      other.close();
    } finally {
      c.close();
    }
  });
});
