// The harness starts real components: these tests prove each one behaves like the real thing
// the product will meet (RBAC decisions, audience-bound service-account tokens, SCRAM logins,
// signed IdP tokens), not just that a port answers.
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { ApiException, AuthenticationV1Api, CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { request } from 'undici';
import { runPsql } from './psql.ts';
import { getToken, kubeConfigFor, kubectl, loadHarnessState, psql, requireIdp, requirePostgres } from './state.ts';

const ns = `harness-${randomBytes(4).toString('hex')}`;

function configMap(name: string): { metadata: { name: string }; data: Record<string, string> } {
  return { metadata: { name }, data: { hello: 'world' } };
}

async function statusOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 201;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

/** RBAC is evaluated from the apiserver's informer cache: a new binding takes effect within moments. */
async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

describe('local control plane', () => {
  const admin = kubeConfigFor('admin').makeApiClient(CoreV1Api);

  beforeAll(async () => {
    await admin.createNamespace({ body: { metadata: { name: ns } } });
  });

  it('creates a namespace and a ConfigMap as admin', async () => {
    await admin.createNamespacedConfigMap({ namespace: ns, body: configMap('admin-made') });
    const read = await admin.readNamespacedConfigMap({ name: 'admin-made', namespace: ns });
    expect(read.data).toEqual({ hello: 'world' });
  });

  it('enforces RBAC: eve is forbidden until a RoleBinding grants her configmaps', async () => {
    const eve = kubeConfigFor('eve').makeApiClient(CoreV1Api);
    expect(await statusOf(eve.createNamespacedConfigMap({ namespace: ns, body: configMap('eve-1') }))).toBe(403);

    const rbac = kubeConfigFor('admin').makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({ namespace: ns, body: {
      metadata: { name: 'configmap-writer' },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'get'] }],
    } });
    await rbac.createNamespacedRoleBinding({ namespace: ns, body: {
      metadata: { name: 'eve-writes-configmaps' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'configmap-writer' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'eve' }],
    } });

    let n = 0;
    const allowed = await eventually(async () => (await statusOf(eve.createNamespacedConfigMap({ namespace: ns, body: configMap(`eve-allowed-${++n}`) }))) === 201);
    expect(allowed).toBe(true);
    // Still only in that namespace.
    expect(await statusOf(eve.createNamespacedConfigMap({ namespace: 'default', body: configMap('eve-elsewhere') }))).toBe(403);
  });

  it('runs the real kubectl as each test user, with the groups from users.ts', async () => {
    const res = await kubectl(['auth', 'whoami', '-o', 'json'], { user: 'alice' });
    expect(res.code).toBe(0);
    const review = JSON.parse(res.stdout);
    expect(review.status.userInfo.username).toBe('alice');
    expect(review.status.userInfo.groups).toEqual(expect.arrayContaining(['support', 'system:authenticated']));

    const denied = await kubectl(['-n', ns, 'get', 'configmaps'], { user: 'carl' });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/forbidden/i);

    const applied = await kubectl(['-n', ns, 'apply', '-f', '-'], {
      user: 'admin',
      input: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', ...configMap('from-stdin') }),
    });
    expect(applied.stdout).toContain('configmap/from-stdin created');
  });

  it('mints an audience-bound ServiceAccount token and validates it with TokenReview', async () => {
    await admin.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'guarita-operator' } } });
    const minted = await admin.createNamespacedServiceAccountToken({
      name: 'guarita-operator', namespace: ns,
      body: { spec: { audiences: ['guarita-operator'], expirationSeconds: 600 } },
    });
    const token = minted.status?.token;
    expect(typeof token).toBe('string');

    const auth = kubeConfigFor('admin').makeApiClient(AuthenticationV1Api);
    const ok = await auth.createTokenReview({ body: { spec: { token: token ?? '', audiences: ['guarita-operator'] } } });
    expect(ok.status?.authenticated).toBe(true);
    expect(ok.status?.audiences).toEqual(['guarita-operator']);
    expect(ok.status?.user?.username).toBe(`system:serviceaccount:${ns}:guarita-operator`);

    const wrong = await auth.createTokenReview({ body: { spec: { token: token ?? '', audiences: ['someone-else'] } } });
    expect(wrong.status?.authenticated).not.toBe(true);
  });
});

describe('postgres', () => {
  it('accepts orders_app over SCRAM-SHA-256', async () => {
    const res = await psql(['-Atc', 'select 1'], { user: 'orders_app' });
    expect(res).toMatchObject({ code: 0, stdout: '1\n' });
  });

  it('stores and checks passwords as SCRAM only', async () => {
    const stored = await psql(['-Atc', "select rolname, rolpassword like 'SCRAM-SHA-256$%' from pg_authid where rolname in ('guarita_admin', 'orders_app') order by 1"], { user: 'guarita_admin', database: 'postgres' });
    expect(stored.stdout).toBe('guarita_admin|t\norders_app|t\n');
    const rules = await psql(['-Atc', 'select distinct auth_method from pg_hba_file_rules'], { user: 'guarita_admin', database: 'postgres' });
    expect(rules.stdout).toBe('scram-sha-256\n');

    const pg = requirePostgres();
    const rejected = await runPsql({ ...pg, passwords: { ...pg.passwords, orders_app: 'not-the-password' } }, ['-c', 'select 1'], { user: 'orders_app' });
    expect(rejected.code).not.toBe(0);
    expect(rejected.stderr).toContain('password authentication failed');
  });
});

describe('oidc idp', () => {
  it('serves discovery for client_credentials', async () => {
    const idp = requireIdp();
    const res = await request(`${idp.issuer}/.well-known/openid-configuration`);
    const doc = (await res.body.json()) as Record<string, unknown>;
    expect(doc.issuer).toBe(idp.issuer);
    expect(doc.jwks_uri).toBe(idp.jwksUri);
    expect(doc.token_endpoint).toBe(idp.tokenEndpoint);
    expect(doc.grant_types_supported).toContain('client_credentials');
  });

  it('issues RS256 JWTs with aud, sub and groups that verify against its JWKS', async () => {
    const idp = requireIdp();
    const token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
    const jwks = createRemoteJWKSet(new URL(idp.jwksUri));
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: idp.issuer, audience: 'guarita' });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload.sub).toBe('support-agent');
    expect(payload.groups).toEqual(['support']);

    await expect(jwtVerify(token, jwks, { issuer: idp.issuer, audience: 'someone-else' })).rejects.toThrow(/aud/);
  });

  it('signs ES256 for guarita-es256, omits groups for outsider, and publishes the keys in the state', async () => {
    const idp = requireIdp();
    const local = createLocalJWKSet(loadHarnessState().idp?.jwks ?? { keys: [] });
    const es = await getToken({ clientId: 'batch-job', audience: 'guarita-es256' });
    expect(decodeProtectedHeader(es).alg).toBe('ES256');
    const { payload } = await jwtVerify(es, local, { issuer: idp.issuer, audience: 'guarita-es256' });
    expect(payload.groups).toEqual(['support', 'batch']);

    const outsider = await jwtVerify(await getToken({ clientId: 'outsider', audience: 'guarita' }), local, { issuer: idp.issuer, audience: 'guarita' });
    expect(outsider.payload.sub).toBe('outsider');
    expect(outsider.payload.groups).toBeUndefined();
  });
});
