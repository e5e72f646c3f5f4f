// The CLI around a real recorded session: the REAL sidecar (HTTP listener, masking, approvals,
// recording), operator (ingest, approval phases, read API), admission webhook (review stamping)
// and an HTTP upstream on the harness. An approver's `guarita approve` unblocks the agent's held
// command; then an auditor lists, replays, exports and verifies what happened.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../e2e/harness/ports.ts';
import { getToken, kubeconfigPath, requireIdp, requireKube, type TestUser } from '../../e2e/harness/state.ts';
import { apply, getObject, grantSessionReaders } from '../../e2e/support/kube-apply.ts';
import { suffix } from '../../e2e/support/kubectl.ts';
import { type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { agentRequest, httpPolicy, mountCredentials, RAW_PERSONAL, sidecarFixture, startSidecarProcess, startUpstream, type SidecarProcess, type Upstream } from '../../sidecar/test/support.ts';

import type { SessionSummary } from '../../core/recording/store-types.ts';
import { runCli, type CliResult } from './run-cli.ts';
import { startGuaritaSystem, type GuaritaSystem } from '../../e2e/support/guarita-system.ts';

jest.setTimeout(120_000);

const id = suffix();
let ns: string;
const POLICY = 'customers-api';
const PURPOSE = 'customer-support';
const HELD = '/customers/export?page=1';

let system: GuaritaSystem;
let op: OperatorProcess;
let upstream: Upstream;
let sidecar: SidecarProcess;
let token: string;
let approval: string;

function cli(user: TestUser, args: string[]): Promise<CliResult> {
  return runCli([...args, '-n', ns], { env: { KUBECONFIG: kubeconfigPath(user), GUARITA_OPERATOR_URL: op.url, GUARITA_OPERATOR_CA: requireKube().caFile } });
}

beforeAll(async () => {
  upstream = await startUpstream();
  system = await startGuaritaSystem('cli-flow');
  ({ ns, op } = system);
  await apply([
    // Approvers (the DPO group) decide ApprovalRequests; auditors read recordings and policies.
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'reviewers', namespace: ns }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'patch'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'reviewers', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reviewers' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'dpo' }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'policy-reader', namespace: ns }, rules: [{ apiGroups: ['guarita.io'], resources: ['accesspolicies', 'approvalrequests'], verbs: ['get', 'list'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'auditors-read-policies', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'policy-reader' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'auditors' }] },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${POLICY}-credentials`, namespace: ns }, stringData: { token: 'upstream-service-token' } },
  ]);
  await grantSessionReaders(ns, { kind: 'Group', name: 'auditors' });
  const [listenPort = 0] = await freePorts(1);
  // The policy first: the fixture's pod goes through the live webhook, which injects only pods a policy selects.
  await apply([httpPolicy(ns, POLICY, { endpoint: upstream.url, issuer: requireIdp().issuer, listenPort })]);
  const fx = await sidecarFixture(ns);
  mountCredentials(fx, POLICY, { token: 'upstream-service-token' });
  // A hold long enough for a person (here: the test) to find and approve the request.
  sidecar = await startSidecarProcess(fx, { targets: [{ policy: POLICY, target: POLICY, protocol: 'http', listenPort }], operatorUrl: op.url, env: { GUARITA_APPROVAL_WAIT: '45s' } });
  token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
}, 180_000);

afterAll(async () => {
  await sidecar?.stop();
  await Promise.all([system?.stop(), upstream?.close()]);
});

describe('an approval through the CLI', () => {
  it('unblocks the agent\'s held command', async () => {
    const url = (path: string): string => `${sidecar.url(POLICY)}${path}`;
    expect((await agentRequest(url('/customers/1'), { token, purpose: PURPOSE })).status).toBe(200);
    expect((await agentRequest(url('/customers/1'), { token, purpose: PURPOSE, method: 'DELETE' })).status).toBe(403);
    const before = upstream.seen.length;
    const held = agentRequest(url(HELD), { token, purpose: PURPOSE });
    // The approver finds it with the CLI...
    const pending = await eventually('the held command listed as a Pending ApprovalRequest', async () => {
      const r = await cli('dana', ['approvals', 'list', '--pending', '-o', 'json']);
      const items = (JSON.parse(r.out) as { items: { metadata: { name: string }; spec: { command: { text: string } } }[] }).items;
      return items.find((a) => a.spec.command.text === `GET ${HELD}`);
    }, 30_000, 200);
    approval = pending.metadata.name;
    expect(upstream.seen.length).toBe(before);
    // ...and approves it with the CLI: the agent's request, still held, completes.
    const approved = await cli('dana', ['approve', approval, '--reason', `ticket ${id}`]);
    expect(approved).toMatchObject({ code: 0, out: `approvalrequest.guarita.io/${approval} approved by you; reason recorded\n` });
    const res = await held;
    expect(res.status).toBe(200);
    for (const raw of RAW_PERSONAL) expect(res.text).not.toContain(raw);
    expect(upstream.seen.filter((r) => r.url === HELD)).toHaveLength(1);
    await eventually('the request Consumed', async () => ((await getObject<{ status?: { phase?: string } }>('approvalrequest', ns, approval)).status?.phase === 'Consumed' ? true : undefined));
  });
});

describe('the auditor\'s view of that session', () => {
  let session: SessionSummary;

  beforeAll(async () => {
    await eventually('the spool delivered to the operator', async () => (Number((await sidecar.readyz()).body.spoolPending) === 0 ? true : undefined), 30_000, 200);
    const list = await eventually('the session with its approval in the list', async () => {
      const r = await cli('audrey', ['sessions', 'list', '--policy', POLICY, '-o', 'json']);
      return (JSON.parse(r.out) as { items: SessionSummary[] }).items.find((s) => s.approvals > 0 && s.commands >= 3);
    }, 30_000, 300);
    session = list;
  });

  it('lists it: subject, purpose, commands, denials and approvals', async () => {
    const r = await cli('audrey', ['sessions', 'list', '--since', '10m']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`${session.sessionId}\\s+${POLICY}\\s+support-agent\\s+${PURPOSE}\\s+\\d+s ago\\s+\\S+\\s+${session.commands}\\s+1\\s+1\\s+(open|ended)`));
  });

  it('replays it: the allowed, denied and held commands, the approval and the masked results', async () => {
    const r = await cli('audrey', ['replay', session.sessionId, '--speed', '1000']);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Subject support-agent (User; groups support)  purpose ${PURPOSE}`);
    expect(r.out).toMatch(/support-agent> GET \/customers\/1\n\s+✓ allowed · rule read-customers · HTTP 200/);
    expect(r.out).toMatch(/support-agent> DELETE \/customers\/1\n\s+✗ denied · rule deny-deletes/);
    expect(r.out).toContain(`⏸ approval required · rule export-needs-dpo · ApprovalRequest ${approval} created, waiting for approvers`);
    expect(r.out).toMatch(new RegExp(`support-agent> GET /customers/export\\?page=1\\n\\s+✓ allowed · rule export-needs-dpo · approved by ApprovalRequest ${approval} · HTTP 200`));
    expect(r.out).toMatch(new RegExp(`✓ approved by dana \\(groups [^)]*dpo[^)]*\\) at \\S+: "ticket ${id}"`));
    expect(r.out).toContain(`✓ ApprovalRequest ${approval} consumed: the approved command ran once`);
    for (const raw of RAW_PERSONAL) expect(r.out).not.toContain(raw);
    expect(r.err).toContain('each intact and proven by its sidecar\'s checkpoints, signed with its registered key');
  });

  it('exports it (CSV with the approval; JSONL that verifies) and verifies the policy\'s store against its anchor', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'guarita-cli-flow-'));
    expect((await cli('audrey', ['export', '--since', '10m', '-o', join(dir, 'audit.csv')])).code).toBe(0);
    const rows = readFileSync(join(dir, 'audit.csv'), 'utf8').split('\r\n');
    const row = rows.find((l) => l.includes(`GET ${HELD}`) && l.includes(',allow,'));
    expect(row).toContain(`,${session.sessionId},support-agent,support,${PURPOSE},GET ${HELD},allow,export-needs-dpo,${approval},`);
    expect(row).toMatch(/,cpf=\d+;email=\d+,/);
    expect((await cli('audrey', ['export', '-o', join(dir, 'audit.jsonl')])).code).toBe(0);
    expect((await runCli(['verify', '--file', join(dir, 'audit.jsonl')])).code).toBe(0);
    const anchoredAll = await eventually('verify --policy with the head anchored', async () => {
      const v = await cli('audrey', ['verify', '--policy', POLICY, '-o', 'json']);
      const out = JSON.parse(v.out) as { ok: boolean; unanchored: number; anchorState: string };
      return v.code === 0 && out.anchorState === 'matched' && out.unanchored === 0 ? out : undefined;
    }, 20_000, 300);
    expect(anchoredAll.ok).toBe(true);
  });
});
