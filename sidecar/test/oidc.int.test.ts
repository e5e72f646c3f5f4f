// The OIDC verifier against an IdP on loopback that counts what it is asked: discovery and the
// JWKS are cached, an unknown kid refetches the keys at most once per cooldown (a flood of made-up
// kids does not hammer the IdP), a rotated key is picked up, and a lying discovery is refused.
// Outages (issue 18 item 10), on a clock the test moves: the last good keys keep verifying up to
// the configured maximum age and say so in metrics; an unknown kid is refused naming the outage;
// the same against the harness's real OIDC provider (oidc-provider), started here and stopped.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { requestToken } from '../../e2e/harness/idp-client.ts';
import { startIdp } from '../../e2e/harness/idp.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { Metrics } from '../src/metrics.ts';

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
import { AuthError } from '../src/identity/errors.ts';
import { OidcVerifier } from '../src/identity/oidc.ts';

interface FakeIdp { issuer: string; hits: { discovery: number; jwks: number }; keys: JWK[]; discoveryIssuer?: string; down?: boolean; server: Server }

let idp: FakeIdp;
let signer: { kid: string; key: SigningKey };

async function rsaKey(kid: string): Promise<{ jwk: JWK; key: SigningKey }> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  return { jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }, key: privateKey };
}

function token(kid: string, key: SigningKey, over: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ groups: ['support'], ...over }).setProtectedHeader({ alg: 'RS256', kid }).setIssuer(idp.issuer).setAudience('guarita')
    .setSubject('agent-1').setIssuedAt().setExpirationTime('5m').sign(key);
}

beforeAll(async () => {
  const first = await rsaKey('key-1');
  signer = { kid: 'key-1', key: first.key };
  const state: FakeIdp = { issuer: '', hits: { discovery: 0, jwks: 0 }, keys: [first.jwk], server: createServer() };
  state.server.on('request', (req, res) => {
    if (state.down === true) {
      // An outage as a client sees it: the connection is cut without an answer.
      req.socket.destroy();
      return;
    }
    if (req.url === '/.well-known/openid-configuration') {
      state.hits.discovery++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer: state.discoveryIssuer ?? state.issuer, jwks_uri: `${state.issuer}/jwks` }));
      return;
    }
    state.hits.jwks++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((r) => state.server.listen(0, '127.0.0.1', r));
  const addr = state.server.address();
  state.issuer = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
  idp = state;
});

afterAll(async () => {
  await new Promise((r) => idp.server.close(r));
});

const settings = (): { issuer: string; audiences: string[] } => ({ issuer: idp.issuer, audiences: ['guarita'] });

describe('OidcVerifier', () => {
  it('verifies with discovery and JWKS fetched once, then cached', async () => {
    const v = new OidcVerifier();
    for (let i = 0; i < 20; i++) {
      const ok = await v.verify(await token(signer.kid, signer.key), settings());
      expect(ok.identity).toEqual({ subject: 'agent-1', groups: ['support'], kind: 'User', issuer: idp.issuer, claims: { sub: 'agent-1' } });
    }
    expect(idp.hits).toMatchObject({ discovery: 1, jwks: 1 });
  });

  it('does not let a flood of unknown kids hammer the IdP', async () => {
    const v = new OidcVerifier({ jwksCooldownMs: 30_000, minFetchIntervalMs: 5000 });
    await v.verify(await token(signer.kid, signer.key), settings());
    const before = { ...idp.hits };
    const attacker = await rsaKey('x');
    const forged = await Promise.all(Array.from({ length: 200 }, (_, i) => token(`made-up-${i}`, attacker.key)));
    const results = await Promise.allSettled(forged.map((t) => v.verify(t, settings())));
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof AuthError)).toBe(true);
    expect(idp.hits.jwks - before.jwks).toBeLessThanOrEqual(1);
    expect(idp.hits.discovery - before.discovery).toBe(0);
  });

  it('picks up a rotated signing key once the cooldown has passed', async () => {
    const v = new OidcVerifier({ jwksCooldownMs: 300, minFetchIntervalMs: 100 });
    await v.verify(await token(signer.kid, signer.key), settings());
    const rotated = await rsaKey('key-2');
    idp.keys = [...idp.keys, rotated.jwk];
    await new Promise((r) => setTimeout(r, 350));
    const ok = await v.verify(await token('key-2', rotated.key), settings());
    expect(ok.identity.subject).toBe('agent-1');
  });

  it('reads groups, username and purpose from the configured claims', async () => {
    const v = new OidcVerifier();
    const t = await token(signer.kid, signer.key, { roles: ['dpo', 'support'], email: 'agent@exemplo.com.br', guarita_purpose: 'fraud-investigation' });
    const ok = await v.verify(t, { ...settings(), groupsClaim: 'roles', usernameClaim: 'email', purposeClaim: 'guarita_purpose' });
    expect(ok).toMatchObject({ identity: { subject: 'agent@exemplo.com.br', groups: ['dpo', 'support'] }, purpose: 'fraud-investigation' });
    await expect(v.verify(t, { ...settings(), usernameClaim: 'preferred_username' })).rejects.toThrow(/no preferred_username claim/);
  });

  it('refuses an issuer whose discovery names another issuer', async () => {
    idp.discoveryIssuer = 'https://somewhere-else.example';
    try {
      const v = new OidcVerifier();
      await expect(v.verify(await token(signer.kid, signer.key), settings())).rejects.toMatchObject({ code: 'Unavailable', message: expect.stringContaining('names issuer') });
    } finally {
      idp.discoveryIssuer = undefined;
    }
  });
});

/** A clock the test moves. */
function clock(): { now: () => number; advance(ms: number): void } {
  let t = Date.now();
  return { now: () => t, advance: (ms) => { t += ms; } };
}

async function metricValue(metrics: Metrics, name: string): Promise<number | undefined> {
  const line = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('OidcVerifier while the issuer is unreachable (item 10)', () => {
  const MIN = 60_000;
  const HOUR = 3600_000;

  it('keeps verifying with the last good keys up to the maximum age, says so in metrics, then refuses', async () => {
    const t = clock();
    const metrics = new Metrics();
    const v = new OidcVerifier({ now: t.now, metrics, cacheMaxAgeMs: 10 * MIN, maxStaleMs: 24 * HOUR, minFetchIntervalMs: 1000, jwksCooldownMs: 30_000 });
    // Tokens are signed at the real time; the verifier's clock only moves its key cache (and exp).
    const sign = (): Promise<string> => new SignJWT({ groups: ['support'] }).setProtectedHeader({ alg: 'RS256', kid: signer.kid }).setIssuer(idp.issuer).setAudience('guarita')
      .setSubject('agent-1').setIssuedAt().setExpirationTime(Math.floor(t.now() / 1000) + 300).sign(signer.key);
    await v.verify(await sign(), settings());
    expect(await metricValue(metrics, 'guarita_sidecar_oidc_jwks_stale')).toBe(0);
    idp.down = true;
    try {
      t.advance(11 * MIN);
      // Past the refresh age: answered at once with the cached keys, refreshed behind the answer.
      expect((await v.verify(await sign(), settings())).identity.subject).toBe('agent-1');
      await eventually('the failed refresh shows in metrics', async () => ((await metricValue(metrics, 'guarita_sidecar_oidc_jwks_stale')) === 1 ? true : undefined));
      expect(await metricValue(metrics, 'guarita_sidecar_oidc_jwks_refresh_failures_total')).toBeGreaterThanOrEqual(1);
      expect(await metricValue(metrics, 'guarita_sidecar_oidc_jwks_age_seconds')).toBeGreaterThanOrEqual(660);
      t.advance(20 * HOUR);
      expect((await v.verify(await sign(), settings())).identity.subject).toBe('agent-1');
      // A key never fetched is refused, naming the outage (not taken on trust, not "bad signature").
      const unknown = await rsaKey('rotated-during-outage');
      t.advance(MIN);
      await expect(v.verify(await token('rotated-during-outage', unknown.key, { exp: Math.floor(t.now() / 1000) + 300 }), settings()))
        .rejects.toMatchObject({ code: 'Unavailable', reason: 'unknown-key-offline', message: expect.stringContaining('rotated-during-outage') });
      t.advance(4 * HOUR);
      await expect(v.verify(await sign(), settings())).rejects.toMatchObject({ code: 'Unavailable', reason: 'jwks-too-old', message: expect.stringContaining('GUARITA_OIDC_JWKS_MAX_STALE') });
    } finally {
      idp.down = false;
    }
    // The issuer is back: the next verification refreshes and the state clears.
    t.advance(MIN);
    expect((await v.verify(await sign(), settings())).identity.subject).toBe('agent-1');
    expect(await metricValue(metrics, 'guarita_sidecar_oidc_jwks_stale')).toBe(0);
    expect(await metricValue(metrics, 'guarita_sidecar_oidc_jwks_age_seconds')).toBeLessThan(5);
  });

  it('without any keys fetched yet, an unreachable issuer is 503, never an unverified accept', async () => {
    const v = new OidcVerifier({ minFetchIntervalMs: 0 });
    idp.down = true;
    try {
      await expect(v.verify(await token(signer.kid, signer.key), settings())).rejects.toMatchObject({ code: 'Unavailable' });
    } finally {
      idp.down = false;
    }
  });

  it('with the real OIDC provider: stopped after the keys were fetched, its tokens still verify within the bound; unknown kids and too-old keys are refused', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'guarita-idp-outage-'));
    mkdirSync(join(runDir, 'logs'));
    const real = await startIdp(runDir);
    const t = clock();
    const metrics = new Metrics();
    const v = new OidcVerifier({ now: t.now, metrics, cacheMaxAgeMs: 10 * MIN, maxStaleMs: 24 * HOUR, minFetchIntervalMs: 1000 });
    const s = { issuer: real.coordinates.issuer, audiences: ['guarita'] };
    try {
      const tokens = [
        await requestToken(real.coordinates, { clientId: 'support-agent', audience: 'guarita' }),
        await requestToken(real.coordinates, { clientId: 'batch-job', audience: 'guarita' }),
      ];
      expect((await v.verify(tokens[0] ?? '', s)).identity.groups).toContain('support');
      await real.process.stop();
      t.advance(30 * MIN);
      for (const tk of tokens) expect((await v.verify(tk, s)).identity.subject).not.toBe('');
      await eventually('the failed refresh shows in metrics', async () => ((await metricValue(metrics, 'guarita_sidecar_oidc_jwks_stale')) === 1 ? true : undefined));
      const attacker = await generateKeyPair('RS256');
      const forged = await new SignJWT({ groups: ['dpo'] }).setProtectedHeader({ alg: 'RS256', kid: 'not-published' }).setIssuer(s.issuer).setAudience('guarita')
        .setSubject('mallory').setIssuedAt().setExpirationTime('5m').sign(attacker.privateKey);
      t.advance(MIN);
      await expect(v.verify(forged, s)).rejects.toMatchObject({ code: 'Unavailable', reason: 'unknown-key-offline' });
      // A token claiming a published kid but signed by another key fails its signature, outage or not.
      const header = JSON.parse(Buffer.from((tokens[0] ?? '').split('.')[0] ?? '', 'base64url').toString()) as { kid: string; alg: string };
      const spoofed = await new SignJWT({ groups: ['dpo'] }).setProtectedHeader({ alg: 'RS256', kid: header.kid }).setIssuer(s.issuer).setAudience('guarita')
        .setSubject('mallory').setIssuedAt().setExpirationTime('5m').sign(attacker.privateKey);
      if (header.alg === 'RS256') await expect(v.verify(spoofed, s)).rejects.toMatchObject({ code: 'Unauthenticated', reason: 'signature' });
      t.advance(24 * HOUR);
      await expect(v.verify(tokens[0] ?? '', s)).rejects.toMatchObject({ code: 'Unavailable', reason: 'jwks-too-old' });
    } finally {
      await real.process.stop();
    }
  });
});
