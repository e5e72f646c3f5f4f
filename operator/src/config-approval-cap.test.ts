import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, usage } from './config.ts';

// The cap on Pending ApprovalRequests per requester (round 11 review, finding 3).
const dir = mkdtempSync(join(tmpdir(), 'guarita-config-cap-'));
const cert = join(dir, 'tls.crt');
const key = join(dir, 'tls.key');
writeFileSync(cert, 'cert');
writeFileSync(key, 'key');
const env = { GUARITA_NAMESPACE: 'guarita-system', GUARITA_TLS_CERT_FILE: cert, GUARITA_TLS_KEY_FILE: key };

describe('--max-pending-approvals-per-requester / GUARITA_MAX_PENDING_APPROVALS_PER_REQUESTER', () => {
  it('defaults to 20, and a flag overrides the variable', () => {
    expect(loadConfig([], env).maxPendingApprovalsPerRequester).toBe(20);
    expect(loadConfig([], { ...env, GUARITA_MAX_PENDING_APPROVALS_PER_REQUESTER: '5' }).maxPendingApprovalsPerRequester).toBe(5);
    expect(loadConfig(['--max-pending-approvals-per-requester=1'], { ...env, GUARITA_MAX_PENDING_APPROVALS_PER_REQUESTER: '5' }).maxPendingApprovalsPerRequester).toBe(1);
  });

  // No "0 = unlimited": a cap turned off by a typo would put every flood before approvers again.
  it.each(['0', '-1', '2.5', 'many'])('refuses %j naming the flag and the variable', (value) => {
    expect(() => loadConfig([], { ...env, GUARITA_MAX_PENDING_APPROVALS_PER_REQUESTER: value })).toThrow(`--max-pending-approvals-per-requester / GUARITA_MAX_PENDING_APPROVALS_PER_REQUESTER: expected a positive integer, got "${value}"`);
    expect(() => loadConfig([`--max-pending-approvals-per-requester=${value}`], env)).toThrow('--max-pending-approvals-per-requester / GUARITA_MAX_PENDING_APPROVALS_PER_REQUESTER: expected a positive integer');
  });

  it('is documented in --help', () => {
    expect(usage()).toMatch(/--max-pending-approvals-per-requester\s+GUARITA_MAX_PENDING_APPROVALS_PER_REQUESTER .*\(default 20\)/);
  });
});
