// GUARITA_KUBE_MEMORY_LIMIT (round 11 review, finding 4): the container's memory limit the
// Kubernetes listener budgets answers from when its cgroup states none.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './config.ts';

let dir: string;
let env: Record<string, string>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sidecar-config-kube-'));
  mkdirSync(join(dir, 'tokens'));
  writeFileSync(join(dir, 'tokens', 'operator'), 'operator-token');
  writeFileSync(join(dir, 'kubeconfig'), 'apiVersion: v1\n');
  env = {
    GUARITA_NAMESPACE: 'ns', GUARITA_POD_NAME: 'agent', GUARITA_POD_UID: 'uid-1',
    GUARITA_TARGETS: JSON.stringify([{ policy: 'cluster', target: 'cluster', protocol: 'kubernetes', listenPort: 16443 }]),
    GUARITA_OPERATOR_URL: 'https://guarita-operator.guarita-system.svc:8443/',
    GUARITA_SPOOL_DIR: join(dir, 'spool'), GUARITA_CREDENTIALS_DIR: join(dir, 'targets'), GUARITA_TOKEN_DIR: join(dir, 'tokens'),
    GUARITA_KUBECONFIG: join(dir, 'kubeconfig'), GUARITA_KUBE_CA_DIR: join(dir, 'kube'),
  };
  mkdirSync(join(dir, 'kube'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('GUARITA_KUBE_MEMORY_LIMIT', () => {
  it('is absent by default (the listener reads the cgroup, else assumes 256 MiB)', () => {
    expect(loadConfig(env).kubeMemoryLimit).toBeUndefined();
  });
  it('is read in bytes (what the downward API gives for limits.memory)', () => {
    expect(loadConfig({ ...env, GUARITA_KUBE_MEMORY_LIMIT: '536870912' }).kubeMemoryLimit).toBe(536870912);
  });
  it.each(['256Mi', '-1', '0', '1.5'])('%s is refused, naming the setting', (v) => {
    expect(() => loadConfig({ ...env, GUARITA_KUBE_MEMORY_LIMIT: v })).toThrow(ConfigError);
    expect(() => loadConfig({ ...env, GUARITA_KUBE_MEMORY_LIMIT: v })).toThrow(/GUARITA_KUBE_MEMORY_LIMIT/);
  });
});
