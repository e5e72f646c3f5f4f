// Round 12, F2: a service-account session is only as good as its last TokenReview. The session
// asks the apiserver again once the review's answer is due (60 s), on its next command or, idle,
// from the enforcer's sweep; a credential that no longer verifies, or a verifier that cannot
// answer, closes the session. OIDC sessions have nothing to ask again (no introspection). The real
// SidecarEnforcer over the example policy, with a scripted authenticator and a fake clock.
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { initPolicyEngine } from '../../core/policy/index.ts';
import type { SessionEvent } from '../../core/recording/index.ts';
import { parseAccessPolicy } from '../../crds/validators.ts';
import type { Session } from './enforcement.ts';
import { REVIEW_SWEEP_MS, REVIEWS_PER_SWEEP, SidecarEnforcer, type EnforcerDeps } from './enforcer.ts';
import { AuthError, type VerifiedToken } from './identity/index.ts';
import { Metrics } from './metrics.ts';
import type { PolicyState } from './policy-watch.ts';
import { compileTarget, type CompiledTarget } from './targets.ts';

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);
const TTL = 60_000;

interface Call { credential: string; from: unknown; minValidMs: number | undefined }

/** The enforcer with an authenticator that answers what `answer` says (a service account by default). */
async function rig(): Promise<{
  enforcer: SidecarEnforcer; calls: Call[]; records: SessionEvent[];
  answer: (credential: string) => Promise<VerifiedToken>; setAnswer(fn: (credential: string) => Promise<VerifiedToken>): void; open(credential?: string): Promise<Session>;
}> {
  await initPolicyEngine();
  const policy = parseAccessPolicy(parseYaml(readFileSync(join(import.meta.dirname, '../../examples/lgpd-orders/accesspolicy.yaml'), 'utf8')));
  policy.spec.subjects = [...policy.spec.subjects, { kind: 'ServiceAccount', name: 'batch', namespace: 'ns' }];
  const compiled: CompiledTarget = compileTarget(policy, '/nonexistent');
  const state: PolicyState<CompiledTarget> = { state: 'ok', policy, compiled, generation: 1 };
  const calls: Call[] = [];
  const records: SessionEvent[] = [];
  const serviceAccount = (): Promise<VerifiedToken> => Promise.resolve({
    identity: { subject: 'system:serviceaccount:ns:batch', groups: ['system:serviceaccounts'], kind: 'ServiceAccount', namespace: 'ns' }, reviewDueAt: Date.now() + TTL, expiresAt: Date.now() + 3600_000,
  });
  const r = {
    calls, records, answer: serviceAccount as (credential: string) => Promise<VerifiedToken>,
    setAnswer(fn: (credential: string) => Promise<VerifiedToken>) { r.answer = fn; },
    enforcer: undefined as unknown as SidecarEnforcer,
    open: async (credential = 'sa-token'): Promise<Session> => {
      const opened = await r.enforcer.openSession({ target: 'orders-db', credential, purpose: 'customer-support', client: { remoteAddress: '127.0.0.1' } });
      if (!opened.ok) throw new Error(opened.message);
      return opened.session;
    },
  };
  const logger = { info() {}, warn() {}, error() {}, debug() {}, child() { return logger; } };
  r.enforcer = new SidecarEnforcer({
    config: { namespace: 'ns', podName: 'pod', targets: [{ target: 'orders-db', protocol: 'postgres', policy: 'orders-db', listenPort: 0 }], approvalWaitMs: 1000 },
    policies: { availability: () => ({ ok: true }), get: () => state, onChange: () => () => undefined },
    authenticator: {
      authenticate: (credential: string, _identity: unknown, from?: unknown, minValidMs?: number) => {
        calls.push({ credential, from, minValidMs });
        return r.answer(credential);
      },
    },
    approvals: {}, metrics: new Metrics(), logger,
    spool: { health: () => ({ ok: true }), append: (event: SessionEvent) => { records.push(event); return Promise.resolve({}); } },
  } as unknown as EnforcerDeps);
  return r;
}

const select = (s: Session): ReturnType<Session['authorize']> => s.authorize({ protocol: 'postgres', sql: 'SELECT id FROM orders WHERE id = 1' });
const flush = async (): Promise<void> => { for (let i = 0; i < 20; i++) await Promise.resolve(); };
const rejected = (reason: string) => (): Promise<VerifiedToken> => Promise.reject(new AuthError('Unauthenticated', reason, 'the service-account token was not accepted by the apiserver'));

beforeEach(() => { jest.useFakeTimers({ now: T0 }); });
afterEach(() => { jest.useRealTimers(); });

describe('service-account sessions are asked about again when their review is due', () => {
  it('before the due time, commands do not ask; at it, the next command waits for a review, and a rejection closes the session', async () => {
    const r = await rig();
    const s = await r.open();
    expect(r.calls).toHaveLength(1);
    jest.setSystemTime(T0 + TTL - 1);
    expect((await select(s)).verdict).toBe('allow');
    expect(r.calls).toHaveLength(1);
    r.setAnswer(rejected('tokenreview-rejected'));
    jest.setSystemTime(T0 + TTL);
    const auth = await select(s);
    // The re-check: no rate-limit context (bounded by the sessions open), no cache slack.
    expect(r.calls[1]).toEqual({ credential: 'sa-token', from: undefined, minValidMs: 0 });
    expect(auth).toMatchObject({ verdict: 'deny', decision: { code: 'SessionClosed' } });
    expect(s.closed.aborted).toBe(true);
    expect(String(s.closed.reason)).toMatch(/service-account token was reviewed again.*no longer verifies.*not accepted by the apiserver/);
    expect(r.records.find((e) => e.type === 'session.end')?.reason).toMatch(/reviewed again/);
    expect(r.enforcer.openSessions).toBe(0);
  });

  it('a verifier that cannot answer closes the session (fail closed)', async () => {
    const r = await rig();
    const s = await r.open();
    r.setAnswer(() => Promise.reject(new AuthError('Unavailable', 'tokenreview', 'TokenReview failed: connect ECONNREFUSED')));
    jest.setSystemTime(T0 + TTL + 1);
    expect(await select(s)).toMatchObject({ verdict: 'deny', decision: { code: 'SessionClosed' } });
    expect(s.closed.aborted).toBe(true);
  });

  it('a review that still holds moves the due time: the next minute of commands asks nothing', async () => {
    const r = await rig();
    const s = await r.open();
    jest.setSystemTime(T0 + TTL);
    expect((await select(s)).verdict).toBe('allow');
    expect(r.calls).toHaveLength(2);
    jest.setSystemTime(T0 + 2 * TTL - 1);
    for (let i = 0; i < 5; i++) expect((await select(s)).verdict).toBe('allow');
    expect(r.calls).toHaveLength(2);
    jest.setSystemTime(T0 + 2 * TTL);
    expect((await select(s)).verdict).toBe('allow');
    expect(r.calls).toHaveLength(3);
  });

  it('a review that maps the token to another identity closes the session', async () => {
    const r = await rig();
    const s = await r.open();
    r.setAnswer(() => Promise.resolve({ identity: { subject: 'system:serviceaccount:ns:other', groups: [], kind: 'ServiceAccount', namespace: 'ns' }, reviewDueAt: Date.now() + TTL }));
    jest.setSystemTime(T0 + TTL);
    expect(await select(s)).toMatchObject({ verdict: 'deny', decision: { code: 'SessionClosed' } });
    expect(String(s.closed.reason)).toMatch(/reviewed again .* and the session's credential now maps to ServiceAccount system:serviceaccount:ns:other/);
  });

  it('concurrent commands at the due time share one review', async () => {
    const r = await rig();
    const s = await r.open();
    jest.setSystemTime(T0 + TTL);
    const all = await Promise.all([select(s), select(s), select(s)]);
    expect(all.map((a) => a.verdict)).toEqual(['allow', 'allow', 'allow']);
    expect(r.calls).toHaveLength(2);
  });

  it('OIDC sessions (no review due time) are never asked about again', async () => {
    const r = await rig();
    r.setAnswer(() => Promise.resolve({ identity: { subject: 'support-agent', groups: ['support'], kind: 'User' }, expiresAt: Date.now() + 3600_000 }));
    const s = await r.open('oidc-token');
    jest.setSystemTime(T0 + 30 * TTL);
    expect((await select(s)).verdict).toBe('allow');
    r.enforcer.reviewSweep();
    expect(r.calls).toHaveLength(1);
  });
});

describe('the review sweep closes idle sessions', () => {
  it('an idle session whose review comes due before the next sweep is asked about ahead of it (no cached answer about to be due) and closed when rejected', async () => {
    const r = await rig();
    const s = await r.open();
    jest.setSystemTime(T0 + TTL - REVIEW_SWEEP_MS - 1);
    r.enforcer.reviewSweep();
    expect(r.calls).toHaveLength(1);
    r.setAnswer(rejected('tokenreview-rejected'));
    jest.setSystemTime(T0 + TTL - REVIEW_SWEEP_MS);
    r.enforcer.reviewSweep();
    expect(r.calls[1]).toEqual({ credential: 'sa-token', from: undefined, minValidMs: REVIEW_SWEEP_MS });
    await flush();
    expect(s.closed.aborted).toBe(true);
    expect(r.enforcer.openSessions).toBe(0);
  });

  it('runs by itself every REVIEW_SWEEP_MS', async () => {
    const r = await rig();
    const s = await r.open();
    r.setAnswer(rejected('tokenreview-rejected'));
    await jest.advanceTimersByTimeAsync(TTL);
    expect(s.closed.aborted).toBe(true);
    expect(r.calls.length).toBe(2);
  });

  it('starts at most REVIEWS_PER_SWEEP reviews per sweep, and does not count sessions still waiting for theirs', async () => {
    const r = await rig();
    const sessions = [];
    for (let i = 0; i < REVIEWS_PER_SWEEP + 6; i++) sessions.push(await r.open(`token-${i}`));
    const held: (() => void)[] = [];
    r.setAnswer(() => new Promise((resolve) => { held.push(() => resolve({ identity: { subject: 'system:serviceaccount:ns:batch', groups: ['system:serviceaccounts'], kind: 'ServiceAccount', namespace: 'ns' }, reviewDueAt: Date.now() + TTL })); }));
    jest.setSystemTime(T0 + TTL);
    r.enforcer.reviewSweep();
    expect(held).toHaveLength(REVIEWS_PER_SWEEP);
    r.enforcer.reviewSweep();
    expect(held).toHaveLength(REVIEWS_PER_SWEEP + 6);
    for (const h of held) h();
    await flush();
    r.enforcer.reviewSweep();
    expect(held).toHaveLength(REVIEWS_PER_SWEEP + 6);
    expect(sessions.every((s) => !s.closed.aborted)).toBe(true);
  });

  it('closeAll stops the sweep', async () => {
    const r = await rig();
    await r.open();
    await r.enforcer.closeAll('test');
    await jest.advanceTimersByTimeAsync(3 * TTL);
    expect(r.calls).toHaveLength(1);
  });
});
