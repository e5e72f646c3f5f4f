// What cannot be staged against a real apiserver on demand: reviews that stay in flight (the
// concurrency cap, one review per token, uncharged re-checks). The reviews themselves, the
// pre-check corpus and the rate limits are tested against the real apiserver in
// sidecar/test/identity.int.test.ts; the bucket arithmetic in core/token-buckets.test.ts.
import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { KubeClient } from '../kube/client.ts';
import { AuthError } from './errors.ts';
import { ServiceAccountVerifier, tokenIssuer } from './service-account.ts';

describe('tokenIssuer', () => {
  it('reads iss from a JWT and nothing from anything else', () => {
    const jwt = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from('{"iss":"https://kubernetes.default.svc"}').toString('base64url')}.sig`;
    expect(tokenIssuer(`${jwt}\n`)).toBe('https://kubernetes.default.svc');
    expect(tokenIssuer('not a token')).toBeUndefined();
  });
});

/** An apiserver whose TokenReviews answer only when the test says so. */
function heldApiserver(): { kube: KubeClient; pending: { token: string; answer(authenticated: boolean): void }[] } {
  const pending: { token: string; answer(authenticated: boolean): void }[] = [];
  const kube = {
    request: (_path: string, opts: { body: { spec: { token: string; audiences: string[] } } }) => new Promise((resolve) => {
      pending.push({
        token: opts.body.spec.token,
        answer: (authenticated) => resolve({ status: authenticated ? { authenticated, audiences: opts.body.spec.audiences, user: { username: 'system:serviceaccount:ns:sa', groups: [] } } : { authenticated } }),
      });
    }),
  } as unknown as KubeClient;
  return { kube, pending };
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
function saToken(): string {
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: 'RS256' })}.${b64({ iss: 'https://kubernetes.default.svc', aud: ['guarita'], sub: 'system:serviceaccount:ns:sa', exp: now + 600, jti: randomBytes(6).toString('hex') })}.${randomBytes(32).toString('base64url')}`;
}

describe('ServiceAccountVerifier with reviews in flight', () => {
  it('caps reviews in flight: the next distinct token is refused with 503 until one answers', async () => {
    const api = heldApiserver();
    const v = new ServiceAccountVerifier(api.kube, { maxInFlight: 3, perSource: { burst: 100, perMinute: 6000 }, issuers: ['https://kubernetes.default.svc'] });
    const held = [0, 1, 2].map((i) => v.verify(saToken(), ['guarita'], { source: `10.0.0.${i}` }));
    await expect(v.verify(saToken(), ['guarita'], { source: '10.0.0.9' })).rejects.toMatchObject({ code: 'Unavailable', reason: 'concurrency' });
    expect(api.pending).toHaveLength(3);
    api.pending[0]?.answer(true);
    await held[0];
    const next = v.verify(saToken(), ['guarita'], { source: '10.0.0.9' });
    expect(api.pending).toHaveLength(4);
    for (const p of api.pending.slice(1)) p.answer(false);
    await expect(next).rejects.toBeInstanceOf(AuthError);
    await Promise.allSettled(held);
  });

  it('sends one review for one token however many requests carry it at once, and answers repeats from the cache', async () => {
    const api = heldApiserver();
    const v = new ServiceAccountVerifier(api.kube, { perSource: { burst: 1, perMinute: 1 } });
    const token = saToken();
    const all = Array.from({ length: 20 }, () => v.verify(token, ['guarita'], { source: '127.0.0.1' }));
    expect(api.pending).toHaveLength(1);
    api.pending[0]?.answer(false);
    const results = await Promise.allSettled(all);
    expect(results.every((r) => r.status === 'rejected' && (r.reason as AuthError).reason === 'tokenreview-rejected')).toBe(true);
    // The source's budget (1) is spent, but the rejection is cached: no review, no rate-limit answer.
    await expect(v.verify(token, ['guarita'], { source: '127.0.0.1' })).rejects.toMatchObject({ reason: 'tokenreview-rejected' });
    await expect(v.verify(saToken(), ['guarita'], { source: '127.0.0.1' })).rejects.toMatchObject({ code: 'Unavailable', reason: 'rate-limited-source' });
    expect(api.pending).toHaveLength(1);
  });

  it('re-checks of open sessions (no source) are not charged to any budget', async () => {
    const api = heldApiserver();
    const v = new ServiceAccountVerifier(api.kube, { perSource: { burst: 1, perMinute: 1 }, maxInFlight: 1 });
    const first = v.verify(saToken(), ['guarita'], { source: '127.0.0.1' });
    const recheck = v.verify(saToken(), ['guarita']);
    expect(api.pending).toHaveLength(2);
    for (const p of api.pending) p.answer(true);
    await expect(first).resolves.toMatchObject({ identity: { subject: 'system:serviceaccount:ns:sa', kind: 'ServiceAccount', namespace: 'ns' } });
    await expect(recheck).resolves.toMatchObject({ identity: { kind: 'ServiceAccount' } });
  });
});

describe('the source budget (round 12, F1): keyed by what the agent cannot vary', () => {
  it('forgeries from any loopback spelling (127.0.0.0/8, ::1, ::ffff:127.x) draw on one budget', async () => {
    const api = heldApiserver();
    const v = new ServiceAccountVerifier(api.kube, { perSource: { burst: 2, perMinute: 1 } });
    const sources = ['127.0.0.1', '127.0.1.2', '::1', '::ffff:127.0.0.3', '::ffff:7f00:4', '127.255.0.9'];
    const results = sources.map((source) => v.verify(saToken(), ['guarita'], { source }));
    // Two reviews (the budget), then every other source is the same one: refused before a review.
    expect(api.pending).toHaveLength(2);
    for (const r of results.slice(2)) await expect(r).rejects.toMatchObject({ code: 'Unavailable', reason: 'rate-limited-source', message: expect.stringContaining('loopback') });
    for (const p of api.pending) p.answer(false);
    await Promise.allSettled(results);
  });

  it('another IPv4 host has its own budget; addresses of one IPv6 /64 share one', async () => {
    const api = heldApiserver();
    const v = new ServiceAccountVerifier(api.kube, { perSource: { burst: 1, perMinute: 1 } });
    const pending = [v.verify(saToken(), ['guarita'], { source: '10.0.0.1' }), v.verify(saToken(), ['guarita'], { source: '::ffff:10.0.0.2' }), v.verify(saToken(), ['guarita'], { source: '2001:db8::1' })];
    expect(api.pending).toHaveLength(3);
    await expect(v.verify(saToken(), ['guarita'], { source: '::ffff:10.0.0.1' })).rejects.toMatchObject({ reason: 'rate-limited-source' });
    await expect(v.verify(saToken(), ['guarita'], { source: '2001:db8::ffff:2' })).rejects.toMatchObject({ reason: 'rate-limited-source' });
    for (const p of api.pending) p.answer(false);
    await Promise.allSettled(pending);
  });
});

/**
 * A verifier with a 60 s TTL on a held apiserver, its clock at 1 000 000 ms (`clock.now`, moved by the
 * test), and a token's first review (from 127.0.0.1) answered positively.
 */
function reviewedOnce(): { clock: { now: number }; api: ReturnType<typeof heldApiserver>; v: ServiceAccountVerifier; token: string; first: ReturnType<ServiceAccountVerifier['verify']> } {
  const clock = { now: 1_000_000 };
  const api = heldApiserver();
  const v = new ServiceAccountVerifier(api.kube, { ttlMs: 60_000, now: () => clock.now });
  const token = saToken();
  const first = v.verify(token, ['guarita'], { source: '127.0.0.1' });
  api.pending[0]?.answer(true);
  return { clock, api, v, token, first };
}

describe('a review answers for its TTL only (round 12, F2)', () => {
  it('a positive answer says when it is due again; the cache serves it until then and not past it', async () => {
    const { clock, api, v, token, first } = reviewedOnce();
    await expect(first).resolves.toMatchObject({ reviewDueAt: 1_060_000 });
    clock.now += 59_000;
    await expect(v.verify(token, ['guarita'])).resolves.toMatchObject({ reviewDueAt: 1_060_000 });
    expect(api.pending).toHaveLength(1);
    // Asked within 5 s of the due time with minValidMs 5 s: the cached answer is not reused.
    const ahead = v.verify(token, ['guarita'], undefined, 5000);
    expect(api.pending).toHaveLength(2);
    api.pending[1]?.answer(false);
    await expect(ahead).rejects.toMatchObject({ code: 'Unauthenticated', reason: 'tokenreview-rejected' });
    // The apiserver's new answer replaced the old one.
    await expect(v.verify(token, ['guarita'])).rejects.toMatchObject({ reason: 'tokenreview-rejected' });
  });

  it('at the due time the cached answer is gone: the re-check asks the apiserver', async () => {
    const { clock, api, v, token, first } = reviewedOnce();
    await first;
    clock.now += 60_000;
    const again = v.verify(token, ['guarita']);
    expect(api.pending).toHaveLength(2);
    api.pending[1]?.answer(true);
    await expect(again).resolves.toMatchObject({ reviewDueAt: 1_120_000 });
  });
});
