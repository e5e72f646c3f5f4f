import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, usage } from './config.ts';

const dir = mkdtempSync(join(tmpdir(), 'guarita-config-'));
const cert = join(dir, 'tls.crt');
const key = join(dir, 'tls.key');
writeFileSync(cert, 'cert');
writeFileSync(key, 'key');
const env = { GUARITA_NAMESPACE: 'guarita-system', GUARITA_TLS_CERT_FILE: cert, GUARITA_TLS_KEY_FILE: key };

describe('loadConfig', () => {
  it('applies defaults', () => {
    const c = loadConfig([], env);
    expect(c).toMatchObject({
      namespace: 'guarita-system', listenHost: '0.0.0.0', listenPort: 8443, metricsPort: 9090, dataDir: '/var/lib/guarita',
      ingestAudience: 'guarita-operator', leaseName: 'guarita-operator-leader', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2000,
      segmentMaxBytes: 64 * 1024 * 1024, anchorIntervalMs: 15_000, defaultSessionRetentionMs: 180 * 86_400_000, storeKeySecret: 'guarita-store-key',
    });
    expect(c.watchNamespaces).toBeUndefined();
    expect(c.identity).toMatch(/_[0-9a-f]{8}$/);
  });

  it('reads the apiserver\'s OIDC username mappings (four-eyes)', () => {
    const c = loadConfig([], { ...env, GUARITA_OIDC_USERNAME_MAPPINGS: '[{"issuer":"https://idp","claim":"email","prefix":""},{"issuer":"https://agents","apiserver":false}]' });
    expect(c.usernameMappings).toEqual([{ issuer: 'https://idp', claim: 'email', prefix: '' }, { issuer: 'https://agents', apiserver: false }]);
    expect(loadConfig([], env).usernameMappings).toEqual([]);
  });

  it('lets flags override the environment', () => {
    const c = loadConfig(['--listen=127.0.0.1:9443', '--watch-namespaces', 'a, b', '--segment-max-bytes=4Ki', '--lease-duration=4s', '--renew-deadline=3s', '--retry-period=500ms'], { ...env, GUARITA_LISTEN: '0.0.0.0:1' });
    expect(c).toMatchObject({ listenHost: '127.0.0.1', listenPort: 9443, watchNamespaces: ['a', 'b'], segmentMaxBytes: 4096, leaseDurationMs: 4000, retryPeriodMs: 500 });
  });

  it.each([
    [[], { ...env, GUARITA_TLS_CERT_FILE: undefined }, '--tls-cert-file / GUARITA_TLS_CERT_FILE is required'],
    [['--anchor-interval=soon'], env, '--anchor-interval / GUARITA_ANCHOR_INTERVAL: expected a duration'],
    [['--renew-deadline=20s'], env, 'must be shorter than --lease-duration'],
    [['--listen=8443'], env, 'expected host:port'],
    [['--watch-namespaces=Bad_NS'], env, 'is not a namespace name'],
    [['--bogus=1'], env, 'unknown flag --bogus'],
    [[], { ...env, GUARITA_LOG_LEVEL: 'loud' }, 'expected one of'],
    [[], { ...env, GUARITA_TLS_KEY_FILE: join(dir, 'missing.key') }, 'cannot read'],
    // Four-eyes: the old prefix-only setting guessed the claim; a mapping without a prefix is a guess too.
    [[], { ...env, GUARITA_OIDC_USERNAME_PREFIX: 'oidc:' }, 'GUARITA_OIDC_USERNAME_PREFIX: replaced by --oidc-username-mappings / GUARITA_OIDC_USERNAME_MAPPINGS'],
    [['--oidc-username-mappings=[{"issuer":"https://idp","claim":"sub"}]'], env, 'GUARITA_OIDC_USERNAME_MAPPINGS[0]: prefix is required'],
  ] as const)('refuses %j naming the setting', (argv, e, message) => {
    expect(() => loadConfig(argv, e)).toThrow(message);
  });

  it('documents every setting in --help', () => {
    expect(usage()).toContain('GUARITA_RETENTION_INTERVAL');
  });
});
