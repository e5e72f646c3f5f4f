// The creator stamp on ApprovalRequests (round 11 follow-up: the per-requester cap was dodged by
// writing a new spec.requester into each request; the creator comes from userInfo instead). Every
// way a client could bring, bend or later change the stamp, against the pure admission functions.
import { describe, expect, it } from '@jest/globals';
import type { ApprovalRequest } from '../../crds/types.ts';
import { creatorKey } from '../../core/approvals/creator.ts';
import { stampCreator, validateApprovalUpdate, validateCreatorStamp, type ApprovalContext } from './approvals.ts';
import { applyPatch } from './json-patch.ts';
import type { UserInfo } from './kube-types.ts';
import { approvalRequest, examplePolicy, FIXTURE_ISSUER } from '../test/fixtures.ts';

const BY = 'guarita.io/created-by';
const POD = 'guarita.io/created-by-pod';
const POD_NAME = 'authentication.kubernetes.io/pod-name';
const SA = 'system:serviceaccount:lgpd-orders:support-agent';
/** The agent's (and its sidecar's) projected token: bound to pod agent-7. */
const agent: UserInfo = { username: SA, groups: ['system:serviceaccounts'], extra: { [POD_NAME]: ['agent-7'], 'authentication.kubernetes.io/pod-uid': ['u-7'] } };
const ctx: ApprovalContext = { policy: examplePolicy('accesspolicy.yaml'), now: new Date(), usernameMappings: [{ issuer: FIXTURE_ISSUER, claim: 'sub', prefix: '' }] };

function withAnnotations(annotations: Record<string, string> | null | undefined): ApprovalRequest {
  const r = approvalRequest('lgpd-orders', 'export-1');
  if (annotations !== undefined) (r.metadata as { annotations?: unknown }).annotations = annotations;
  return r;
}

/** What the apiserver does at CREATE: the mutating webhook stamps, then the validating webhook judges the result. */
function create(req: ApprovalRequest, user: UserInfo): { stored: ApprovalRequest; errors: string[] } {
  const stamped = stampCreator(req, user);
  if ('problem' in stamped) return { stored: req, errors: [stamped.problem] };
  const stored = applyPatch(req, stamped.patch);
  return { stored, errors: validateCreatorStamp(stored, user) };
}

describe('the creator stamp at CREATE', () => {
  it('stamps the username and the pod a bound token names, as <namespace>/<pod>', () => {
    const { stored, errors } = create(withAnnotations(undefined), agent);
    expect(errors).toEqual([]);
    expect(stored.metadata.annotations).toEqual({ [BY]: SA, [POD]: 'lgpd-orders/agent-7' });
    expect(creatorKey(stored.metadata.annotations)).toBe('pod:lgpd-orders/agent-7');
  });

  it('stamps only the username for a credential bound to no pod (a person, an unbound token)', () => {
    const unbound = create(withAnnotations({}), { username: SA, extra: { 'authentication.kubernetes.io/credential-id': ['JTI=1'] } });
    expect(unbound.stored.metadata.annotations).toEqual({ [BY]: SA });
    const person = create(withAnnotations(undefined), { username: 'alice', groups: ['support'] });
    expect(person).toEqual({ stored: expect.objectContaining({ metadata: expect.objectContaining({ annotations: { [BY]: 'alice' } }) }), errors: [] });
    expect(creatorKey(person.stored.metadata.annotations)).toBe('user:alice');
  });

  it('overwrites whatever the client wrote: another user, another pod, an empty value, and keeps its other annotations', () => {
    const forged: Record<string, string>[] = [
      { [BY]: 'someone-else', [POD]: 'lgpd-orders/agent-8' },
      { [BY]: '', [POD]: '' },
      { [BY]: SA, [POD]: 'other-ns/agent-7' },
      { [POD]: 'lgpd-orders/agent-7 ' },
      { [BY]: SA.toUpperCase(), [POD]: 'LGPD-ORDERS/AGENT-7' },
    ];
    for (const annotations of forged) {
      const { stored, errors } = create(withAnnotations({ ...annotations, team: 'support' }), agent);
      expect(errors).toEqual([]);
      expect(stored.metadata.annotations).toEqual({ team: 'support', [BY]: SA, [POD]: 'lgpd-orders/agent-7' });
    }
  });

  it('removes a pod the client wrote when its credential is bound to none, and handles null annotations', () => {
    const { stored, errors } = create(withAnnotations({ [POD]: 'lgpd-orders/agent-7', [BY]: 'x' }), { username: 'alice' });
    expect(errors).toEqual([]);
    expect(stored.metadata.annotations).toEqual({ [BY]: 'alice' });
    expect(create(withAnnotations(null), agent).stored.metadata.annotations).toEqual({ [BY]: SA, [POD]: 'lgpd-orders/agent-7' });
  });

  it('reads the pod only from a service account\'s token: another authenticator\'s extra names no pod', () => {
    // An OIDC or proxy-authenticated user whose extra happens to carry the key is counted by username.
    const { stored } = create(withAnnotations(undefined), { username: 'https://idp#mallory', extra: { [POD_NAME]: ['agent-7'] } });
    expect(stored.metadata.annotations).toEqual({ [BY]: 'https://idp#mallory' });
  });

  it('refuses a pod-bound token that names no single pod (fails closed instead of counting it nowhere)', () => {
    for (const values of [['a', 'b'], ['']]) {
      const stamped = stampCreator(withAnnotations(undefined), { username: SA, extra: { [POD_NAME]: values } });
      expect(stamped).toEqual({ problem: expect.stringContaining(`userInfo.extra["${POD_NAME}"]`) });
      expect(validateCreatorStamp(withAnnotations({ [BY]: SA }), { username: SA, extra: { [POD_NAME]: values } })[0]).toContain('names no single pod');
    }
    // The key present with no value at all is no pod binding.
    expect(stampCreator(withAnnotations(undefined), { username: SA, extra: { [POD_NAME]: [] } })).toEqual({ patch: [{ op: 'add', path: '/metadata/annotations', value: { [BY]: SA } }] });
  });
});

describe('the validating webhook at CREATE (the mutating one bypassed, misordered or rewritten)', () => {
  const stamped = { [BY]: SA, [POD]: 'lgpd-orders/agent-7' };

  it('accepts exactly the authenticated stamp', () => {
    expect(validateCreatorStamp(withAnnotations(stamped), agent)).toEqual([]);
  });

  it('refuses a missing stamp, naming the field and the configuration to check', () => {
    expect(validateCreatorStamp(withAnnotations(undefined), agent)).toEqual([
      `metadata.annotations["${BY}"]: missing: the mutating webhook stamp.approvalrequests.guarita.io did not stamp the creator (check that the MutatingWebhookConfiguration sends CREATE of approvalrequests to it)`,
      `metadata.annotations["${POD}"]: missing: the mutating webhook stamp.approvalrequests.guarita.io did not stamp the creator (check that the MutatingWebhookConfiguration sends CREATE of approvalrequests to it)`,
    ]);
    expect(validateCreatorStamp(withAnnotations({}), { username: 'alice' })).toHaveLength(1);
  });

  it('refuses every stamp that differs from userInfo: user, pod, namespace, case, whitespace, a pod for a credential bound to none', () => {
    const cases: [Record<string, string>, UserInfo, string][] = [
      [{ ...stamped, [BY]: 'alice' }, agent, `metadata.annotations["${BY}"]: "alice" is not the creator the apiserver authenticated ("${SA}"): omit it, the webhook records the creator`],
      [{ ...stamped, [POD]: 'lgpd-orders/agent-8' }, agent, `metadata.annotations["${POD}"]: "lgpd-orders/agent-8" is not the creator the apiserver authenticated ("lgpd-orders/agent-7")`],
      [{ ...stamped, [POD]: 'other/agent-7' }, agent, `metadata.annotations["${POD}"]: "other/agent-7" is not`],
      [{ ...stamped, [POD]: 'lgpd-orders/Agent-7' }, agent, `metadata.annotations["${POD}"]: "lgpd-orders/Agent-7" is not`],
      [{ ...stamped, [BY]: `${SA} ` }, agent, `metadata.annotations["${BY}"]: "${SA} " is not`],
      [{ [BY]: 'alice', [POD]: 'lgpd-orders/agent-7' }, { username: 'alice' }, `metadata.annotations["${POD}"]: "lgpd-orders/agent-7" but the credential creating this request is bound to no pod: omit it, the webhook records the creator`],
    ];
    for (const [annotations, user, message] of cases) expect(validateCreatorStamp(withAnnotations(annotations), user)).toEqual([expect.stringContaining(message)]);
  });

  it('does not take a look-alike key for the stamp', () => {
    const lookAlike = { 'Guarita.io/Created-By': SA, 'guarita.io/created-by-pod ': 'lgpd-orders/agent-7' };
    expect(validateCreatorStamp(withAnnotations(lookAlike), agent)).toHaveLength(2);
    expect(creatorKey(lookAlike)).toBeUndefined();
  });
});

describe('the creator stamp after CREATE', () => {
  const stored = withAnnotations({ [BY]: SA, [POD]: 'lgpd-orders/agent-7', team: 'support' });
  const update = (annotations: Record<string, string> | undefined, old: ApprovalRequest = stored): string[] => {
    const next = structuredClone(old);
    if (annotations === undefined) delete next.metadata.annotations;
    else next.metadata.annotations = annotations;
    return validateApprovalUpdate(old, next, { username: 'cluster-admin', groups: ['system:masters'] }, ctx);
  };

  it('refuses changing, removing or adding a creator annotation, naming the field', () => {
    expect(update({ [BY]: 'alice', [POD]: 'lgpd-orders/agent-7', team: 'support' })).toEqual([
      `metadata.annotations["${BY}"]: is immutable (the creator, stamped at creation): "${SA}" → "alice"; keep it as stored (a server-side apply that omits it removes it: patch the fields you change instead)`,
    ]);
    expect(update({ [BY]: SA, [POD]: 'lgpd-orders/agent-8', team: 'support' })[0]).toContain(`metadata.annotations["${POD}"]: is immutable`);
    expect(update({ [BY]: SA, team: 'support' })).toEqual([expect.stringContaining(`metadata.annotations["${POD}"]: is immutable (the creator, stamped at creation): "lgpd-orders/agent-7" removed`)]);
    expect(update({ [BY]: SA, [POD]: '', team: 'support' })[0]).toContain('"lgpd-orders/agent-7" → ""');
    expect(update(undefined)).toHaveLength(2);
    // A request created before the stamp stays unstamped: adding one would move it into someone's line.
    const legacy = withAnnotations(undefined);
    expect(update({ [BY]: 'alice' }, legacy)).toEqual([expect.stringContaining(`metadata.annotations["${BY}"]: is immutable (the creator, stamped at creation): (none) → "alice"`)]);
  });

  it('lets other annotations change', () => {
    expect(update({ [BY]: SA, [POD]: 'lgpd-orders/agent-7', team: 'billing', note: 'x' })).toEqual([]);
    expect(update({ [BY]: SA, [POD]: 'lgpd-orders/agent-7' })).toEqual([]);
  });
});
