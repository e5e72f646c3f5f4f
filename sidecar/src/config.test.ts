import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MIN_SPOOL_BUDGET_BYTES } from '../../core/recording/spool-budget.ts';
import { ConfigError, loadConfig } from './config.ts';
import { durationMs } from '../../core/duration.ts';

let dir: string;
let env: Record<string, string>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sidecar-config-'));
  mkdirSync(join(dir, 'tokens'));
  writeFileSync(join(dir, 'tokens', 'operator'), 'operator-token');
  writeFileSync(join(dir, 'tokens', 'kube'), 'kube-token');
  writeFileSync(join(dir, 'kubeconfig'), 'apiVersion: v1\n');
  env = {
    GUARITA_NAMESPACE: 'lgpd-orders', GUARITA_POD_NAME: 'support-agent', GUARITA_POD_UID: 'uid-1',
    GUARITA_TARGETS: JSON.stringify([
      { policy: 'orders-db', target: 'orders-db', protocol: 'postgres', listenPort: 15432 },
      { policy: 'customers-api', target: 'customers-api', protocol: 'http', listenPort: 18080 },
    ]),
    GUARITA_OPERATOR_URL: 'https://guarita-operator.guarita-system.svc:8443/',
    GUARITA_SPOOL_DIR: join(dir, 'spool'), GUARITA_CREDENTIALS_DIR: join(dir, 'targets'), GUARITA_TOKEN_DIR: join(dir, 'tokens'),
    GUARITA_KUBECONFIG: join(dir, 'kubeconfig'),
  };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function error(over: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig({ ...env, ...over });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('reads the injected environment with the contract defaults', () => {
    const c = loadConfig(env);
    expect(c).toMatchObject({
      namespace: 'lgpd-orders', podName: 'support-agent', podUid: 'uid-1', adminPort: 15090,
      operatorUrl: 'https://guarita-operator.guarita-system.svc:8443', approvalWaitMs: 30_000, policyStalenessMs: 60_000,
      bindHost: '127.0.0.1', httpBinary: 'passthrough',
    });
    expect(c.targets.map((t) => t.target)).toEqual(['orders-db', 'customers-api']);
  });

  it('reads the spool budget the injector sets (unset: none)', () => {
    expect(loadConfig(env).spoolMaxBytes).toBeUndefined();
    expect(loadConfig({ ...env, GUARITA_SPOOL_MAX_BYTES: String(MIN_SPOOL_BUDGET_BYTES) }).spoolMaxBytes).toBe(MIN_SPOOL_BUDGET_BYTES);
  });

  it('reads the pod\'s own addresses (GUARITA_POD_IPS, status.podIPs) and refuses a blank or a non-address', () => {
    expect(loadConfig(env).podIps).toBeUndefined();
    expect(loadConfig({ ...env, GUARITA_POD_IPS: '10.244.1.7,fd00::7' }).podIps).toEqual(['10.244.1.7', 'fd00::7']);
    expect(error({ GUARITA_POD_IPS: '' }).message).toMatch(/^GUARITA_POD_IPS: is set but lists no address/);
    expect(error({ GUARITA_POD_IPS: 'support-agent' }).message).toMatch(/^GUARITA_POD_IPS: must list the pod's IP addresses/);
  });

  it('accepts Go-style durations', () => {
    expect(loadConfig({ ...env, GUARITA_APPROVAL_WAIT: '1m30s', GUARITA_POLICY_STALENESS: '2m' })).toMatchObject({ approvalWaitMs: 90_000, policyStalenessMs: 120_000 });
    expect(durationMs('250ms')).toBe(250);
    expect(durationMs('1d')).toBe(86_400_000);
    expect(durationMs('soon')).toBeUndefined();
  });

  it('reads the identity settings (OIDC key age, service-account issuers, TokenReview budget) with their defaults', () => {
    expect(loadConfig(env)).toMatchObject({ oidcJwksRefreshMs: 600_000, oidcJwksMaxStaleMs: 86_400_000, serviceAccountIssuers: [], tokenReviewBurst: 20, tokenReviewPerMinute: 300, tokenReviewCacheTtlMs: 60_000 });
    expect(loadConfig({
      ...env, GUARITA_OIDC_JWKS_MAX_STALE: '2h', GUARITA_OIDC_JWKS_REFRESH: '5m', GUARITA_SERVICE_ACCOUNT_ISSUERS: 'https://kubernetes.default.svc, https://old.example',
      GUARITA_TOKENREVIEW_BURST: '5', GUARITA_TOKENREVIEW_PER_MINUTE: '60', GUARITA_TOKENREVIEW_CACHE_TTL: '15s',
    })).toMatchObject({ oidcJwksMaxStaleMs: 7_200_000, oidcJwksRefreshMs: 300_000, serviceAccountIssuers: ['https://kubernetes.default.svc', 'https://old.example'], tokenReviewBurst: 5, tokenReviewPerMinute: 60, tokenReviewCacheTtlMs: 15_000 });
  });

  it.each([
    ['GUARITA_OIDC_JWKS_MAX_STALE', { GUARITA_OIDC_JWKS_MAX_STALE: 'a day' }, /duration/],
    ['GUARITA_OIDC_JWKS_MAX_STALE', { GUARITA_OIDC_JWKS_MAX_STALE: '1m' }, /at least GUARITA_OIDC_JWKS_REFRESH/],
    ['GUARITA_OIDC_JWKS_REFRESH', { GUARITA_OIDC_JWKS_REFRESH: '10ms' }, /at least/],
    ['GUARITA_TOKENREVIEW_BURST', { GUARITA_TOKENREVIEW_BURST: '0' }, /positive integer/],
    ['GUARITA_TOKENREVIEW_PER_MINUTE', { GUARITA_TOKENREVIEW_PER_MINUTE: '-3' }, /positive integer/],
    ['GUARITA_TOKENREVIEW_CACHE_TTL', { GUARITA_TOKENREVIEW_CACHE_TTL: '5s' }, /at least 10000ms/],
    ['GUARITA_TOKENREVIEW_CACHE_TTL', { GUARITA_TOKENREVIEW_CACHE_TTL: '1h' }, /at most 10m/],
    ['GUARITA_TOKENREVIEW_CACHE_TTL', { GUARITA_TOKENREVIEW_CACHE_TTL: 'forever' }, /duration/],
  ] as const)('names %s when an identity setting is wrong', (setting, over, message) => {
    const err = error(over);
    expect(err.setting).toBe(setting);
    expect(err.message).toMatch(message);
  });

  it.each([
    ['GUARITA_NAMESPACE', { GUARITA_NAMESPACE: undefined }, /is required/],
    ['GUARITA_POD_NAME', { GUARITA_POD_NAME: '' }, /is required/],
    ['GUARITA_TARGETS', { GUARITA_TARGETS: '[{"policy":"a"' }, /not valid JSON/],
    ['GUARITA_TARGETS', { GUARITA_TARGETS: '[]' }, /non-empty JSON array/],
    ['GUARITA_TARGETS', { GUARITA_TARGETS: '[{"policy":"a","target":"a","protocol":"mysql","listenPort":1}]' }, /\[0\]\.protocol must be http, postgres/],
    ['GUARITA_TARGETS', { GUARITA_TARGETS: '[{"policy":"a","target":"a","protocol":"http","listenPort":15090}]' }, /listenPort 15090 .* admin port/],
    ['GUARITA_TARGETS', { GUARITA_TARGETS: '[{"policy":"A_B","target":"a","protocol":"http","listenPort":8080}]' }, /policy must be a DNS label/],
    ['GUARITA_ADMIN_PORT', { GUARITA_ADMIN_PORT: '70000' }, /port number/],
    ['GUARITA_OPERATOR_URL', { GUARITA_OPERATOR_URL: 'guarita-operator:8443' }, /https/],
    ['GUARITA_OPERATOR_CA_FILE', { GUARITA_OPERATOR_CA_FILE: '/nonexistent/ca.crt' }, /cannot read/],
    ['GUARITA_TOKEN_DIR', { GUARITA_TOKEN_DIR: '/nonexistent' }, /operator/],
    ['GUARITA_KUBECONFIG', { GUARITA_KUBECONFIG: undefined, KUBERNETES_SERVICE_HOST: undefined }, /KUBERNETES_SERVICE_HOST/],
    ['GUARITA_APPROVAL_WAIT', { GUARITA_APPROVAL_WAIT: '30 seconds' }, /duration/],
    ['GUARITA_POLICY_STALENESS', { GUARITA_POLICY_STALENESS: '10ms' }, /at least/],
    ['GUARITA_HTTP_BINARY', { GUARITA_HTTP_BINARY: 'mask' }, /passthrough, refuse/],
    ['GUARITA_SPOOL_MAX_BYTES', { GUARITA_SPOOL_MAX_BYTES: '256Mi' }, /positive integer/],
    ['GUARITA_SPOOL_MAX_BYTES', { GUARITA_SPOOL_MAX_BYTES: String(MIN_SPOOL_BUDGET_BYTES - 1) }, /at least \d+ bytes .*spoolSizeLimit/],
  ] as const)('names %s when it is wrong', (setting, over, message) => {
    const err = error(over);
    expect(err.setting).toBe(setting);
    expect(err.message).toMatch(message);
    expect(err.message.startsWith(`${setting}: `)).toBe(true);
  });

  it('reads GUARITA_PG_MAX_CONNECTIONS (sessions per PostgreSQL listener, default 64) and names it when it is not a positive integer', () => {
    expect(loadConfig(env).pgMaxConnections).toBe(64);
    expect(loadConfig({ ...env, GUARITA_PG_MAX_CONNECTIONS: '8' }).pgMaxConnections).toBe(8);
    for (const bad of ['0', '-1', '1.5', 'sixty-four', 'Infinity', 'NaN']) {
      const err = error({ GUARITA_PG_MAX_CONNECTIONS: bad });
      expect(err.setting).toBe('GUARITA_PG_MAX_CONNECTIONS');
      expect(err.message).toMatch(/^GUARITA_PG_MAX_CONNECTIONS: must be a positive integer/);
    }
  });
});
