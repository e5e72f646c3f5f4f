// Round 12b adversarial review of the round 12 identity fixes (brief
// /work/tmp/briefs/identity12b-review.md, report /work/tmp/identity12b-review.md). Each test in a
// `finding` block FAILS on a62124b for the reason its name states; the `held` blocks pass and
// record what was tried. The enforcer is the real SidecarEnforcer over the example policy with a
// scripted authenticator and a fake clock (as enforcer-review-due.test.ts); names go through the
// real identityOf. With the fixes (report /work/tmp/identity12b-fix.md) every test passes.
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { initPolicyEngine } from '../../../core/policy/index.ts';
import { parseAccessPolicy } from '../../../crds/validators.ts';
import type { Session } from '../enforcement.ts';
import { REVIEW_SWEEP_MS, REVIEWS_PER_SWEEP, SidecarEnforcer, type EnforcerDeps } from '../enforcer.ts';
import { AuthError, type VerifiedToken } from './index.ts';
import { Metrics } from '../metrics.ts';
import type { PolicyState } from '../policy-watch.ts';
import { compileTarget, type CompiledTarget } from '../targets.ts';
import { identityOf, type OidcSettings } from './oidc.ts';
import { LOOPBACK_SOURCE, sourceKey } from './source-key.ts';

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);
const TTL = 60_000;
const SA = { subject: 'system:serviceaccount:ns:batch', groups: ['system:serviceaccounts'], kind: 'ServiceAccount' as const, namespace: 'ns' };

type Answer = (credential: string) => Promise<VerifiedToken>;

async function rig(): Promise<{ enforcer: SidecarEnforcer; calls: string[]; setAnswer(fn: Answer): void; open(credential: string): Promise<Session> }> {
  await initPolicyEngine();
  const policy = parseAccessPolicy(parseYaml(readFileSync(join(import.meta.dirname, '../../../examples/lgpd-orders/accesspolicy.yaml'), 'utf8')));
  policy.spec.subjects = [...policy.spec.subjects, { kind: 'ServiceAccount', name: 'batch', namespace: 'ns' }];
  const compiled: CompiledTarget = compileTarget(policy, '/nonexistent');
  const state: PolicyState<CompiledTarget> = { state: 'ok', policy, compiled, generation: 1 };
  const calls: string[] = [];
  let answer: Answer = () => Promise.resolve({ identity: SA, reviewDueAt: Date.now() + TTL, expiresAt: Date.now() + 3600_000 });
  const logger = { info() {}, warn() {}, error() {}, debug() {}, child() { return logger; } };
  const enforcer = new SidecarEnforcer({
    config: { namespace: 'ns', podName: 'pod', targets: [{ target: 'orders-db', protocol: 'postgres', policy: 'orders-db', listenPort: 0 }], approvalWaitMs: 1000 },
    policies: { availability: () => ({ ok: true }), get: () => state, onChange: () => () => undefined },
    authenticator: { authenticate: (credential: string) => { calls.push(credential); return answer(credential); } },
    approvals: {}, metrics: new Metrics(), logger,
    spool: { health: () => ({ ok: true }), append: () => Promise.resolve({}) },
  } as unknown as EnforcerDeps);
  return {
    enforcer, calls,
    setAnswer(fn: Answer) { answer = fn; },
    open: async (credential: string): Promise<Session> => {
      const opened = await enforcer.openSession({ target: 'orders-db', credential, purpose: 'customer-support', client: { remoteAddress: '127.0.0.1' } });
      if (!opened.ok) throw new Error(opened.message);
      return opened.session;
    },
  };
}

const healthy = (): Promise<VerifiedToken> => Promise.resolve({ identity: SA, reviewDueAt: Date.now() + TTL, expiresAt: Date.now() + 3600_000 });
const unavailable = (): Promise<VerifiedToken> => Promise.reject(new AuthError('Unavailable', 'tokenreview', 'TokenReview failed: read ECONNRESET'));
const rejected = (): Promise<VerifiedToken> => Promise.reject(new AuthError('Unauthenticated', 'tokenreview-rejected', 'the service-account token was not accepted by the apiserver'));

describe('finding A: a one-second apiserver blip at a re-review closes a healthy service-account session', () => {
  beforeEach(() => { jest.useFakeTimers({ now: T0 }); });
  afterEach(() => { jest.useRealTimers(); });

  // docs/security-model.md (round 12): "Failing closed on re-review means an apiserver outage
  // longer than a minute closes every open service-account session"; the policy watch tolerates
  // GUARITA_POLICY_STALENESS (60 s) of apiserver outage. The re-review tolerates none: one failed
  // TokenReview (a connection reset, an apiserver restart, a 429 from priority and fairness) at the
  // sweep closes the session (a PostgreSQL connection is terminated, 57P01, its transaction lost).
  it('an idle session whose sweep review meets a 1 s outage (the apiserver answers again a second later) stays open', async () => {
    const r = await rig();
    const s = await r.open('sa-token');
    // The apiserver is unreachable for one second, just when the sweep asks (5 s before the due time).
    await jest.advanceTimersByTimeAsync(TTL - REVIEW_SWEEP_MS - 500);
    r.setAnswer(unavailable);
    await jest.advanceTimersByTimeAsync(1000);
    r.setAnswer(healthy);
    await jest.advanceTimersByTimeAsync(20_000);
    expect({ closed: s.closed.aborted, reason: s.closed.aborted ? String(s.closed.reason) : '' }).toEqual({ closed: false, reason: '' });
  });

  it('a busy session whose command meets the same 1 s outage at its due time is not closed (the command may wait or be refused, the session stays)', async () => {
    const r = await rig();
    const s = await r.open('sa-token');
    // Busy: it ran a command just now, so the sweep... is irrelevant; the command at the due time asks.
    jest.setSystemTime(T0 + TTL);
    r.setAnswer(unavailable);
    await s.authorize({ protocol: 'postgres', sql: 'SELECT id FROM orders WHERE id = 1' });
    r.setAnswer(healthy);
    expect({ closed: s.closed.aborted, reason: s.closed.aborted ? String(s.closed.reason) : '' }).toEqual({ closed: false, reason: '' });
  });
});

describe('finding B: the sweep always starts from the oldest sessions, so sessions behind ~704 busy ones are never reviewed', () => {
  beforeEach(() => { jest.useFakeTimers({ now: T0 }); });
  afterEach(() => { jest.useRealTimers(); });

  // 12 sweeps a minute × 64 = 768 re-reviews a minute, and every reviewed session is due again 60 s
  // later, 5 s ahead, i.e. after 11 sweeps: from then on the first 704 sessions of the Set take every
  // slot of every sweep and the sessions after them are never reached. A session in one long command
  // (kubectl exec shell, a watch, pg_sleep, a streamed body) has no "next command" to ask at, so a
  // deleted service account keeps that command running until the token's exp.
  it('a revoked session opened after 800 healthy ones is closed within ~70 s of its due time', async () => {
    const r = await rig();
    const healthyCount = 800;
    for (let i = 0; i < healthyCount; i++) await r.open('good-token');
    const victim = await r.open('revoked-token');
    r.setAnswer((credential) => (credential === 'revoked-token' ? rejected() : healthy()));
    // Five minutes: five due times for every session.
    await jest.advanceTimersByTimeAsync(5 * TTL);
    const asked = r.calls.filter((c) => c === 'revoked-token').length;
    expect({ closed: victim.closed.aborted, reviewsOfRevoked: asked, perSweep: REVIEWS_PER_SWEEP }).toEqual({ closed: true, reviewsOfRevoked: 2, perSweep: 64 });
  });
});

describe('finding C: names in scripts that need ZWNJ/ZWJ are refused as "invisible"', () => {
  const ISSUER = 'https://idp.example';
  const base = { iss: ISSUER, aud: 'guarita', exp: 2_000_000_000 };
  const settings: OidcSettings = { issuer: ISSUER, audiences: ['guarita'], usernameClaim: 'preferred_username' };
  // Persian writes ZWNJ (U+200C) inside many names and words (علی‌رضا Ali-Reza, نرگس‌خاتون); Hindi,
  // Marathi, Bengali and Malayalam use ZWJ/ZWNJ to pick a conjunct form (क्‍ष, র‍্যাব). They are part of
  // the spelling, in the IdP's directory and in the policy's subjects; IDNA allows them in exactly
  // these contexts (RFC 5892 A.1/A.2, CONTEXTJ). The apiserver takes them as they are.
  for (const name of ['علی‌رضا.محمدی', 'محمد‌حسین', 'कार्‍यालय-ops', 'ശ്രീ‍കുമാർ']) {
    it(`${JSON.stringify(name)} is a username`, () => {
      expect(() => identityOf({ ...base, sub: 'x', preferred_username: name }, settings)).not.toThrow();
    });
  }
  it('a Persian group name with ZWNJ is a group', () => {
    expect(() => identityOf({ ...base, sub: 'x', preferred_username: 'ali', groups: ['پشتیبانی‌مشتری'] }, settings)).not.toThrow();
  });
});

describe('held: legitimate names pass, the refusal is not bypassed by the listed spellings', () => {
  const ISSUER = 'https://idp.example';
  const base = { iss: ISSUER, aud: 'guarita', exp: 2_000_000_000 };
  const settings: OidcSettings = { issuer: ISSUER, audiences: ['guarita'], usernameClaim: 'preferred_username' };
  it('accents (NFC and NFD), spaces, CJK, Cyrillic, Arabic, Devanagari without joiners pass', () => {
    for (const name of ['José Núñez', 'Jose\u0301 Nu\u0301n\u0303ez', 'Zoë O\'Brien-Åström', '田中 太郎', 'Владимир', 'محمد', 'प्रिया शर्मा', 'Nguyễn Văn A', 'ẞtraße']) {
      expect([name, identityOf({ ...base, sub: 'x', preferred_username: name }, settings).identity.subject]).toEqual([name, name]);
    }
  });
  it('control, bidi and zero-width characters are refused (Latin context)', () => {
    for (const name of ['alice\u200b@corp', 'alice\u200c', 'al\u202eice', 'alice\u0085', 'alice\u2028x', 'alice\u00ad', 'alice\ufeff', 'alice\u2066']) {
      expect(() => identityOf({ ...base, sub: 'x', preferred_username: name }, settings)).toThrow(expect.objectContaining({ reason: 'subject-characters' }));
    }
  });
  it('homoglyphs and look-alike spaces pass (not claimed by the docs: security-model.md lists look-alikes as out of reach); they match no rule written in Latin', () => {
    for (const name of ['\u0430lice', 'alice\u00a0smith', 'alice\u2003', 'ａｌｉｃｅ']) expect(identityOf({ ...base, sub: 'x', preferred_username: name }, settings).identity.subject).toBe(name);
  });
  it('email_verified as the string "true" is refused (documented in access-policy.md, as the apiserver does); "Email" is not "email"', () => {
    const byEmail: OidcSettings = { issuer: ISSUER, audiences: ['guarita'], usernameClaim: 'email' };
    expect(() => identityOf({ ...base, sub: 'x', email: 'a@corp.example', email_verified: 'true' }, byEmail)).toThrow(expect.objectContaining({ reason: 'claim-unverified' }));
    // A custom claim of another case has no verified flag of its own (as preferred_username): taken as is.
    expect(identityOf({ ...base, sub: 'x', Email: 'a@corp.example', email_verified: false }, { ...byEmail, usernameClaim: 'Email' }).identity.subject).toBe('a@corp.example');
  });
});

describe('held: sourceKey over the spellings Node can report', () => {
  it('every loopback spelling a socket can carry is one key; the IPv4-in-IPv6 forms that do not reach a socket are IPv6 /64 keys, one each', () => {
    for (const a of ['127.0.0.1', '127.45.6.7', '::1', '::ffff:127.0.0.2', '::ffff:7f00:2', '::1%lo']) expect([a, sourceKey(a)]).toEqual([a, LOOPBACK_SOURCE]);
    expect(sourceKey('::ffff:0:127.0.0.1')).toBe('ipv6:0:0:0:0::/64');
    expect(sourceKey('::127.0.0.1')).toBe('ipv6:0:0:0:0::/64');
    expect(sourceKey('64:ff9b::7f00:1')).toBe('ipv6:64:ff9b:0:0::/64');
    expect(sourceKey('2002:7f00:1::1')).toBe('ipv6:2002:7f00:1:0::/64');
    expect(sourceKey('fe80::1%eth0')).toBe(sourceKey('fe80::2'));
  });
});
