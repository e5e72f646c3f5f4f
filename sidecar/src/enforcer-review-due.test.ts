// Round 12, F2: a service-account session is only as good as its last TokenReview. The session
// asks the apiserver again once the review's answer is due (60 s), on its next command or, idle,
// from the enforcer's sweep; a credential that no longer verifies closes the session, and a verifier
// that cannot answer closes it once the grace past the due time has run out (round 12b, finding A).
// OIDC sessions have nothing to ask again (no introspection). The real SidecarEnforcer over the
// example policy, with a scripted authenticator and a fake clock.
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { initPolicyEngine } from '../../core/policy/index.ts';
import type { SessionEvent } from '../../core/recording/index.ts';
import { parseAccessPolicy } from '../../crds/validators.ts';
import type { Session } from './enforcement.ts';
import { REVIEW_GRACE_MS, REVIEW_RETRY, REVIEW_SWEEP_MS, REVIEWS_PER_SWEEP, SidecarEnforcer, type EnforcerDeps } from './enforcer.ts';
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

/** A rig and a session opened in it; the TokenReview then unavailable, and the clock set to `at` (the review's due time by default). */
async function unansweredAt(at = T0 + TTL): Promise<{ r: Awaited<ReturnType<typeof rig>>; s: Session }> {
  const r = await rig();
  const s = await r.open();
  r.setAnswer(unavailable('tokenreview'));
  jest.setSystemTime(at);
  return { r, s };
}

const select = (s: Session): ReturnType<Session['authorize']> => s.authorize({ protocol: 'postgres', sql: 'SELECT id FROM orders WHERE id = 1' });
const flush = async (): Promise<void> => { for (let i = 0; i < 20; i++) await Promise.resolve(); };
const rejected = (reason: string) => (): Promise<VerifiedToken> => Promise.reject(new AuthError('Unauthenticated', reason, 'the service-account token was not accepted by the apiserver'));
const unavailable = (reason: string, message = `TokenReview refused: ${reason}`) => (): Promise<VerifiedToken> => Promise.reject(new AuthError('Unavailable', reason, message));
const BATCH = { subject: 'system:serviceaccount:ns:batch', groups: ['system:serviceaccounts'], kind: 'ServiceAccount' as const, namespace: 'ns' };
const healthy = (): Promise<VerifiedToken> => Promise.resolve({ identity: BATCH, reviewDueAt: Date.now() + TTL, expiresAt: Date.now() + 3600_000 });

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

  it('a verifier that cannot answer keeps the session on its last answer for the grace, then closes it (fail closed)', async () => {
    const r = await rig();
    const s = await r.open();
    r.setAnswer(unavailable('tokenreview', 'TokenReview failed: connect ECONNREFUSED'));
    jest.setSystemTime(T0 + TTL + 1);
    // The command runs on the last answer; the session stays.
    expect((await select(s)).verdict).toBe('allow');
    expect(s.closed.aborted).toBe(false);
    // Just before the grace ends: still open (the sweep kept asking, the apiserver kept failing).
    await jest.advanceTimersByTimeAsync(REVIEW_GRACE_MS - 2);
    expect(s.closed.aborted).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    expect(s.closed.aborted).toBe(true);
    expect(String(s.closed.reason)).toMatch(/due for review at 2026-01-02T03:05:05.000Z and the apiserver did not answer within the 60 s grace past it \(last: TokenReview failed: connect ECONNREFUSED\)/);
    expect(r.records.find((e) => e.type === 'session.end')?.reason).toMatch(/did not answer within the 60 s grace/);
    expect(r.enforcer.openSessions).toBe(0);
    expect(await select(s)).toMatchObject({ verdict: 'deny', decision: { code: 'SessionClosed' } });
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

// Round 12b, finding A: a review the apiserver cannot answer (Unavailable) keeps the session on its
// last answer for REVIEW_GRACE_MS past the due time, asked again meanwhile with a backoff; an answer
// that the token no longer verifies, or maps to another identity, closes it at once.
describe('the grace after a review the apiserver cannot answer', () => {
  it('every Unavailable reason rides out the grace (a reset, a timeout, a 429, the verifier\'s own caps)', async () => {
    for (const reason of ['tokenreview', 'rate-limited-source', 'rate-limited-connection', 'concurrency']) {
      const r = await rig();
      const s = await r.open();
      r.setAnswer(unavailable(reason));
      jest.setSystemTime(Date.now() + TTL);
      expect([reason, (await select(s)).verdict, s.closed.aborted]).toEqual([reason, 'allow', false]);
      await r.enforcer.closeAll('test');
    }
  });

  it('a failure that is not the verifier\'s Unavailable closes at once (fail closed)', async () => {
    for (const answer of [rejected('tokenreview-rejected'), rejected('claim-aud'), rejected('expired'), () => Promise.reject(new TypeError('a bug')), () => Promise.reject(new Error('TokenReview failed'))]) {
      const r = await rig();
      const s = await r.open();
      r.setAnswer(answer);
      jest.setSystemTime(Date.now() + TTL);
      expect(await select(s)).toMatchObject({ verdict: 'deny', decision: { code: 'SessionClosed' } });
      expect(s.closed.aborted).toBe(true);
    }
  });

  it('a rejection during the grace closes at once: a revoked account is caught by the first answer', async () => {
    const { r, s } = await unansweredAt();
    expect((await select(s)).verdict).toBe('allow');
    // The apiserver answers again 20 s into the grace: the account was deleted meanwhile.
    await jest.advanceTimersByTimeAsync(20_000);
    expect(s.closed.aborted).toBe(false);
    r.setAnswer(rejected('tokenreview-rejected'));
    // The next ask (sweep or command) is at most the backoff's cap away.
    await jest.advanceTimersByTimeAsync(REVIEW_RETRY.capMs + REVIEW_SWEEP_MS);
    expect(s.closed.aborted).toBe(true);
    expect(String(s.closed.reason)).toMatch(/no longer verifies: the service-account token was not accepted/);
  });

  it('an answer naming another identity during the grace closes at once', async () => {
    const { r, s } = await unansweredAt();
    await select(s);
    r.setAnswer(() => Promise.resolve({ identity: { ...BATCH, subject: 'system:serviceaccount:ns:other' }, reviewDueAt: Date.now() + TTL }));
    jest.setSystemTime(T0 + TTL + REVIEW_RETRY.capMs);
    await select(s);
    await flush();
    expect(String(s.closed.reason)).toMatch(/now maps to ServiceAccount system:serviceaccount:ns:other/);
  });

  it('a positive answer ends the outage: the grace timer is gone and the next review is a minute on', async () => {
    const r = await rig();
    const s = await r.open();
    r.setAnswer(unavailable('tokenreview'));
    await jest.advanceTimersByTimeAsync(TTL);
    r.setAnswer(healthy);
    await jest.advanceTimersByTimeAsync(REVIEW_RETRY.capMs + REVIEW_SWEEP_MS);
    const calls = r.calls.length;
    // Past where the grace would have ended: open, and no ask until the new answer is due.
    await jest.advanceTimersByTimeAsync(REVIEW_GRACE_MS);
    expect(s.closed.aborted).toBe(false);
    expect(r.calls.length - calls).toBeLessThanOrEqual(1);
  });

  it('an idle session through a 50 s outage stays open; through a longer one it is closed at the grace\'s end, not before', async () => {
    for (const outageMs of [50_000, 120_000]) {
      const r = await rig();
      const opened = Date.now();
      const s = await r.open();
      // Down from 1 s before the sweep's first ask (due - 5 s) for outageMs.
      await jest.advanceTimersByTimeAsync(TTL - REVIEW_SWEEP_MS - 1000);
      r.setAnswer(unavailable('tokenreview', 'TokenReview failed: read ECONNRESET'));
      await jest.advanceTimersByTimeAsync(Math.min(outageMs, TTL + REVIEW_GRACE_MS - (Date.now() - opened) - 1));
      expect([outageMs, s.closed.aborted]).toEqual([outageMs, false]);
      r.setAnswer(healthy);
      await jest.advanceTimersByTimeAsync(REVIEW_RETRY.capMs + REVIEW_SWEEP_MS);
      expect([outageMs, s.closed.aborted]).toEqual([outageMs, outageMs > REVIEW_GRACE_MS]);
      await r.enforcer.closeAll('test');
    }
  });

  it('a review that hangs does not stretch the grace: the session closes at its end with the review still in flight', async () => {
    const { r, s } = await unansweredAt();
    await select(s);
    r.setAnswer(() => new Promise(() => undefined));
    await jest.advanceTimersByTimeAsync(REVIEW_GRACE_MS);
    expect(s.closed.aborted).toBe(true);
  });

  it('the grace runs from the due time: a first failure later than the grace closes at once', async () => {
    const { s } = await unansweredAt(T0 + TTL + REVIEW_GRACE_MS);
    expect(await select(s)).toMatchObject({ verdict: 'deny', decision: { code: 'SessionClosed' } });
  });

  it('a busy session does not hammer the apiserver: commands every 50 ms through the whole grace ask about a dozen times', async () => {
    const { r, s } = await unansweredAt();
    const before = r.calls.length;
    while (!s.closed.aborted) {
      await select(s);
      await jest.advanceTimersByTimeAsync(50);
    }
    // 1 s, 2 s, 4 s, 8 s then every 10 s: ~9 asks in 60 s, whatever the command rate.
    expect(r.calls.length - before).toBeGreaterThanOrEqual(5);
    expect(r.calls.length - before).toBeLessThanOrEqual(12);
    expect(Date.now() - (T0 + TTL)).toBeGreaterThanOrEqual(REVIEW_GRACE_MS);
  });

  it('commands during the grace never wait for the apiserver', async () => {
    const { r, s } = await unansweredAt();
    await select(s);
    // Every ask now hangs; commands still answer at once (the retry runs behind them).
    r.setAnswer(() => new Promise(() => undefined));
    jest.setSystemTime(T0 + TTL + REVIEW_RETRY.capMs);
    for (let i = 0; i < 3; i++) expect((await select(s)).verdict).toBe('allow');
  });

  it('a spec.identity change is not a review: an unanswered re-verification under it closes at once (no last answer under the new configuration)', async () => {
    const r = await rig();
    const s = await r.open();
    const { compileTarget: compile } = await import('./targets.ts');
    const policy = structuredClone((r.enforcer.available({ target: 'orders-db', protocol: 'postgres', policy: 'orders-db', listenPort: 0 }) as { ok: true; target: CompiledTarget }).target.policy);
    policy.spec.identity = { ...policy.spec.identity, serviceAccounts: { audiences: ['guarita', 'other'] } };
    r.setAnswer(unavailable('tokenreview'));
    expect(await (s as unknown as { identityHolds(t: CompiledTarget): Promise<boolean> }).identityHolds(compile(policy, '/nonexistent'))).toBe(false);
    expect(String(s.closed.reason)).toMatch(/spec.identity changed/);
  });
});

// Round 12b, finding B: the sweep takes the most overdue sessions first, so every session due is
// reached within ceil(N / REVIEWS_PER_SWEEP) sweeps, however many sessions opened before it.
describe('the sweep reaches every session', () => {
  it('a revoked session opened after 1000 healthy ones is closed within ceil(1001 / 64) sweeps of its due time', async () => {
    const r = await rig();
    for (let i = 0; i < 1000; i++) await r.open('good-token');
    const victim = await r.open('revoked-token');
    r.setAnswer((credential) => (credential === 'revoked-token' ? rejected('tokenreview-rejected')() : healthy()));
    const due = T0 + TTL;
    while (!victim.closed.aborted && Date.now() < T0 + 10 * TTL) await jest.advanceTimersByTimeAsync(1000);
    expect(victim.closed.aborted).toBe(true);
    expect(Date.now() - due).toBeLessThanOrEqual(Math.ceil(1001 / REVIEWS_PER_SWEEP) * REVIEW_SWEEP_MS);
  });

  it('in steady state with twice the sweep\'s capacity, no session waits longer than ceil(N / 64) sweeps past its due time', async () => {
    const r = await rig();
    const n = 1536;
    const sessions = [];
    for (let i = 0; i < n; i++) sessions.push(await r.open(`token-${i}`));
    const asked = new Map<string, number[]>();
    r.setAnswer((credential) => {
      asked.set(credential, [...(asked.get(credential) ?? []), Date.now()]);
      return healthy();
    });
    await jest.advanceTimersByTimeAsync(10 * TTL);
    const boundMs = TTL + Math.ceil(n / REVIEWS_PER_SWEEP) * REVIEW_SWEEP_MS;
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const times = [T0, ...(asked.get(`token-${i}`) ?? [])];
      for (let j = 1; j < times.length; j++) worst = Math.max(worst, (times[j] ?? 0) - (times[j - 1] ?? 0));
      // Every session was asked again several times in ten minutes.
      expect([i, times.length >= 4]).toEqual([i, true]);
    }
    expect(worst).toBeLessThanOrEqual(boundMs);
    expect(sessions.every((s) => !s.closed.aborted)).toBe(true);
  });

  it('a session waiting to be asked again after an unanswered review comes before sessions due after it, whatever their order of opening', async () => {
    const r = await rig();
    // Opened first, due 2 s later than the session opened after them.
    jest.setSystemTime(T0 + 2000);
    const late = [];
    for (let i = 0; i < REVIEWS_PER_SWEEP; i++) late.push(await r.open(`late-${i}`));
    jest.setSystemTime(T0);
    const early = await r.open('early');
    r.setAnswer((credential) => (credential === 'early' ? unavailable('tokenreview')() : healthy()));
    // Only the early session is due at its first ask; the apiserver does not answer it (it rides the grace).
    jest.setSystemTime(T0 + TTL - REVIEW_SWEEP_MS);
    r.enforcer.reviewSweep();
    await flush();
    expect([early.closed.aborted, r.calls.map((c) => c.credential).slice(1 + REVIEWS_PER_SWEEP)]).toEqual([false, ['early']]);
    r.calls.length = 0;
    // Now its re-ask (1 s on) and the late sessions' reviews are all due: the re-ask is the most overdue.
    jest.setSystemTime(T0 + TTL);
    r.enforcer.reviewSweep();
    expect(r.calls[0]?.credential).toBe('early');
    expect(r.calls).toHaveLength(REVIEWS_PER_SWEEP);
    expect(late.every((s) => !s.closed.aborted)).toBe(true);
  });
});
