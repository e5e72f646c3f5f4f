// Round 9b: adversarial review of the round 9 approval fixes (8fac68e: spec.approval, plan.ts,
// status.consumeBy, pod uid; b86268c: PostgreSQL parameters/EXECUTE unapprovable, the client's
// database bound as the first line of the command text). Real sidecar process, real admission
// webhook and operator, real kube-apiserver, real PostgreSQL, approvals by the harness users dana
// (group dpo) and audrey (group auditors) with kubectl.
//
// Findings (these tests failed on the code they were written against; the F1 tests now assert the
// fix: such text is unapprovable, docs/security-model.md "Round 9b"):
//  - F1 the `-- database: "<name>"` first line is only written when the client chooses the database;
//    under a policy that pins spec.target.database the agent's own SQL can begin with that very line,
//    so the approver reads a database the statement never runs in; and an approval given under an
//    unpinned policy for one database runs, after the policy pins another, in that other one (the
//    agent resends the approved text, database line included, verbatim).
//  - F2 the signed evidence names the recorded plan's approverGroups even when the approval came
//    from a group the rule admitted only later (a loosened rule): the record says the approvers were
//    `dpo` and lists one review, by an auditor.
// Controls (pass): the approval flow of the Kubernetes and SSH targets with the new spec.approval
// field, end to end, and a stricter rule holding anew there.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../e2e/harness/ports.ts';
import { startSshd, type SshdHandle } from '../../e2e/harness/sshd.ts';
import { getToken, psql as adminPsql, requireIdp, requireKube } from '../../e2e/harness/state.ts';
import { apply, getObject, grantSessionReaders, serviceAccountToken } from '../../e2e/support/kube-apply.ts';
import { startGuaritaSystem, type GuaritaSystem } from '../../e2e/support/guarita-system.ts';
import { k, suffix } from '../../e2e/support/kubectl.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { agentKubectl, readerCredential, writeAgentKubeconfig, type Ran } from './kube-agent.ts';
import { startPgScenario, type PgScenario } from './pg-scenario.ts';
import { fetchExport, mountCredentials, sidecarFixture, startSidecarProcess, type SidecarFixture, type SidecarProcess, type TargetSpec } from './support.ts';

jest.setTimeout(180_000);

interface Ar {
  metadata: { name: string };
  spec: { rule: string; command: { text: string }; approval?: { approverGroups: string[]; minApprovals: number; ttlSeconds: number } };
  status?: { phase?: string; required?: number; approvals?: number; message?: string; consumeBy?: string };
}

const heldName = (message: string): string | undefined => /ApprovalRequest ([a-z0-9][a-z0-9.-]*[a-z0-9])/.exec(message)?.[1];

async function review(ns: string, user: 'dana' | 'audrey', name: string, reason: string): Promise<void> {
  const patch = JSON.stringify([{ op: 'add', path: '/spec/reviews/-', value: { decision: 'Approved', reason } }]);
  // The webhook judges the reviewer by its own policy cache: retried until it has the policy in force.
  await eventually(`${user} reviews ${name}`, async () => {
    try {
      await k(['patch', 'approvalrequest', name, '-n', ns, '--type=json', '-p', patch], user);
      return true;
    } catch {
      return undefined;
    }
  }, 20_000, 250);
  await eventually(`${name} Approved`, async () => ((await getObject<Ar>('approvalrequest', ns, name)).status?.phase === 'Approved' ? true : undefined), 30_000, 100);
}

const reviewerRbac = (ns: string, groups: string[]): Record<string, unknown>[] => [
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'approver', namespace: ns }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'patch'] }] },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'approvers', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'approver' }, subjects: groups.map((name) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name })) },
];

// ---- PostgreSQL ----------------------------------------------------------------------------------

describe('PostgreSQL', () => {
  let s: PgScenario;
  let support: string;
  let other: string;

  type Spec = Record<string, unknown> & { rules: Record<string, unknown>[] };

  async function requests(): Promise<Ar[]> {
    return (JSON.parse(await k(['get', 'approvalrequests', '-n', s.namespace, '-o', 'json'])) as { items: Ar[] }).items;
  }

  async function request(name: string): Promise<Ar | undefined> {
    return getObject<Ar>('approvalrequest', s.namespace, name).catch(() => undefined);
  }

  async function phase(name: string, want: string): Promise<void> {
    await eventually(`${name} ${want}`, async () => ((await request(name))?.status?.phase === want ? true : undefined), 30_000, 100);
  }

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

  async function heldOn(db: string, sql: string): Promise<string> {
    const held = await s.psql(support, ['-d', db, '-c', sql], { onErrorStop: false, timeoutMs: 30_000 });
    const name = heldName(held.stderr);
    if (held.code === 0 || name === undefined) throw new Error(`not held: exit ${held.code} ${held.stderr}`);
    return name;
  }

  /** The statuses `sql` (a COPY of orders' id and status) returns when run in `db`: where it ran. */
  async function run(db: string, sql: string): Promise<{ code: number | null; statuses: string[]; stderr: string }> {
    const r = await s.psql(support, ['-d', db, '-c', sql], { onErrorStop: false, timeoutMs: 30_000 });
    return { code: r.code, statuses: [...new Set(r.stdout.trim().split('\n').filter((l) => l !== '').map((l) => l.split('\t')[1] ?? ''))], stderr: r.stderr.slice(0, 300) };
  }

  beforeAll(async () => {
    s = await startPgScenario({ operator: true, webhook: true, approvalWait: '3s' });
    await k(['apply', '-f', '-'], 'admin', JSON.stringify({ apiVersion: 'v1', kind: 'List', items: reviewerRbac(s.namespace, ['dpo', 'auditors']) }));
    await grantSessionReaders(s.namespace, { kind: 'Group', name: 'auditors' });
    support = await s.token('support-agent');
    // A staging copy on the same server, told apart by its orders' status.
    other = `${s.database}_stg`;
    const create = await adminPsql(['-q', '-c', `CREATE DATABASE "${other}" OWNER orders_app`], { user: 'guarita_admin', database: 'postgres' });
    expect(create.stderr).toBe('');
    const seed = await adminPsql(['-q', '-f', join(import.meta.dirname, '../../examples/lgpd-orders/seed.sql')], { user: 'guarita_admin', database: other });
    expect(seed.code).toBe(0);
    const mark = await adminPsql(['-q', '-c', "UPDATE orders SET status = 'STAGING'"], { user: 'guarita_admin', database: other });
    expect(mark.code).toBe(0);
  }, 240_000);

  afterAll(async () => {
    await s?.stop();
    if (other !== undefined) await adminPsql(['-q', '-c', `DROP DATABASE IF EXISTS "${other}" WITH (FORCE)`], { user: 'guarita_admin', database: 'postgres' });
  }, 60_000);

  describe('F1: the database line the approver reads', () => {
    it('under a policy pinning spec.target.database, SQL that begins with `-- database: "<staging>"` is refused, not held: the approver would read it as a staging command that runs in the pinned database', async () => {
      await policyInForce('f1');
      const forged = `-- database: "${other}"\nCOPY (SELECT id, status FROM orders WHERE id <= 3) TO STDOUT`;
      const before = new Set((await requests()).map((r) => r.metadata.name));
      const ran = await run(s.database, forged);
      expect({ code: ran.code, statuses: ran.statuses, says: ran.stderr.includes('comment naming a database') }).toEqual({ code: 1, statuses: [], says: true });
      // No ApprovalRequest carries the forged line.
      const created = (await requests()).filter((r) => !before.has(r.metadata.name));
      expect(created.map((r) => r.spec.command.text).filter((t) => t.includes(other))).toEqual([]);
    });

    it('approved for the staging database under a policy without spec.target.database, the same text sent verbatim once the policy pins the database is refused and the approval stays unused', async () => {
      await policyInForce('f2', (spec) => { delete (spec.target as Record<string, unknown>).database; });
      const sql = 'COPY (SELECT id, status FROM orders WHERE id <= 4) TO STDOUT';
      const name = await heldOn(other, sql);
      const text = (await request(name))?.spec.command.text ?? '';
      expect(text).toBe(`-- database: "${other}"\n${sql}`);
      await review(s.namespace, 'dana', name, 'round 9b f2: staging copy');
      await phase(name, 'Approved');
      // The administrator pins the target to the production database (the example policy's own setting).
      await policyInForce('f2b');
      // The agent sends the approved text verbatim: its first line is an SQL comment.
      const ran = await run(s.database, text);
      const after = await request(name);
      expect({ phase: after?.status?.phase, code: ran.code, statuses: ran.statuses, says: ran.stderr.includes('comment naming a database') }).toEqual({ phase: 'Approved', code: 1, statuses: [], says: true });
    });
  });

  describe('held: the recorded plan cannot be written weaker or changed (controls)', () => {
    it('spec.approval cannot be changed or removed afterwards (merge patch, JSON patch, server-side apply; even as admin), and a CREATE recording another plan than the rule\'s is refused', async () => {
      await policyInForce('h1', (spec) => { exportsRule(spec).approval = { approverGroups: ['dpo'], minApprovals: 2, ttl: '15m' }; });
      const name = await heldOn(s.database, 'COPY (SELECT id FROM orders WHERE id <= 1) TO STDOUT');
      const attempts: Record<string, string> = {};
      const messages: Record<string, string> = {};
      const tryIt = async (what: string, args: string[], input?: string): Promise<void> => {
        try {
          await k(args, 'admin', input);
          attempts[what] = 'accepted';
        } catch (err) {
          attempts[what] = 'refused';
          messages[what] = (err as Error).message;
        }
      };
      await tryIt('merge', ['patch', 'approvalrequest', name, '-n', s.namespace, '--type=merge', '-p', JSON.stringify({ spec: { approval: { approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 } } })]);
      await tryIt('remove', ['patch', 'approvalrequest', name, '-n', s.namespace, '--type=json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/approval' }])]);
      const current = await getObject<Record<string, unknown> & { spec: Record<string, unknown>; metadata: Record<string, unknown> }>('approvalrequest', s.namespace, name);
      const ssa = { apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest', metadata: { name, namespace: s.namespace }, spec: { ...current.spec, approval: { approverGroups: ['dpo', 'auditors'], minApprovals: 1, ttlSeconds: 900 } } };
      await tryIt('server-side apply', ['apply', '--server-side', '--force-conflicts', '--field-manager=r9b', '-f', '-'], JSON.stringify(ssa));
      const weaker = { apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest', metadata: { name: `${name}-copy`, namespace: s.namespace, labels: (current.metadata.labels ?? {}) as Record<string, string> }, spec: { ...current.spec, approval: { approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 } } };
      await tryIt('create with a weaker plan', ['create', '-f', '-'], JSON.stringify(weaker));
      expect(attempts).toEqual({ merge: 'refused', remove: 'refused', 'server-side apply': 'refused', 'create with a weaker plan': 'refused' });
      expect(messages['create with a weaker plan']).toMatch(/spec\.approval: 1 approval\(s\) from dpo, ttl 900s is not the plan of rule exports-need-dpo/);
      expect(messages.merge).toMatch(/approval/);
      expect((await request(name))?.spec.approval).toEqual({ approverGroups: ['dpo'], minApprovals: 2, ttlSeconds: 900 });
    });
  });

  describe('F2: the signed evidence after a loosened rule', () => {
    it('held under approverGroups [dpo], the rule then also admits auditors and an auditor approves: the record names approverGroups [dpo] and one review by an auditor', async () => {
      await policyInForce('g1');
      const sql = 'COPY (SELECT id, status FROM orders WHERE id <= 2) TO STDOUT';
      const name = await heldOn(s.database, sql);
      expect((await request(name))?.spec.approval).toEqual({ approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 });
      await policyInForce('g1b', (spec) => { exportsRule(spec).approval = { approverGroups: ['dpo', 'auditors'], minApprovals: 1, ttl: '15m' }; });
      await review(s.namespace, 'audrey', name, 'round 9b g1: auditors may approve exports now');
      const ran = await run(s.database, sql);
      expect(ran.code).toBe(0);
      const evidence = await eventually(`approval.consumed of ${name}`, async () => {
        const records = (await fetchExport(s.operator?.url ?? '', s.namespace)).records as unknown as { type: string; approvalRequest?: string; approval?: { approverGroups?: string[]; required?: number; reviews?: { reviewer: string; groups?: string[] }[] } }[];
        return records.find((x) => x.type === 'approval.consumed' && x.approvalRequest === name)?.approval;
      }, 30_000, 500);
      // Every counted review must be by a member of a group the record names as approvers.
      const outside = (evidence.reviews ?? []).filter((r) => !(r.groups ?? []).some((g) => (evidence.approverGroups ?? []).includes(g)));
      expect({ approverGroups: evidence.approverGroups, reviewsOutsideThem: outside }).toEqual({ approverGroups: evidence.approverGroups, reviewsOutsideThem: [] });
    });

    it('held under minApprovals 2, the rule then needs 1 and one dpo member approves: the record says 1 approval of the 2 required', async () => {
      await policyInForce('g2', (spec) => { exportsRule(spec).approval = { approverGroups: ['dpo'], minApprovals: 2, ttl: '15m' }; });
      const sql = 'COPY (SELECT id, status FROM orders WHERE id <= 1) TO STDOUT';
      const name = await heldOn(s.database, sql);
      expect((await request(name))?.spec.approval).toEqual({ approverGroups: ['dpo'], minApprovals: 2, ttlSeconds: 900 });
      await policyInForce('g2b', (spec) => { exportsRule(spec).approval = { approverGroups: ['dpo'], minApprovals: 1, ttl: '15m' }; });
      await review(s.namespace, 'dana', name, 'round 9b g2: one approval is enough now');
      const ran = await run(s.database, sql);
      expect(ran.code).toBe(0);
      const evidence = await eventually(`approval.consumed of ${name}`, async () => {
        const records = (await fetchExport(s.operator?.url ?? '', s.namespace)).records as unknown as { type: string; approvalRequest?: string; approval?: { required?: number; approvals?: number } }[];
        return records.find((x) => x.type === 'approval.consumed' && x.approvalRequest === name)?.approval;
      }, 30_000, 500);
      // A signed record of a run must not show fewer approvals than it says were required.
      expect(evidence.approvals).toBeGreaterThanOrEqual(evidence.required ?? 1);
    });
  });
});

// ---- Kubernetes ----------------------------------------------------------------------------------

describe('Kubernetes target: the approval flow with spec.approval (control)', () => {
  const POLICY = 'cluster-access';
  const TARGET = 'cluster';
  const PURPOSE = 'troubleshooting';
  let system: GuaritaSystem;
  let ns: string;
  let fx: SidecarFixture;
  let sidecar: SidecarProcess;
  let listenPort: number;
  let kubeconfig: string;

  function policy(patchRule: Record<string, unknown>, probe: string): Record<string, unknown> {
    return {
      apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: POLICY, namespace: ns },
      spec: {
        podSelector: { matchLabels: { app: 'support-agent' } },
        target: { name: TARGET, protocol: 'kubernetes', endpoint: requireKube().apiserverUrl, listenPort, credentialsSecretRef: { name: 'cluster-reader-token' } },
        identity: { serviceAccounts: { audiences: ['guarita'] } },
        subjects: [{ kind: 'ServiceAccount', name: 'support-agent', namespace: ns }],
        purposes: [{ name: PURPOSE }],
        rules: [
          { name: probe, match: { kubernetes: { verbs: ['get'], resources: ['configmaps'], names: [probe], namespaces: [ns] } }, action: 'deny' },
          { name: 'discovery', match: { kubernetes: { verbs: ['get'], nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/openapi/*', '/version'] } }, action: 'allow' },
          { name: 'patch-configmaps-needs-dpo', match: { kubernetes: { verbs: ['patch'], resources: ['configmaps'], namespaces: [ns] } }, action: 'requireApproval', approval: patchRule },
          { name: 'read-configmaps', match: { kubernetes: { verbs: ['get', 'list'], apiGroups: [''], resources: ['configmaps'], namespaces: [ns] } }, action: 'allow' },
        ],
        masking: { style: 'partial' },
      },
    };
  }

  const agentRun = agentKubectl(() => kubeconfig, () => fx.dir, () => sidecar.log(40));
  const agent = (args: readonly string[]): Promise<Ran> => agentRun.run(args);

  async function policyInForce(patchRule: Record<string, unknown>, probe: string): Promise<void> {
    await apply([policy(patchRule, probe)]);
    await eventually(`policy ${probe} in force`, async () => {
      const r = await agent(['get', 'configmap', probe]);
      return r.stderr.includes(`rule ${probe}`) ? true : undefined;
    }, 30_000, 250);
  }

  const patchTo = (v: string): string[] => ['patch', 'configmap', 'notes', '--type=merge', '-p', JSON.stringify({ data: { reviewed: v } })];

  async function heldOn(args: string[]): Promise<string> {
    const held = await agent(args);
    const name = heldName(held.stderr);
    if (held.code === 0 || name === undefined) throw new Error(`not held: exit ${held.code} ${held.stderr}`);
    return name;
  }

  beforeAll(async () => {
    system = await startGuaritaSystem('r9b-k8s');
    ns = system.ns;
    const kube = requireKube();
    const readerToken = await readerCredential(ns, 'cluster-reader', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch', 'patch'] }]);
    await apply([
      ...reviewerRbac(ns, ['dpo']),
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'notes', namespace: ns }, data: { reviewed: 'not-yet' } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cluster-reader-token', namespace: ns }, stringData: { token: readerToken } },
    ]);
    [listenPort = 0] = await freePorts(1);
    await apply([policy({ approverGroups: ['dpo'], minApprovals: 1, ttl: '15m' }, 'probe-k0')]);
    fx = await sidecarFixture(ns);
    mountCredentials(fx, TARGET, { token: readerToken, 'ca.crt': readFileSync(kube.caFile, 'utf8') });
    const caDir = join(fx.dir, 'kube');
    mkdirSync(caDir);
    sidecar = await startSidecarProcess(fx, { targets: [{ policy: POLICY, target: TARGET, protocol: 'kubernetes', listenPort }], operatorUrl: system.op.url, env: { GUARITA_KUBE_CA_DIR: caDir } });
    const agentToken = await serviceAccountToken(ns, 'support-agent', 'guarita', 7200);
    kubeconfig = writeAgentKubeconfig({ dir: fx.dir, listenPort, purpose: PURPOSE, target: TARGET, namespace: ns, token: agentToken, caFile: join(caDir, TARGET, 'ca.crt') });
    await policyInForce({ approverGroups: ['dpo'], minApprovals: 1, ttl: '15m' }, 'probe-k1');
  }, 240_000);

  afterAll(async () => {
    await sidecar?.stop();
    await system?.stop();
  }, 60_000);

  const reviewed = async (): Promise<string | undefined> => (await getObject<{ data?: Record<string, string> }>('configmap', ns, 'notes')).data?.reviewed;

  it('a held patch records the rule\'s plan, runs once after the DPO approves (consumeBy set), and a stricter rule holds the next approved one anew', async () => {
    const name = await heldOn(patchTo('yes'));
    const ar = await getObject<Ar>('approvalrequest', ns, name);
    expect(ar.spec.approval).toEqual({ approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 });
    await review(ns, 'dana', name, 'round 9b k1');
    expect((await getObject<Ar>('approvalrequest', ns, name)).status?.consumeBy).toEqual(expect.any(String));
    const ok = await agent(patchTo('yes'));
    expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await reviewed()).toBe('yes');
    expect((await getObject<Ar>('approvalrequest', ns, name)).status?.phase).toBe('Consumed');
    // Single use.
    expect(heldName((await agent(patchTo('yes'))).stderr)).toEqual(expect.any(String));

    // Approved, then the rule asks for two approvals: held anew on a request recording the new plan.
    const second = await heldOn(patchTo('twice'));
    await review(ns, 'dana', second, 'round 9b k2');
    await policyInForce({ approverGroups: ['dpo'], minApprovals: 2, ttl: '15m' }, 'probe-k2');
    const again = await heldOn(patchTo('twice'));
    expect(again).not.toBe(second);
    expect((await getObject<Ar>('approvalrequest', ns, again)).spec.approval).toEqual({ approverGroups: ['dpo'], minApprovals: 2, ttlSeconds: 900 });
    expect(await reviewed()).toBe('yes');
    await eventually(`${second} Expired`, async () => ((await getObject<Ar>('approvalrequest', ns, second)).status?.phase === 'Expired' ? true : undefined), 30_000, 100);
  });
});

// ---- SSH -----------------------------------------------------------------------------------------

describe('SSH target: the approval flow with spec.approval (control)', () => {
  const POLICY = 'orders-host';
  const PURPOSE = 'customer-support';
  let system: GuaritaSystem;
  let ns: string;
  let sshd: SshdHandle;
  let fx: SidecarFixture;
  let sidecar: SidecarProcess;
  let listenPort: number;
  let work: string;
  let data: string;
  let sshConfig: string;
  let agentEnv: NodeJS.ProcessEnv;

  function sshPolicy(backupRule: Record<string, unknown>, probe: string): Record<string, unknown> {
    return {
      apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: POLICY, namespace: ns },
      spec: {
        podSelector: { matchLabels: { app: 'support-agent' } },
        target: { name: POLICY, protocol: 'ssh', endpoint: `127.0.0.1:${sshd.port}`, listenPort, credentialsSecretRef: { name: `${POLICY}-credentials` } },
        identity: { oidc: { issuer: requireIdp().issuer, audiences: ['guarita'] } },
        subjects: [{ kind: 'Group', name: 'support' }],
        purposes: [{ name: PURPOSE }],
        rules: [
          { name: probe, match: { ssh: { commands: [`echo ${probe}`] } }, action: 'deny' },
          { name: 'backups-need-dpo', match: { ssh: { commands: [`* ${data}/backups/*`] } }, action: 'requireApproval', approval: backupRule },
          { name: 'diagnostics', match: { ssh: { commands: ['cat *', 'echo *', 'true'] } }, action: 'allow' },
        ],
        masking: { style: 'partial' },
      },
    };
  }

  function ssh(command: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn('ssh', ['-F', sshConfig, `${PURPOSE}@${POLICY}`, command], { env: agentEnv, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
      child.stdin.end('');
    });
  }

  async function policyInForce(backupRule: Record<string, unknown>, probe: string): Promise<void> {
    await apply([sshPolicy(backupRule, probe)]);
    await eventually(`policy ${probe} in force`, async () => {
      const r = await ssh(`echo ${probe}`);
      return r.code !== 0 && r.stderr.includes(probe) ? true : undefined;
    }, 30_000, 250);
  }

  async function heldOn(command: string): Promise<string> {
    const held = await ssh(command);
    const name = heldName(held.stderr);
    if (held.code === 0 || name === undefined) throw new Error(`not held: exit ${held.code} ${held.stderr}`);
    return name;
  }

  beforeAll(async () => {
    const id = suffix();
    work = mkdtempSync(join(tmpdir(), `guarita-r9b-ssh-${id}-`));
    data = join(work, 'data');
    mkdirSync(join(data, 'backups'), { recursive: true });
    writeFileSync(join(data, 'backups', 'orders.sql'), 'COPY orders FROM stdin;\n1\tshipped\n');
    writeFileSync(join(data, 'backups', 'other.sql'), 'COPY orders FROM stdin;\n2\tpending\n');
    sshd = await startSshd(join(work, 'sshd'));
    system = await startGuaritaSystem('r9b-ssh');
    ({ ns } = system);
    await apply(reviewerRbac(ns, ['dpo']));
    const credentials = { username: sshd.user, 'ssh-privatekey': sshd.clientKey, known_hosts: sshd.knownHosts };
    await apply([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${POLICY}-credentials`, namespace: ns }, stringData: credentials }]);
    [listenPort = 0] = await freePorts(1);
    await apply([sshPolicy({ approverGroups: ['dpo'], minApprovals: 1, ttl: '15m' }, 'probe-s0')]);
    fx = await sidecarFixture(ns);
    mountCredentials(fx, POLICY, credentials);
    const sshDir = join(fx.dir, 'ssh');
    sidecar = await startSidecarProcess(fx, {
      targets: [{ policy: POLICY, target: POLICY, protocol: 'ssh', listenPort } as unknown as TargetSpec], operatorUrl: system.op.url,
      env: { GUARITA_SSH_DIR: sshDir },
    });
    sshConfig = join(sshDir, POLICY, 'ssh_config');
    const tokenFile = join(work, 'token');
    writeFileSync(tokenFile, await getToken({ clientId: 'support-agent', audience: 'guarita' }), { mode: 0o600 });
    const askpass = join(work, 'askpass.sh');
    writeFileSync(askpass, `#!/bin/sh\nexec cat ${tokenFile}\n`, { mode: 0o700 });
    agentEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' };
    await policyInForce({ approverGroups: ['dpo'], minApprovals: 1, ttl: '15m' }, 'probe-s1');
  }, 240_000);

  afterAll(async () => {
    await sidecar?.stop();
    await Promise.all([system?.stop(), sshd?.stop()]);
  }, 60_000);

  it('a held backup read records the rule\'s plan, runs once after the DPO approves, and a stricter rule holds the next approved one anew', async () => {
    const read = `cat ${data}/backups/orders.sql`;
    const name = await heldOn(read);
    expect((await getObject<Ar>('approvalrequest', ns, name)).spec.approval).toEqual({ approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 });
    await review(ns, 'dana', name, 'round 9b s1');
    const ok = await ssh(read);
    expect({ code: ok.code, out: ok.stdout.includes('shipped') }).toEqual({ code: 0, out: true });
    expect((await getObject<Ar>('approvalrequest', ns, name)).status?.phase).toBe('Consumed');
    expect(heldName((await ssh(read)).stderr)).toEqual(expect.any(String));

    const otherRead = `cat ${data}/backups/other.sql`;
    const second = await heldOn(otherRead);
    await review(ns, 'dana', second, 'round 9b s2');
    await policyInForce({ approverGroups: ['dpo'], minApprovals: 2, ttl: '15m' }, 'probe-s2');
    const retry = await ssh(otherRead);
    expect(retry.code).not.toBe(0);
    expect(retry.stdout).toBe('');
    const again = heldName(retry.stderr);
    expect(again).toEqual(expect.any(String));
    expect(again).not.toBe(second);
    expect((await getObject<Ar>('approvalrequest', ns, again ?? '')).spec.approval).toEqual({ approverGroups: ['dpo'], minApprovals: 2, ttlSeconds: 900 });
    await eventually(`${second} Expired`, async () => ((await getObject<Ar>('approvalrequest', ns, second)).status?.phase === 'Expired' ? true : undefined), 30_000, 100);
  });
});
