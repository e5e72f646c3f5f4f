import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, usage } from './config.ts';
import { DEFAULT_MAX_PENDING_PER_POD, POD_CAP_SETTING } from './reconcile/approval-cap.ts';

// The cap on Pending ApprovalRequests per creating pod (round 11 follow-up: the agent renames the requester).
const dir = mkdtempSync(join(tmpdir(), 'guarita-config-pod-cap-'));
const cert = join(dir, 'tls.crt');
const key = join(dir, 'tls.key');
writeFileSync(cert, 'cert');
writeFileSync(key, 'key');
const env = { GUARITA_NAMESPACE: 'guarita-system', GUARITA_TLS_CERT_FILE: cert, GUARITA_TLS_KEY_FILE: key };

describe('--max-pending-approvals-per-pod / GUARITA_MAX_PENDING_APPROVALS_PER_POD', () => {
  it('defaults to 50 (the reconciler\'s own default too), and a flag overrides the variable', () => {
    expect(loadConfig([], env).maxPendingApprovalsPerPod).toBe(50);
    expect(DEFAULT_MAX_PENDING_PER_POD).toBe(50);
    expect(loadConfig([], { ...env, GUARITA_MAX_PENDING_APPROVALS_PER_POD: '7' }).maxPendingApprovalsPerPod).toBe(7);
    expect(loadConfig(['--max-pending-approvals-per-pod=2'], { ...env, GUARITA_MAX_PENDING_APPROVALS_PER_POD: '7' }).maxPendingApprovalsPerPod).toBe(2);
  });

  // No "0 = unlimited": a cap turned off by a typo would let a renaming agent flood approvers again.
  it.each(['0', '-1', '2.5', 'many'])('refuses %j naming the flag and the variable', (value) => {
    expect(() => loadConfig([], { ...env, GUARITA_MAX_PENDING_APPROVALS_PER_POD: value })).toThrow(`${POD_CAP_SETTING}: expected a positive integer, got "${value}"`);
    expect(() => loadConfig([`--max-pending-approvals-per-pod=${value}`], env)).toThrow(`${POD_CAP_SETTING}: expected a positive integer`);
  });

  it('is documented in --help', () => {
    expect(usage()).toMatch(/--max-pending-approvals-per-pod\s+GUARITA_MAX_PENDING_APPROVALS_PER_POD .*\(default 50\)/);
  });
});
