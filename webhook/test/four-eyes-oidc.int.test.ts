// Four-eyes against a real apiserver OIDC username mapping (issue 18, item 8). Per variant, a
// dedicated control plane (etcd + kube-apiserver) whose OIDC authenticator trusts a dedicated https
// harness IdP: the legacy flags with the apiserver's DEFAULT username prefix (`<issuer>#`, claim
// sub), and structured authentication with prefix `oidc:` on another claim and the uid mapped from
// sub. People authenticate to Kubernetes with their own IdP token. The real sidecar holds an export of
// support-agent's and records who asked; support-agent, in the rule's approver group, then tries
// to approve it with `kubectl --token <their IdP token>`: the webhook refuses it. Another approver
// (batch-job) is accepted and the operator approves. A review by the requester written where no
// webhook runs (a namespace only the operator watches) is not counted by the operator.
// The old check compared "https://127.0.0.1:<port>#support-agent" with "support-agent" and let it through.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, getGlobalDispatcher, setGlobalDispatcher, type Dispatcher } from 'undici';
import { createCa, mintServingCert, writePemFiles } from '../../e2e/harness/certs.ts';
import { runCommand, type CommandResult } from '../../e2e/harness/exec.ts';
import { requestToken } from '../../e2e/harness/idp-client.ts';
import { startIdp, type IdpHandle } from '../../e2e/harness/idp.ts';
import type { ApiserverOidc } from '../../e2e/harness/apiserver.ts';
import { startKube, type KubeHandle } from '../../e2e/harness/kube.ts';
import { freePorts } from '../../e2e/harness/ports.ts';
import { HARNESS_STATE_ENV, loadHarnessState, writeHarnessState, type HarnessState } from '../../e2e/harness/state.ts';
import { startGuaritaSystem, type GuaritaSystem } from '../../e2e/support/guarita-system.ts';
import { apply, createNamespaces, eventsFor, getObject } from '../../e2e/support/kube-apply.ts';
import { k, suffix } from '../../e2e/support/kubectl.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { agentRequest, httpPolicy, mountCredentials, sidecarFixture, startSidecarProcess, startUpstream, type SidecarProcess, type Upstream } from '../../sidecar/test/support.ts';

jest.setTimeout(240_000);

const POLICY = 'customers-api';
const PURPOSE = 'customer-support';
const HELD = '/customers/export?page=1';
const AUDIENCE = 'guarita';

type Client = 'support-agent' | 'batch-job';

interface Variant {
  name: string;
  apiserver: Pick<ApiserverOidc, 'mode' | 'usernameClaim' | 'usernamePrefix' | 'uidClaim'>;
  /** The AccessPolicy's usernameClaim: what the sidecar calls the requester. */
  policyUsernameClaim: string;
  /** GUARITA_OIDC_USERNAME_MAPPINGS entry: the same mapping, told to the webhook and the operator. */
  mapping(issuer: string): Record<string, unknown>;
  /** The apiserver's name (and uid) for a client of the IdP. */
  kubeName(issuer: string, client: Client): string;
  kubeUid?(client: Client): string;
}

const VARIANTS: Variant[] = [
  {
    // No --oidc-username-prefix: the apiserver's default, <issuer>#, since the claim is not email.
    name: 'legacy --oidc-* flags and the default <issuer># prefix',
    apiserver: { mode: 'flags', usernameClaim: 'sub' },
    policyUsernameClaim: 'sub',
    mapping: (issuer) => ({ issuer, claim: 'sub', prefix: `${issuer}#` }),
    kubeName: (issuer, client) => `${issuer}#${client}`,
  },
  {
    // Usernames from another claim than the sidecar's subject, with a prefix; uids from sub.
    name: 'AuthenticationConfiguration: username oidc:<client_id>, uid from sub',
    apiserver: { mode: 'config', usernameClaim: 'client_id', usernamePrefix: 'oidc:', uidClaim: 'sub' },
    policyUsernameClaim: 'client_id',
    mapping: (issuer) => ({ issuer, claim: 'client_id', prefix: 'oidc:', uidClaim: 'sub' }),
    kubeName: (_issuer, client) => `oidc:${client}`,
    kubeUid: (client) => client,
  },
];

interface ArObj {
  metadata: { name: string; namespace: string };
  spec: Record<string, unknown> & { requester: { username: string; kind: string; issuer?: string; claims?: Record<string, string> }; command: { text: string } };
  status?: { phase?: string; approvals?: number; reviews?: { reviewer: string }[]; message?: string };
}

interface Env {
  runDir: string;
  idp: IdpHandle;
  kube: KubeHandle;
  system: GuaritaSystem;
  upstream: Upstream;
  sidecar: SidecarProcess;
  operatorOnlyNs: string;
  previousState: string | undefined;
  previousDispatcher: Dispatcher;
}

function reviewPatch(reason: string): string {
  return JSON.stringify([{ op: 'add', path: '/spec/reviews/-', value: { decision: 'Approved', reason } }]);
}

async function setup(v: Variant): Promise<Env> {
  const shared = loadHarnessState();
  const runDir = mkdtempSync(join(shared.runDir, 'four-eyes-'));
  mkdirSync(join(runDir, 'logs'), { recursive: true });
  // The apiserver accepts only an https issuer whose CA it is given.
  const pki = join(runDir, 'idp-pki');
  mkdirSync(pki, { recursive: true, mode: 0o700 });
  const ca = await createCa('guarita-four-eyes-idp-ca');
  const caFile = writePemFiles(pki, 'ca', ca).certFile;
  const serving = writePemFiles(pki, 'idp', await mintServingCert(ca, { commonName: '127.0.0.1', ips: ['127.0.0.1'], dnsNames: ['localhost'] }));
  const idp = await startIdp(runDir, { tls: { ...serving, caFile } });
  const issuer = idp.coordinates.issuer;
  const kube = await startKube(runDir, shared.binDir, { oidc: { ...v.apiserver, issuerUrl: issuer, clientId: AUDIENCE, caFile, groupsClaim: 'groups' } });

  // Every harness helper (kubectl, operator, webhook, sidecar fixtures) now acts on this control plane and IdP.
  const state: HarnessState = {
    ...shared, runDir, components: ['kube', 'idp'], kube: kube.coordinates, idp: idp.coordinates,
    processes: [...kube.processes, idp.process].map((p) => ({ name: p.name, pid: p.pid, logFile: p.logFile })),
  };
  delete state.postgres;
  const stateFile = join(runDir, 'state.json');
  writeHarnessState(stateFile, state);
  const previousState = process.env[HARNESS_STATE_ENV];
  process.env[HARNESS_STATE_ENV] = stateFile;
  // This process fetches tokens from the https IdP.
  const previousDispatcher = getGlobalDispatcher();
  setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(caFile, 'utf8') } }));

  const operatorOnlyNs = `four-eyes-op-only-${suffix()}`;
  await createNamespaces(operatorOnlyNs);
  // What the apiserver does with this issuer's tokens, told to the webhook and the operator.
  const system = await startGuaritaSystem('four-eyes', { env: { GUARITA_OIDC_USERNAME_MAPPINGS: JSON.stringify([v.mapping(issuer)]) }, watchAlso: [operatorOnlyNs] });
  const { ns } = system;
  const upstream = await startUpstream();
  const [listenPort = 0] = await freePorts(1);
  // support-agent and batch-job are both in group support, the approver group: only four-eyes stops support-agent.
  const over = {
    identity: { oidc: { issuer, audiences: [AUDIENCE], usernameClaim: v.policyUsernameClaim } },
    rules: [
      { name: 'export-needs-approval', match: { http: { methods: ['GET'], paths: ['/customers/export'] } }, action: 'requireApproval', approval: { approverGroups: ['support'], ttl: '15m' } },
      { name: 'read-customers', match: { http: { methods: ['GET'], paths: ['/customers/**'] } }, action: 'allow' },
    ],
  };
  await apply([
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'reviewers', namespace: ns }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'patch'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'reviewers', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reviewers' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'support' }] },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${POLICY}-credentials`, namespace: ns }, stringData: { token: 'upstream-service-token' } },
    httpPolicy(ns, POLICY, { endpoint: upstream.url, issuer, listenPort, over }),
    httpPolicy(operatorOnlyNs, POLICY, { endpoint: upstream.url, issuer, listenPort, over }),
  ]);
  const fx = await sidecarFixture(ns);
  mountCredentials(fx, POLICY, { token: 'upstream-service-token' });
  const sidecar = await startSidecarProcess(fx, {
    targets: [{ policy: POLICY, target: POLICY, protocol: 'http', listenPort }], operatorUrl: system.op.url,
    env: { GUARITA_APPROVAL_WAIT: '1s', NODE_EXTRA_CA_CERTS: caFile },
  });
  return { runDir, idp, kube, system, upstream, sidecar, operatorOnlyNs, previousState, previousDispatcher };
}

async function teardown(e: Env | undefined): Promise<void> {
  if (e === undefined) return;
  await e.sidecar.stop();
  await Promise.allSettled([e.system.stop(), e.upstream.close()]);
  for (const p of [...e.kube.processes].reverse()) await p.stop();
  await e.idp.process.stop();
  // The dedicated etcd's data (hundreds of MB); logs stay with the harness run dir.
  rmSync(join(e.runDir, 'etcd'), { recursive: true, force: true });
  if (e.previousState === undefined) delete process.env[HARNESS_STATE_ENV];
  else process.env[HARNESS_STATE_ENV] = e.previousState;
  setGlobalDispatcher(e.previousDispatcher);
}

describe.each(VARIANTS)('four-eyes with $name', (v) => {
  let e: Env;
  let held: ArObj;
  const issuer = (): string => e.idp.coordinates.issuer;
  const token = (clientId: Client): Promise<string> => requestToken(e.idp.coordinates, { clientId, audience: AUDIENCE });
  /** kubectl authenticated only by a bearer token from the IdP, as a person would be. */
  const kubectlAs = (bearer: string, args: readonly string[]): Promise<CommandResult> => {
    const k = e.kube.coordinates;
    return runCommand(k.kubectlPath, ['--kubeconfig', '/dev/null', '--server', k.apiserverUrl, '--certificate-authority', k.caFile, '--token', bearer, '--cache-dir', k.cacheDir, ...args], { timeoutMs: 60_000 });
  };

  beforeAll(async () => {
    e = await setup(v);
  }, 300_000);

  afterAll(() => teardown(e));

  it('the apiserver names the requester otherwise than the sidecar does', async () => {
    const who = await kubectlAs(await token('support-agent'), ['auth', 'whoami', '-o', 'json']);
    expect(who.code).toBe(0);
    const user = (JSON.parse(who.stdout) as { status: { userInfo: { username: string; uid?: string; groups: string[] } } }).status.userInfo;
    expect(user.username).toBe(v.kubeName(issuer(), 'support-agent'));
    expect(user.username).not.toBe('support-agent');
    if (v.kubeUid !== undefined) expect(user.uid).toBe(v.kubeUid('support-agent'));
    expect(user.groups).toContain('support');
  });

  it('the sidecar records the requester\'s issuer and claims on the held command', async () => {
    const answer = await agentRequest(`${e.sidecar.url(POLICY)}${HELD}`, { token: await token('support-agent'), purpose: PURPOSE });
    expect(answer.status).toBe(409);
    held = await eventually('the ApprovalRequest of the held export', async () => {
      const list = JSON.parse(await k(['get', 'approvalrequests', '-n', e.system.ns, '-o', 'json'])) as { items: ArObj[] };
      return list.items.find((a) => a.spec.command.text.startsWith(`GET ${HELD}`));
    });
    expect(held.spec.requester).toMatchObject({ username: 'support-agent', kind: 'User', issuer: issuer(), claims: { sub: 'support-agent' } });
  });

  it('refuses the requester\'s own review, made with their IdP token through kubectl', async () => {
    const own = await kubectlAs(await token('support-agent'), ['-n', e.system.ns, 'patch', 'approvalrequest', held.metadata.name, '--type=json', '-p', reviewPatch('my own export')]);
    expect(own.code).not.toBe(0);
    expect(own.stderr).toContain(`"${v.kubeName(issuer(), 'support-agent')}" is the requester of this command and cannot review it (four-eyes principle)`);
    const after = await getObject<ArObj>('approvalrequest', e.system.ns, held.metadata.name);
    expect((after.spec.reviews as unknown[] | undefined) ?? []).toEqual([]);
  });

  it('accepts another approver, and the operator approves', async () => {
    const other = await kubectlAs(await token('batch-job'), ['-n', e.system.ns, 'patch', 'approvalrequest', held.metadata.name, '--type=json', '-p', reviewPatch('ticket 4711')]);
    expect(other.stderr).toBe('');
    expect(other.code).toBe(0);
    const approved = await eventually('the operator to approve', async () => {
      const r = await getObject<ArObj>('approvalrequest', e.system.ns, held.metadata.name);
      return r.status?.phase === 'Approved' ? r : undefined;
    }, 30_000);
    expect(approved.status?.reviews?.map((r) => r.reviewer)).toEqual([v.kubeName(issuer(), 'batch-job')]);
    const stamped = (approved.spec.reviews as { reviewerUid?: string }[])[0];
    expect(stamped?.reviewerUid).toBe(v.kubeUid?.('batch-job'));
  });

  it('the operator does not count the requester\'s review where no webhook stopped it', async () => {
    // The same request, as the sidecar recorded it, in a namespace outside the webhook's scope,
    // with a review stamped the way the webhook stamps the requester's; where uids are mapped,
    // under a username the requester does not have (a renamed account): the uid gives them away.
    const time = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const name = `self-${suffix()}`;
    const uid = v.kubeUid?.('support-agent');
    const reviewer = uid === undefined ? v.kubeName(issuer(), 'support-agent') : 'oidc:support-agent-renamed';
    await apply([{
      apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest', metadata: { name, namespace: e.operatorOnlyNs },
      spec: { ...held.spec, reviews: [{ decision: 'Approved', reason: 'mine', reviewer, reviewerGroups: ['support', 'system:authenticated'], ...(uid === undefined ? {} : { reviewerUid: uid }), time }] },
    }]);
    const ignored = await eventually('the operator to report the self-review as not counted', async () => {
      const events = await eventsFor(e.operatorOnlyNs, name);
      return events.find((x) => x.reason === 'ReviewIgnored');
    }, 30_000);
    expect(ignored.message).toBe(`Review by ${reviewer} not counted: the requester cannot review their own command`);
    const pending = await eventually('the operator\'s status', async () => {
      const r = await getObject<ArObj>('approvalrequest', e.operatorOnlyNs, name);
      return r.status?.phase === undefined ? undefined : r;
    });
    expect(pending.status).toMatchObject({ phase: 'Pending', approvals: 0, reviews: [] });
  });
});
