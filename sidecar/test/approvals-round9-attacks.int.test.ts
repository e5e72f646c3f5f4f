// Round 9 adversarial review of just-in-time approvals, finding 1 (docs/security-model.md, "An
// approval used under another plan than the one it answered"), with the controls and the identity
// classes that held. Real sidecar process, real admission webhook and operator, real
// kube-apiserver, real PostgreSQL, approvals given by the harness users dana (group dpo) and audrey
// (group auditors) with kubectl, the agent talking through psql and plain HTTP requests. The
// PostgreSQL findings of the same review (parameters, the database) are in
// approvals-round9-pg-attacks.int.test.ts.
//
// The finding-1 tests failed on the code they were written against: an approval given under a
// rule's plan was consumed after the rule asked for more approvals or other approvers (the "policy
// in force decides" re-check compared the plan in force with itself when the approval was found on
// a retry, the normal path once GUARITA_APPROVAL_WAIT ends), and the signed evidence named the new
// rule's approver groups. Now the command is held on a new request that records the rule in force,
// the operator expires the old one naming the change, and the evidence names the plan answered.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createPrivateKey, sign as rsaSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { importJWK, SignJWT, type JWK } from 'jose';
import { getToken, loadHarnessState, requireIdp } from '../../e2e/harness/state.ts';
import { apply, getObject, grantSessionReaders, serviceAccountToken } from '../../e2e/support/kube-apply.ts';
import { startGuaritaSystem, type GuaritaSystem } from '../../e2e/support/guarita-system.ts';
import { k } from '../../e2e/support/kubectl.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { startPgScenario, type PgScenario } from './pg-scenario.ts';
import { agentRequest, fetchExport, httpPolicy, startHttpSidecar, startUpstream, type SidecarProcess, type Upstream } from './support.ts';

jest.setTimeout(180_000);

let s: PgScenario;
let support: string;

interface Ar {
  metadata: { name: string };
  spec: { rule: string; command: { text: string } };
  status?: { phase?: string; required?: number; approvals?: number; reviews?: { reviewer: string }[]; message?: string };
}

async function requests(): Promise<Ar[]> {
  return (JSON.parse(await k(['get', 'approvalrequests', '-n', s.namespace, '-o', 'json'])) as { items: Ar[] }).items;
}

async function request(name: string): Promise<Ar | undefined> {
  return (await requests()).find((r) => r.metadata.name === name);
}

async function phase(name: string, want: string): Promise<void> {
  await eventually(`${name} ${want}`, async () => ((await request(name))?.status?.phase === want ? true : undefined), 30_000, 100);
}

async function approveAs(user: 'dana' | 'audrey', name: string, reason: string): Promise<void> {
  await k(['patch', 'approvalrequest', name, '-n', s.namespace, '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/spec/reviews/-', value: { decision: 'Approved', reason } }])], user);
  await phase(name, 'Approved');
}

const approveAsDana = (name: string, reason: string): Promise<void> => approveAs('dana', name, reason);

/** The old request expires, its message naming the change (the operator). */
async function expiredFor(name: string, change: RegExp): Promise<void> {
  await phase(name, 'Expired');
  expect((await request(name))?.status?.message).toMatch(change);
}

type Spec = Record<string, unknown> & { rules: Record<string, unknown>[] };

/**
 * Applies the example policy changed by `change`, with a deny rule for a table that exists nowhere
 * (`probe_<tag>`) in front, and waits until the sidecar enforces it (the probe is denied by that rule):
 * the sidecar then decides under exactly this policy.
 */
async function policyInForce(tag: string, change: (spec: Spec) => void = () => undefined): Promise<void> {
  const probe = `probe_${tag}`;
  await s.applyPolicy((raw) => {
    const spec = raw as Spec;
    change(spec);
    spec.rules.unshift({ name: `probe-${tag}`, match: { sql: { tables: [`public.${probe}`] } }, action: 'deny' });
  });
  await eventually(`policy ${tag} in force`, async () => {
    const r = await s.psql(support, ['-c', `SELECT * FROM ${probe}`], { onErrorStop: false, timeoutMs: 20_000 });
    return r.stderr.includes(`probe-${tag}`) ? true : undefined;
  }, 30_000, 250);
}

function exportsRule(spec: Spec): Record<string, unknown> {
  const rule = spec.rules.find((r) => r.name === 'exports-need-dpo');
  if (rule === undefined) throw new Error('the example policy has no exports-need-dpo rule');
  return rule;
}

/** The `approval` field of the signed approval.consumed record of `name`, as the operator exports it (for failure messages). */
async function signedApproval(name: string): Promise<string> {
  try {
    return await eventually(`approval.consumed of ${name} ingested`, async () => {
      const records = (await fetchExport(s.operator?.url ?? '', s.namespace)).records as unknown as { type: string; approvalRequest?: string; approval?: unknown }[];
      const r = records.find((x) => x.type === 'approval.consumed' && x.approvalRequest === name);
      return r === undefined ? undefined : JSON.stringify(r.approval);
    }, 20_000, 500);
  } catch (err) {
    return `(not read: ${(err as Error).message.slice(0, 200)})`;
  }
}

/** psql -c SQL through the sidecar; the ApprovalRequest it is held on. */
async function heldOn(sql: string): Promise<string> {
  const held = await s.psql(support, ['-c', sql], { onErrorStop: false, timeoutMs: 30_000 });
  expect(held.code).not.toBe(0);
  const name = /ApprovalRequest (\S+?)[\s,:;]/.exec(held.stderr)?.[1];
  if (name === undefined) throw new Error(`not held: ${held.stderr}`);
  return name;
}

beforeAll(async () => {
  s = await startPgScenario({ operator: true, webhook: true, approvalWait: '3s' });
  await k(['apply', '-f', '-'], 'admin', JSON.stringify({
    apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'approver', namespace: s.namespace }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'patch'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'approvers', namespace: s.namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'approver' }, subjects: [
        { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'dpo' },
        { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'auditors' },
      ] },
    ],
  }));
  // audrey (group auditors) reads the operator's export in failure messages (the signed evidence).
  await grantSessionReaders(s.namespace, { kind: 'Group', name: 'auditors' });
  support = await s.token('support-agent');
}, 240_000);

afterAll(async () => {
  await s?.stop();
}, 60_000);

describe('round 9: an approval given under one plan, consumed after the rule became stricter', () => {
  it('the rule now needs 2 approvals: the approval one dpo member gave before still runs the export', async () => {
    await policyInForce('a1');
    const sql = 'COPY (SELECT id, status FROM orders WHERE id <= 2) TO STDOUT';
    const name = await heldOn(sql);
    await approveAsDana(name, 'round 9 a1');

    // The DPO's office tightens exports: two approvals from now on.
    await policyInForce('a1b', (spec) => { exportsRule(spec).approval = { approverGroups: ['dpo'], minApprovals: 2, ttl: '15m' }; });
    const retry = await s.psql(support, ['-c', sql], { onErrorStop: false, timeoutMs: 30_000 });
    const after = await request(name);
    // Evidence of what happened, in the failure message.
    const seen = `retry exit ${retry.code}, stdout ${JSON.stringify(retry.stdout)}, stderr ${JSON.stringify(retry.stderr.slice(0, 400))}; `
      + `${name}: phase ${after?.status?.phase}, approvals ${after?.status?.approvals}/${after?.status?.required}`;
    // docs/approvals.md: the command runs only if the policy in force "holds it by the same rule with
    // a plan the approval satisfies (the same approver groups, no more approvals)". 1 of 2 does not.
    expect(seen).toMatch(/^retry exit [1-9]/);
    expect(retry.stdout).toBe('');
    // Held on a new request, which records the rule in force; the old one expires, naming the change.
    const again = /ApprovalRequest (\S+?)[\s,:;]/.exec(retry.stderr)?.[1];
    expect(again).toEqual(expect.any(String));
    expect(again).not.toBe(name);
    expect((await getObject<{ spec: { approval?: unknown } }>('approvalrequest', s.namespace, again ?? '')).spec.approval).toEqual({ approverGroups: ['dpo'], minApprovals: 2, ttlSeconds: 900 });
    await expiredFor(name, /the policy changed after the approval: the rule now needs 2 approval\(s\), the request asked for 1/);
  });

  it('the rule now needs another approver group: the approval a dpo member gave before still runs the export', async () => {
    await policyInForce('a2');
    const sql = 'COPY (SELECT id, status FROM orders WHERE id <= 3) TO STDOUT';
    const name = await heldOn(sql);
    await approveAsDana(name, 'round 9 a2');

    // Exports are now the auditors' call, not the dpo's.
    await policyInForce('a2b', (spec) => { exportsRule(spec).approval = { approverGroups: ['auditors'], minApprovals: 1, ttl: '15m' }; });
    const retry = await s.psql(support, ['-c', sql], { onErrorStop: false, timeoutMs: 30_000 });
    const after = await request(name);
    const seen = `retry exit ${retry.code}, stdout ${JSON.stringify(retry.stdout)}, stderr ${JSON.stringify(retry.stderr.slice(0, 400))}; `
      + `${name}: phase ${after?.status?.phase}, reviewers ${JSON.stringify(after?.status?.reviews?.map((r) => r.reviewer))}; `
      + `signed evidence: ${await signedApproval(name)}`;
    expect(seen).toMatch(/^retry exit [1-9]/);
    expect(retry.stdout).toBe('');
    await expiredFor(name, /approver group\(s\) dpo no longer approve \(approverGroups now: auditors\)/);

    // The new request is the auditors' to approve; the signed evidence names the plan it answered.
    const again = /ApprovalRequest (\S+?)[\s,:;]/.exec(retry.stderr)?.[1] ?? '';
    expect(again).not.toBe(name);
    await approveAs('audrey', again, 'round 9 a2 auditors');
    const run = await s.psql(support, ['-c', sql], { onErrorStop: false, timeoutMs: 30_000 });
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(3);
    const evidence = JSON.parse(await signedApproval(again)) as { approverGroups?: string[]; required?: number; reviews?: { reviewer: string; groups: string[] }[] };
    expect(evidence).toMatchObject({ approverGroups: ['auditors'], required: 1, reviews: [{ reviewer: 'audrey', groups: expect.arrayContaining(['auditors']) }] });
  });
});

describe('round 9: controls (pass on the current code)', () => {
  it('control: a policy change elsewhere (masking) after the approval: the approved export runs once', async () => {
    await policyInForce('c1');
    const sql = 'COPY (SELECT id, status FROM orders WHERE id <= 4) TO STDOUT';
    const name = await heldOn(sql);
    await approveAsDana(name, 'round 9 c1');
    await policyInForce('c1b', (spec) => { (spec.masking as Record<string, unknown>).style = 'redact'; });
    const retry = await s.psql(support, ['-c', sql], { onErrorStop: false, timeoutMs: 30_000 });
    expect(retry.code).toBe(0);
    expect(retry.stdout.trim().split('\n')).toHaveLength(4);
    await phase(name, 'Consumed');
  });
});

describe('round 9, HTTP target: the same class through the HTTP listener (shared sidecar/src/approvals.ts and enforcer)', () => {
  let system: GuaritaSystem;
  let upstream: Upstream;
  let sidecar: SidecarProcess;
  let port: number;
  let token: string;
  const POLICY = 'customers-api';

  beforeAll(async () => {
    upstream = await startUpstream();
    system = await startGuaritaSystem('r9-http');
    await apply([
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'reviewers', namespace: system.ns }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'patch'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'reviewers', namespace: system.ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reviewers' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'dpo' }] },
    ]);
    ({ sidecar, port } = await startHttpSidecar(system.ns, POLICY, { upstreamUrl: upstream.url, issuer: requireIdp().issuer, operatorUrl: system.op.url }));
    token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
  }, 180_000);

  afterAll(async () => {
    await sidecar?.stop();
    await Promise.all([system?.stop(), upstream?.close()]);
  }, 60_000);

  const url = (path: string): string => `http://127.0.0.1:${port}${path}`;

  it('the export rule now needs 2 approvals from another group: the approval one dpo member gave before still runs the export (200)', async () => {
    const held = await agentRequest(url('/customers/export?r9=1'), { token, purpose: 'customer-support' });
    expect(held.status).toBe(409);
    const name = String(held.json().approvalRequest);
    await k(['patch', 'approvalrequest', name, '-n', system.ns, '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/spec/reviews/-', value: { decision: 'Approved', reason: 'round 9 http' } }])], 'dana');
    await eventually(`${name} Approved`, async () => ((await getObject<Ar>('approvalrequest', system.ns, name)).status?.phase === 'Approved' ? true : undefined), 30_000, 100);

    // Exports become the auditors' call, two of them; a probe rule in front tells when the sidecar enforces it.
    const base = httpPolicy(system.ns, POLICY, { endpoint: upstream.url, issuer: requireIdp().issuer, listenPort: port }) as { spec: { rules: Record<string, unknown>[] } };
    const rules = base.spec.rules.map((r) => (r.name === 'export-needs-dpo' ? { ...r, approval: { approverGroups: ['auditors'], minApprovals: 2, ttl: '15m' } } : r));
    await apply([httpPolicy(system.ns, POLICY, { endpoint: upstream.url, issuer: requireIdp().issuer, listenPort: port, over: { rules: [{ name: 'probe-r9', match: { http: { methods: ['GET'], paths: ['/probe-r9'] } }, action: 'deny' }, ...rules] } })]);
    await eventually('the stricter policy in force', async () => {
      const r = await agentRequest(url('/probe-r9'), { token, purpose: 'customer-support' });
      return r.status === 403 && r.text.includes('probe-r9') ? true : undefined;
    }, 30_000, 250);

    const retry = await agentRequest(url('/customers/export?r9=1'), { token, purpose: 'customer-support' });
    const after = await getObject<Ar>('approvalrequest', system.ns, name);
    const seen = `retry ${retry.status} ${retry.text.slice(0, 200)}; ${name}: phase ${after.status?.phase}, approvals ${after.status?.approvals}/${after.status?.required}`;
    expect(seen).not.toMatch(/^retry 200/);
    // Held (409) on a new request recording the rule in force; the old one is never consumed.
    expect(retry.status).toBe(409);
    const again = String(retry.json().approvalRequest);
    expect(again).not.toBe(name);
    expect((await getObject<{ spec: { approval?: unknown } }>('approvalrequest', system.ns, again)).spec.approval).toEqual({ approverGroups: ['auditors'], minApprovals: 2, ttlSeconds: 900 });
    await eventually(`${name} Expired`, async () => ((await getObject<Ar>('approvalrequest', system.ns, name)).status?.phase === 'Expired' ? true : undefined), 30_000, 100);
  });
  // Identity classes of the brief that held (controls: they pass on the current code).
  const idpKey = (): JWK => {
    const config = JSON.parse(readFileSync(join(loadHarnessState().runDir, 'idp', 'config.json'), 'utf8')) as { privateJwks: { keys: JWK[] } };
    const key = config.privateJwks.keys.find((x) => x.alg === 'RS256');
    if (key === undefined) throw new Error('no RS256 key in the IdP config');
    return key;
  };
  const claims = (over: Record<string, unknown> = {}): Record<string, unknown> => {
    const now = Math.floor(Date.now() / 1000);
    return { iss: requireIdp().issuer, aud: 'guarita', sub: 'support-agent', groups: ['support'], iat: now, exp: now + 600, ...over };
  };
  const signed = async (payload: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> => {
    const jwk = idpKey();
    return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: jwk.kid ?? '', typ: 'JWT', ...header }).sign(await importJWK(jwk, 'RS256'));
  };

  it('held: IdP-signed tokens with nbf an hour ahead, without exp, or with a critical header the sidecar does not know are refused (401); the genuine one passes', async () => {
    const now = Math.floor(Date.now() / 1000);
    const statuses: Record<string, number> = {};
    const cases: Record<string, () => Promise<string>> = {
      genuine: () => signed(claims()),
      'nbf in an hour': () => signed(claims({ nbf: now + 3600 })),
      'no exp': () => signed(claims({ exp: undefined })),
      'crit header': () => {
        // Signed by hand: jose's SignJWT itself refuses an unknown critical header.
        const jwk = idpKey();
        const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
        const head = `${b64({ alg: 'RS256', kid: jwk.kid ?? '', typ: 'JWT', crit: ['x-unknown'], 'x-unknown': 1 })}.${b64(claims())}`;
        return Promise.resolve(`${head}.${rsaSign('sha256', Buffer.from(head), createPrivateKey({ key: jwk, format: 'jwk' })).toString('base64url')}`);
      },
      'another sidecar\'s audience only': () => signed(claims({ aud: 'guarita-operator' })),
    };
    for (const [what, make] of Object.entries(cases)) statuses[what] = (await agentRequest(url('/customers/1'), { token: await make(), purpose: 'customer-support' })).status;
    expect(statuses).toEqual({ genuine: 200, 'nbf in an hour': 401, 'no exp': 401, 'crit header': 401, 'another sidecar\'s audience only': 401 });
  });

  it('held: a real service-account token the apiserver issued for another audience (the operator\'s) is refused (401)', async () => {
    await k(['create', 'serviceaccount', 'batch-runner', '-n', system.ns]).catch(() => undefined);
    const good = await serviceAccountToken(system.ns, 'batch-runner', 'guarita', 600);
    const other = await serviceAccountToken(system.ns, 'batch-runner', 'guarita-operator', 600);
    const statuses = {
      guarita: (await agentRequest(url('/customers/1'), { token: good, purpose: 'customer-support' })).status,
      'guarita-operator': (await agentRequest(url('/customers/1'), { token: other, purpose: 'customer-support' })).status,
    };
    expect(statuses).toEqual({ guarita: 200, 'guarita-operator': 401 });
  });
});
