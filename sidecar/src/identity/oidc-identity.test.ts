// Round 12, F3 (and the review's "not done" item on names): what a verified token's claims may
// become. A claim the issuer marks unverified is never the username, groups or purpose (as the
// Kubernetes apiserver refuses --oidc-username-claim=email with email_verified false), nor recorded
// as the requester's; a name with characters a reader cannot see as they are is no identity. The
// signature and the other checks are tested against the harness IdP (sidecar/test/oidc.int.test.ts,
// identity-round12-attacks.int.test.ts).
import { describe, expect, it } from '@jest/globals';
import { identityOf, type OidcSettings } from './oidc.ts';

const ISSUER = 'https://idp.example';
const base = { iss: ISSUER, aud: 'guarita', sub: 'mallory-self-registered', exp: 2_000_000_000 };
const byEmail: OidcSettings = { issuer: ISSUER, audiences: ['guarita'], usernameClaim: 'email' };

describe('claims the issuer marks unverified', () => {
  it('usernameClaim email: refused when email_verified is present and anything but the JSON true', () => {
    for (const flag of [false, 'true', 'false', 1, 0, null, 'yes', [], {}, [true]]) {
      expect(() => identityOf({ ...base, email: 'alice.dpo@corp.example', email_verified: flag }, byEmail)).toThrow(expect.objectContaining({
        code: 'Unauthenticated', reason: 'claim-unverified', message: expect.stringMatching(/email claim is marked unverified.*usernameClaim.*such as sub/),
      }));
    }
  });

  it('usernameClaim email: accepted with email_verified true, and (as the apiserver does) without the flag', () => {
    expect(identityOf({ ...base, email: 'alice.dpo@corp.example', email_verified: true }, byEmail).identity.subject).toBe('alice.dpo@corp.example');
    expect(identityOf({ ...base, email: 'alice.dpo@corp.example' }, byEmail).identity.subject).toBe('alice.dpo@corp.example');
  });

  it('groupsClaim and purposeClaim naming an unverified claim are refused too; phone_number is judged by phone_number_verified', () => {
    const claims = { ...base, email: 'dpo@corp.example', email_verified: false, phone_number: '+55 11 99999-0000', phone_number_verified: false };
    expect(() => identityOf(claims, { issuer: ISSUER, audiences: ['guarita'], groupsClaim: 'email' })).toThrow(expect.objectContaining({ reason: 'claim-unverified', message: expect.stringContaining('groupsClaim') }));
    expect(() => identityOf(claims, { issuer: ISSUER, audiences: ['guarita'], purposeClaim: 'email' })).toThrow(expect.objectContaining({ reason: 'claim-unverified', message: expect.stringContaining('purposeClaim') }));
    expect(() => identityOf(claims, { issuer: ISSUER, audiences: ['guarita'], usernameClaim: 'phone_number' })).toThrow(expect.objectContaining({ reason: 'claim-unverified', message: expect.stringContaining('phone_number_verified') }));
  });

  it('usernameClaim sub: an unverified e-mail does not refuse the token, and is not recorded as the requester\'s', () => {
    const verified = identityOf({ ...base, email: 'alice.dpo@corp.example', email_verified: false, preferred_username: 'mallory' }, { issuer: ISSUER, audiences: ['guarita'] });
    expect(verified.identity).toMatchObject({ subject: 'mallory-self-registered', claims: { sub: 'mallory-self-registered', preferred_username: 'mallory' } });
    expect(verified.identity.claims).not.toHaveProperty('email');
    // Verified (or unflagged) e-mails are recorded as before.
    expect(identityOf({ ...base, email: 'm@corp.example', email_verified: true }, { issuer: ISSUER, audiences: ['guarita'] }).identity.claims).toMatchObject({ email: 'm@corp.example' });
    expect(identityOf({ ...base, email: 'm@corp.example' }, { issuer: ISSUER, audiences: ['guarita'] }).identity.claims).toMatchObject({ email: 'm@corp.example' });
  });

  it('OIDC identities carry no review due time: a JWT is not introspected', () => {
    expect(identityOf(base, { issuer: ISSUER, audiences: ['guarita'] })).not.toHaveProperty('reviewDueAt');
  });
});

describe('names a reader cannot see as they are', () => {
  const hidden = ['\u0000', '\t', '\n', '\r', '\u000b', '\u000c', '\u001b[2K', '\u007f', '\u0085', '\u009b', '\u00ad', '\u200b', '\u200e', '\u202e', '\u2028', '\u2029', '\u2066', '\ufeff', '\u{e0041}'];
  it('a username holding a control, format or invisible character is refused', () => {
    for (const c of hidden) {
      expect(() => identityOf({ ...base, sub: `alice${c}@corp.example` }, { issuer: ISSUER, audiences: ['guarita'] })).toThrow(expect.objectContaining({ reason: 'subject-characters', message: expect.stringContaining('sub claim') }));
    }
  });

  it('a group holding one is refused; plain names (accents, spaces, other scripts) are not', () => {
    for (const c of hidden) {
      expect(() => identityOf({ ...base, groups: ['support', `dpo${c}`] }, { issuer: ISSUER, audiences: ['guarita'] })).toThrow(expect.objectContaining({ reason: 'subject-characters' }));
    }
    expect(identityOf({ ...base, sub: 'joão.silva@empresa.com.br', groups: ['Suporte Nível 2', 'サポート'] }, { issuer: ISSUER, audiences: ['guarita'] }).identity).toMatchObject({ subject: 'joão.silva@empresa.com.br', groups: ['Suporte Nível 2', 'サポート'] });
  });
});

describe('joiners (round 12b, finding C: showable-name.ts has every context)', () => {
  it('a Persian or Devanagari name with a joiner inside a word is an identity; the same joiner at an end or in Latin is refused, naming where and the rule', () => {
    const persian = 'علی\u200cرضا';
    expect(identityOf({ ...base, sub: persian, groups: ['پشتیبانی\u200cمشتری', 'कार्\u200dयालय'] }, { issuer: ISSUER, audiences: ['guarita'] }).identity).toMatchObject({ subject: persian, groups: ['پشتیبانی\u200cمشتری', 'कार्\u200dयालय'] });
    expect(() => identityOf({ ...base, sub: `${persian}\u200c` }, { issuer: ISSUER, audiences: ['guarita'] })).toThrow(expect.objectContaining({
      reason: 'subject-characters', message: expect.stringMatching(/sub claim \(the username\) holds control or invisible characters \(U\+200C at offset 7\).*only between two letters or marks of one script written with joiners/),
    }));
    expect(() => identityOf({ ...base, groups: ['support', 'dp\u200do'] }, { issuer: ISSUER, audiences: ['guarita'] })).toThrow(expect.objectContaining({
      reason: 'subject-characters', message: expect.stringMatching(/a group in the token's groups claim .*\(U\+200D at offset 2\)/),
    }));
  });
});
