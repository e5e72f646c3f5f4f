// Issue 18 item 7 on the PostgreSQL path: the real sidecar process in front of the harness
// PostgreSQL, node-pg clients with harness-IdP tokens as passwords, and the AccessPolicy's
// spec.identity changed with kubectl on the harness apiserver. An open session whose credential
// no longer verifies under the new identity configuration is terminated (57P01, naming why), and
// the same token cannot log in again; a session whose credential still verifies is left alone.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { request } from 'undici';
import pg from 'pg';
import { createServiceAccount, serviceAccountToken } from '../../e2e/support/kube-apply.ts';
import { k } from '../../e2e/support/kubectl.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { tokenIssuer } from '../src/identity/service-account.ts';
import { loadHarnessState, requireIdp } from '../../e2e/harness/state.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';

jest.setTimeout(90_000);

let s: PgScenario;
let token: string;
const clients: pg.Client[] = [];

beforeAll(async () => {
  // A review budget of 4 per source (1 a minute more) bounds the flood test exactly.
  s = await startPgScenario({ env: { GUARITA_TOKENREVIEW_BURST: '4', GUARITA_TOKENREVIEW_PER_MINUTE: '1' } });
  token = await s.token('support-agent');
}, 180_000);

afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await s?.stop();
}, 60_000);

async function connected(password = token): Promise<{ client: pg.Client; errors: (Error & { code?: string })[] }> {
  const errors: (Error & { code?: string })[] = [];
  const client = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'agent', password, database: s.database, options: PURPOSE_OPTIONS });
  client.on('error', (err: Error & { code?: string }) => errors.push(err));
  clients.push(client);
  await client.connect();
  return { client, errors };
}

type Identity = Record<string, unknown>;
const original = (): Identity => ({ oidc: { issuer: requireIdp().issuer, audiences: ['guarita'], groupsClaim: 'groups' } });

async function setIdentity(identity: Identity): Promise<void> {
  await s.applyPolicy((spec) => { spec.identity = identity; });
}

describe('item 7: PostgreSQL sessions are re-checked when spec.identity changes', () => {
  const changes: [string, Identity, RegExp][] = [
    ['the issuer moves to another IdP', { oidc: { issuer: 'https://idp.elsewhere.example', audiences: ['guarita'] } }, /issuer/],
    ['the accepted audiences change', { oidc: { issuer: '', audiences: ['another-audience'] } }, /audience/],
    ['OIDC is replaced by service-account tokens', { serviceAccounts: { audiences: ['guarita'] } }, /issuer|service.account/],
  ];

  it.each(changes)('%s: the open session is terminated with 57P01 naming the reason, and the token cannot log in again', async (_what, identity, why) => {
    const change = structuredClone(identity);
    const oidc = change.oidc as { issuer: string } | undefined;
    if (oidc?.issuer === '') oidc.issuer = requireIdp().issuer;
    await setIdentity(original());
    const { client, errors } = await eventually('a session under the original identity', async () => {
      const c = await connected();
      await c.client.query('SELECT 1');
      return c;
    });
    try {
      await setIdentity(change);
      const err = await eventually('the session was terminated', () => Promise.resolve(errors[0]), 30_000);
      expect(err.code).toBe('57P01');
      expect(err.message).toMatch(/spec\.identity changed/);
      expect(err.message).toMatch(why);
      await expect(client.query('SELECT 1')).rejects.toThrow();
      const again = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'agent', password: token, database: s.database, options: PURPOSE_OPTIONS });
      again.on('error', () => undefined);
      await expect(again.connect()).rejects.toMatchObject({ code: '28P01', message: expect.stringMatching(why) });
      expect(s.sidecarLog(300)).toMatch(/spec\.identity changed/);
    } finally {
      await client.end().catch(() => undefined);
      await setIdentity(original());
    }
  });

  it('a change that keeps the session\'s credential valid (a second audience added) leaves it open', async () => {
    await setIdentity(original());
    const { client, errors } = await eventually('a session under the original identity', async () => {
      const c = await connected();
      await c.client.query('SELECT 1');
      return c;
    });
    try {
      const changed = (): number => s.sidecarLog(5000).split('AccessPolicy changed').length;
      const before = changed();
      await setIdentity({ oidc: { issuer: requireIdp().issuer, audiences: ['guarita', 'reports'], groupsClaim: 'groups' } });
      await eventually('the sidecar saw the change', () => Promise.resolve(changed() > before ? true : undefined));
      const second = await connected();
      await second.client.query('SELECT 1');
      expect((await client.query('SELECT 2 AS n')).rows).toEqual([{ n: 2 }]);
      expect(errors).toEqual([]);
    } finally {
      await client.end().catch(() => undefined);
    }
  });
});

/** A token the harness IdP could have issued (signed with its RS256 key), expiring in `seconds`. */
async function shortLivedToken(seconds: number): Promise<string> {
  const config = JSON.parse(readFileSync(join(loadHarnessState().runDir, 'idp', 'config.json'), 'utf8')) as { privateJwks: { keys: JWK[] } };
  const jwk = config.privateJwks.keys.find((x) => x.alg === 'RS256');
  if (jwk === undefined) throw new Error('no RS256 key in the harness IdP config');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ groups: ['support'] }).setProtectedHeader({ alg: 'RS256', kid: jwk.kid ?? '', typ: 'at+jwt' })
    .setIssuer(requireIdp().issuer).setAudience('guarita').setSubject('support-agent').setIssuedAt(now).setExpirationTime(now + seconds).sign(await importJWK(jwk, 'RS256'));
}

describe('item 7: a token does not outlive its exp on an open PostgreSQL session', () => {
  it('the session is terminated at the token\'s expiry (57P01 "the credential expired"), whatever the client does', async () => {
    await setIdentity(original());
    const short = await shortLivedToken(4);
    const { client, errors } = await eventually('a session with a short-lived token', async () => {
      const c = await connected(short);
      await c.client.query('SELECT 1');
      return c;
    });
    try {
      // An idle client: the sidecar ends the session on its own at exp.
      const err = await eventually('the session was terminated at exp', () => Promise.resolve(errors[0]), 30_000);
      expect(err.code).toBe('57P01');
      expect(err.message).toMatch(/credential expired/);
      await expect(client.query('SELECT 1')).rejects.toThrow();
      const again = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'agent', password: short, database: s.database, options: PURPOSE_OPTIONS });
      again.on('error', () => undefined);
      await expect(again.connect()).rejects.toMatchObject({ code: '28P01', message: expect.stringMatching(/expired/) });
    } finally {
      await client.end().catch(() => undefined);
    }
  });
});

describe('item 9: service-account token floods over PostgreSQL logins', () => {
  async function counter(name: string, labels = ''): Promise<number> {
    const res = await request(`http://127.0.0.1:${s.adminPort}/metrics`);
    const text = await res.body.text();
    return text.split('\n').filter((l) => l.startsWith(`${name}{`) && l.includes(labels)).reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  }

  async function apiserverTokenReviews(): Promise<number> {
    return (await k(['get', '--raw', '/metrics'])).split('\n').filter((l) => l.startsWith('apiserver_request_total{') && l.includes('resource="tokenreviews"'))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  }

  async function login(password: string): Promise<Error & { code?: string }> {
    const c = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'agent', password, database: s.database, options: PURPOSE_OPTIONS });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.end();
      return Object.assign(new Error('logged in'), { code: 'OK' });
    } catch (err) {
      return err as Error & { code?: string };
    }
  }

  it('60 logins with junk and forged service-account tokens cost at most the review budget; refusals are 28P01 or 57P03', async () => {
    await setIdentity({ ...original(), serviceAccounts: { audiences: ['guarita'] } });
    await createServiceAccount(s.namespace, 'batch-runner');
    const real = await serviceAccountToken(s.namespace, 'batch-runner', 'guarita');
    const issuer = tokenIssuer(real) ?? '';
    const attacker = await generateKeyPair('RS256');
    const now = Math.floor(Date.now() / 1000);
    const forge = (over: Record<string, unknown> = {}): Promise<string> => new SignJWT({ iss: issuer, aud: ['guarita'], sub: `system:serviceaccount:${s.namespace}:batch-runner`, exp: now + 600, jti: randomBytes(6).toString('hex'), ...over })
      .setProtectedHeader({ alg: 'RS256', kid: 'forged' }).sign(attacker.privateKey);
    await eventually('service-account tokens are accepted by the policy in force', async () => ((await login(await forge())).message.includes('service-account') ? true : undefined));
    const sentBefore = await counter('guarita_sidecar_tokenreviews_total');
    const apiBefore = await apiserverTokenReviews();
    const codes: string[] = [];
    for (let i = 0; i < 20; i++) codes.push((await login(randomBytes(20).toString('hex'))).code ?? '');
    for (let i = 0; i < 10; i++) codes.push((await login(await forge({ aud: ['elsewhere'] }))).code ?? '');
    for (let i = 0; i < 30; i++) codes.push((await login(await forge())).code ?? '');
    expect(codes.every((c) => c === '28P01' || c === '57P03')).toBe(true);
    expect(codes.slice(0, 30).every((c) => c === '28P01')).toBe(true);
    const sent = (await counter('guarita_sidecar_tokenreviews_total')) - sentBefore;
    expect(sent).toBeLessThanOrEqual(5);
    expect((await apiserverTokenReviews()) - apiBefore).toBeLessThan(60);
    expect(codes.slice(30).filter((c) => c === '57P03').length).toBeGreaterThanOrEqual(20);
    expect(await counter('guarita_sidecar_tokenreview_refused_total', 'reason="rate-limited-source"')).toBeGreaterThanOrEqual(20);
    await setIdentity(original());
  });
});
