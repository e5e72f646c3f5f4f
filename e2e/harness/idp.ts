// Starts the harness IdP (idp-server.ts) as a supervised child: generates this run's signing
// keys and client secrets, hands them over in a private config file, and waits for discovery.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { Agent, request, type Dispatcher } from 'undici';
import { IDP_CLIENT_IDS, IDP_CLIENTS, type IdpClientId, type IdpServerConfig } from './idp-config.ts';
import type { IdpCoordinates } from './idp-client.ts';
import { progress } from './log.ts';
import { HARNESS_DIR } from './paths.ts';
import { freePort } from './ports.ts';
import { supervise, waitUntilReady, type Supervised } from './supervisor.ts';

export interface IdpHandle {
  readonly coordinates: IdpCoordinates;
  readonly process: Supervised;
}

interface SigningKey {
  privateJwk: JWK;
  publicJwk: JWK;
}

async function signingKey(alg: 'RS256' | 'ES256'): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const meta = { kid, alg, use: 'sig' };
  return { privateJwk: { ...(await exportJWK(privateKey)), ...meta }, publicJwk: { ...publicJwk, ...meta } };
}

async function discoverable(issuer: string, dispatcher?: Dispatcher): Promise<boolean> {
  const res = await request(`${issuer}/.well-known/openid-configuration`, { headersTimeout: 2000, ...(dispatcher === undefined ? {} : { dispatcher }) });
  const body = (await res.body.json()) as { issuer?: string };
  return res.statusCode === 200 && body.issuer === issuer;
}

/** `tls`: serve https (issuer https://127.0.0.1:<port>) with this certificate, trusted through caFile. */
export async function startIdp(runDir: string, opts: { tls?: { certFile: string; keyFile: string; caFile: string } } = {}): Promise<IdpHandle> {
  const dir = join(runDir, 'idp');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const [port, rs256, es256] = await Promise.all([freePort(), signingKey('RS256'), signingKey('ES256')]);
  const issuer = `${opts.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
  const clients = {} as IdpCoordinates['clients'];
  for (const id of IDP_CLIENT_IDS) clients[id] = { secret: randomBytes(24).toString('base64url'), groups: [...IDP_CLIENTS[id].groups] };
  const config: IdpServerConfig = {
    issuer, port,
    privateJwks: { keys: [rs256.privateJwk, es256.privateJwk] },
    cookieKeys: [randomBytes(32).toString('base64url')],
    clients: IDP_CLIENT_IDS.map((id: IdpClientId) => ({ clientId: id, clientSecret: clients[id].secret, groups: clients[id].groups })),
    ...(opts.tls === undefined ? {} : { tls: { certFile: opts.tls.certFile, keyFile: opts.tls.keyFile } }),
  };
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(config), { mode: 0o600 });

  const proc = supervise({
    name: 'idp',
    command: process.execPath,
    args: ['--disable-warning=ExperimentalWarning', join(HARNESS_DIR, 'idp-server.ts'), configFile],
    cwd: dir,
    logFile: join(runDir, 'logs', 'idp.log'),
  });
  progress('idp', `starting oidc-provider, issuer ${issuer}`);
  const dispatcher = opts.tls === undefined ? undefined : new Agent({ connect: { ca: readFileSync(opts.tls.caFile, 'utf8') } });
  try {
    await waitUntilReady(proc, 'serving discovery', () => discoverable(issuer, dispatcher), { timeoutMs: 30_000 });
  } finally {
    await dispatcher?.close();
  }
  progress('idp', 'ready');
  return {
    coordinates: {
      issuer, discoveryUrl: `${issuer}/.well-known/openid-configuration`, jwksUri: `${issuer}/jwks`, tokenEndpoint: `${issuer}/token`,
      clients, jwks: { keys: [rs256.publicJwk, es256.publicJwk] },
    },
    process: proc,
  };
}
