// The OIDC verifier against an IdP on loopback that counts what it is asked: discovery and the
// JWKS are cached, an unknown kid refetches the keys at most once per cooldown (a flood of made-up
// kids does not hammer the IdP), a rotated key is picked up, and a lying discovery is refused.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
import { AuthError } from '../src/identity/errors.ts';
import { OidcVerifier } from '../src/identity/oidc.ts';

interface FakeIdp { issuer: string; hits: { discovery: number; jwks: number }; keys: JWK[]; discoveryIssuer?: string; server: Server }

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
