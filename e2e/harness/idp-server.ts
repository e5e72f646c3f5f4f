// The harness IdP process: a real oidc-provider over HTTP on loopback, started by idp.ts under
// the watchdog like every other component (a crash or hang here cannot take Jest down with it).
// It issues client_credentials access tokens as signed JWTs (RFC 9068) whose `aud` is the
// requested resource and whose `groups` claim comes from the client's registration.
// Usage: node e2e/harness/idp-server.ts <config.json>
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import Provider, { type KoaContextWithOIDC } from 'oidc-provider';
import { audienceFor, signingAlgFor, type IdpServerConfig } from './idp-config.ts';

function loadConfig(): IdpServerConfig {
  const file = process.argv[2];
  if (file === undefined) throw new Error('usage: idp-server.ts <config.json>');
  return JSON.parse(readFileSync(file, 'utf8')) as IdpServerConfig;
}

function resourceServerInfo(_ctx: KoaContextWithOIDC, resourceIndicator: string): object {
  const audience = audienceFor(resourceIndicator);
  return { scope: 'api', audience, accessTokenFormat: 'jwt', accessTokenTTL: 3600, jwt: { sign: { alg: signingAlgFor(audience) } } };
}

function groupsClaim(ctx: KoaContextWithOIDC): object | undefined {
  const groups = ctx.oidc.client?.metadata().groups;
  // A client without groups gets no groups claim at all, as real IdPs do for users in no group.
  return Array.isArray(groups) && groups.length > 0 ? { groups } : undefined;
}

function createProvider(config: IdpServerConfig): Provider {
  return new Provider(config.issuer, {
    clients: config.clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      groups: [...c.groups],
    })),
    extraClientMetadata: { properties: ['groups'] },
    jwks: config.privateJwks,
    cookies: { keys: config.cookieKeys },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: resourceServerInfo,
      },
    },
    extraTokenClaims: (ctx: KoaContextWithOIDC) => groupsClaim(ctx),
    // Resource servers set their own TTL; this covers a request without a resource indicator.
    ttl: { ClientCredentials: 3600 },
  });
}

function main(): void {
  const config = loadConfig();
  const provider = createProvider(config);
  provider.on('server_error', (_ctx, err) => console.error('server_error', err));
  provider.on('grant.error', (_ctx, err) => console.error('grant.error', err instanceof Error ? err.message : err));
  provider.on('grant.success', (ctx) => console.error('grant.success', (ctx as KoaContextWithOIDC).oidc.client?.clientId));
  const tls = config.tls;
  const server = tls === undefined ? createServer(provider.callback()) : createTlsServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, provider.callback());
  server.listen(config.port, '127.0.0.1', () => console.error(`idp listening, issuer ${config.issuer}`));
  const shutdown = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main();
