import { describe, expect, it } from '@jest/globals';
import { approvalMappingWarnings, matchRequester, parseUsernameMappings, recordedClaims, type OidcUsernameMapping, type RecordedRequester, type Reviewer } from './requester.ts';

const ISS = 'https://idp.example.com';
const OTHER_ISS = 'https://other-idp.example.com';

// What the sidecar records for a person: the policy maps `sub`; the token also carries email and preferred_username.
const alice: RecordedRequester = {
  username: 'a1b2c3', kind: 'User', issuer: ISS,
  claims: { sub: 'a1b2c3', email: 'alice@example.com', preferred_username: 'alice' },
};

const mapping = (claim: string, prefix: string, issuer = ISS): OidcUsernameMapping => ({ issuer, claim, prefix });
/** A reviewer the apiserver authenticated with no uid (legacy OIDC flags, static tokens). */
const u = (username: string, uid?: string): Reviewer => ({ username, ...(uid === undefined ? {} : { uid }) });

// Every way an apiserver may name alice, and the mapping that describes it.
const APISERVER_MAPPINGS: { how: string; mapping: OidcUsernameMapping; aliceIs: string }[] = [
  { how: 'legacy flags, claim sub, default prefix <issuer>#', mapping: mapping('sub', `${ISS}#`), aliceIs: `${ISS}#a1b2c3` },
  { how: 'legacy flags, claim email (default prefix: none)', mapping: mapping('email', ''), aliceIs: 'alice@example.com' },
  { how: 'legacy flags, claim preferred_username, default prefix', mapping: mapping('preferred_username', `${ISS}#`), aliceIs: `${ISS}#alice` },
  { how: 'structured config, claim email, prefix oidc:', mapping: mapping('email', 'oidc:'), aliceIs: 'oidc:alice@example.com' },
  { how: 'structured config, claim sub, prefix oidc:', mapping: mapping('sub', 'oidc:'), aliceIs: 'oidc:a1b2c3' },
  { how: 'structured config, claim preferred_username, prefix ""', mapping: mapping('preferred_username', ''), aliceIs: 'alice' },
];

describe('matchRequester over the apiserver\'s username mappings', () => {
  for (const { how, mapping: m, aliceIs } of APISERVER_MAPPINGS) {
    describe(how, () => {
      it(`recognises alice as ${aliceIs}`, () => {
        expect(matchRequester(u(aliceIs), alice, [m])).toEqual({ verdict: 'requester' });
      });
      it('lets someone else review', () => {
        const bob = aliceIs.replace('alice', 'bob').replace('a1b2c3', 'd4e5f6');
        expect(matchRequester(u(bob), alice, [m])).toEqual({ verdict: 'other' });
      });
      // The bypass of issue 18: the same person under a name the old check did not consider.
      for (const { aliceIs: elsewhere } of APISERVER_MAPPINGS) {
        if (elsewhere === aliceIs) continue;
        it(`does not depend on guessing: ${elsewhere} is judged by the configured mapping only`, () => {
          const verdict = matchRequester(u(elsewhere), alice, [m]).verdict;
          // Verbatim claim values are always the requester; prefixed names only under their own mapping.
          expect(verdict).toBe(['alice', 'alice@example.com', 'a1b2c3'].includes(elsewhere) ? 'requester' : 'other');
        });
      }
    });
  }

  it('takes every mapping of an issuer (several authenticators for one issuer)', () => {
    const both = [mapping('sub', `${ISS}#`), mapping('email', 'corp:')];
    expect(matchRequester(u(`${ISS}#a1b2c3`), alice, both).verdict).toBe('requester');
    expect(matchRequester(u('corp:alice@example.com'), alice, both).verdict).toBe('requester');
  });

  it('ignores mappings of other issuers', () => {
    expect(matchRequester(u(`${ISS}#a1b2c3`), alice, [mapping('sub', `${ISS}#`, OTHER_ISS)]).verdict).toBe('unknown');
  });

  it('treats a verbatim subject or claim as the requester whatever the mapping (a static-token user named like them)', () => {
    for (const name of ['a1b2c3', 'alice@example.com', 'alice']) {
      expect(matchRequester(u(name), alice, [mapping('sub', 'oidc:')]).verdict).toBe('requester');
      expect(matchRequester(u(name), alice, []).verdict).toBe('requester');
    }
  });

  it('whitespace and other prefixes are other people', () => {
    const m = [mapping('email', 'oidc:')];
    for (const name of ['oidc: alice@example.com', 'oidc:alice@example.com ', 'idp:alice@example.com', 'alice@example.co']) {
      expect(matchRequester(u(name), alice, m).verdict).toBe('other');
    }
  });

  // IdPs match logins case-insensitively and may put the spelling typed at sign-in into the claim:
  // one account could review under a spelling that differs from the one its command recorded.
  it('case and compatibility-form variants are the requester (fail closed)', () => {
    const m = [mapping('email', 'oidc:')];
    for (const name of ['oidc:Alice@example.com', 'OIDC:ALICE@EXAMPLE.COM', 'oidc:ａｌｉｃｅ@example.com', 'oidc:alice@ｅｘａｍｐｌｅ.com', 'Alice', 'A1B2C3']) {
      expect(matchRequester(u(name), alice, m).verdict).toBe('requester');
    }
    const recordedUpper: RecordedRequester = { ...alice, claims: { ...alice.claims, email: 'Alice@Example.com' } };
    expect(matchRequester(u('oidc:alice@example.com'), recordedUpper, m).verdict).toBe('requester');
    expect(matchRequester(u('oidc:bob@example.com'), recordedUpper, m).verdict).toBe('other');
  });

  describe('fails closed', () => {
    it('when the issuer has no mapping, naming the setting and the fix', () => {
      const r = matchRequester(u(`${ISS}#a1b2c3`), alice, []);
      expect(r.verdict).toBe('unknown');
      expect(r).toMatchObject({ why: expect.stringContaining('GUARITA_OIDC_USERNAME_MAPPINGS') });
      expect(r).toMatchObject({ why: expect.stringContaining('approvals.oidcUsernameMappings') });
      expect(r).toMatchObject({ why: expect.stringContaining(`"prefix":"${ISS}#"`) });
    });
    it('when the request does not record the issuer (an older sidecar, or a hand-made request)', () => {
      const r = matchRequester(u('bob'), { username: 'alice', kind: 'User' }, [mapping('sub', '')]);
      expect(r).toMatchObject({ verdict: 'unknown', why: expect.stringContaining('spec.requester.issuer') });
    });
    it('when the mapped claim was not recorded', () => {
      const r = matchRequester(u('oidc:bob'), { ...alice, claims: { sub: 'a1b2c3' } }, [mapping('email', 'oidc:')]);
      expect(r).toMatchObject({ verdict: 'unknown', why: expect.stringContaining('claim email') });
    });
  });

  describe('uid mapped from a claim (AuthenticationConfiguration claimMappings.uid)', () => {
    // Usernames from an editable claim, uids from the immutable sub: a requester who changed their
    // email (or preferred_username) between the command and the review is still caught by uid.
    const m: OidcUsernameMapping[] = [{ issuer: ISS, claim: 'email', prefix: 'oidc:', uidClaim: 'sub' }];
    it('recognises the requester by uid under another username', () => {
      expect(matchRequester(u('oidc:alice.new@example.com', 'a1b2c3'), alice, m).verdict).toBe('requester');
    });
    it('lets someone else with another uid review', () => {
      expect(matchRequester(u('oidc:bob@example.com', 'd4e5f6'), alice, m).verdict).toBe('other');
    });
    it('an empty or missing uid matches nothing', () => {
      expect(matchRequester(u('oidc:bob@example.com', ''), alice, m).verdict).toBe('other');
      expect(matchRequester(u('oidc:bob@example.com', ''), { ...alice, claims: { ...alice.claims, sub: '' } }, m).verdict).toBe('other');
    });
    it('fails closed when the uid claim was not recorded', () => {
      const r = matchRequester(u('oidc:bob@example.com', 'd4e5f6'), { ...alice, claims: { email: 'alice@example.com' } }, m);
      expect(r).toMatchObject({ verdict: 'unknown', why: expect.stringContaining('claim sub') });
    });
  });

  it('an issuer declared apiserver: false has no Kubernetes usernames: only verbatim names match', () => {
    const m: OidcUsernameMapping[] = [{ issuer: ISS, apiserver: false }];
    expect(matchRequester(u(`${ISS}#a1b2c3`), alice, m).verdict).toBe('other');
    expect(matchRequester(u('alice'), alice, m).verdict).toBe('requester');
  });

  describe('service accounts', () => {
    const sa: RecordedRequester = { username: 'system:serviceaccount:lgpd-orders:agent', kind: 'ServiceAccount' };
    it('compares the full service-account username, no mapping needed', () => {
      expect(matchRequester(u('system:serviceaccount:lgpd-orders:agent'), sa, []).verdict).toBe('requester');
      expect(matchRequester(u('system:serviceaccount:other:agent'), sa, []).verdict).toBe('other');
      expect(matchRequester(u('system:serviceaccount:lgpd-orders:agent2'), sa, []).verdict).toBe('other');
    });
    it('refuses to decide on a bare or malformed recorded name instead of guessing its namespace', () => {
      for (const username of ['agent', 'system:serviceaccount:agent', 'system:serviceaccount:ns:agent:x', 'system:serviceaccount::agent']) {
        expect(matchRequester(u('system:serviceaccount:lgpd-orders:agent'), { username, kind: 'ServiceAccount' }, []))
          .toMatchObject({ verdict: 'unknown', why: expect.stringContaining('system:serviceaccount:<namespace>:<name>') });
      }
    });
    it('an OIDC requester whose subject looks like a service account is that service account too (verbatim)', () => {
      expect(matchRequester(u('system:serviceaccount:ns:x'), { username: 'system:serviceaccount:ns:x', kind: 'User', issuer: ISS, claims: {} }, [mapping('sub', `${ISS}#`)]).verdict).toBe('requester');
    });
  });
});

describe('parseUsernameMappings', () => {
  it('reads claim and prefix, expressions of that shape, and apiserver: false', () => {
    const { mappings, problems } = parseUsernameMappings(JSON.stringify([
      { issuer: ISS, claim: 'sub', prefix: `${ISS}#` },
      { issuer: OTHER_ISS, expression: '\'oidc:\' + claims.email' },
      { issuer: 'https://third.example', expression: 'claims["preferred_username"]' },
      { issuer: 'https://agents.example', apiserver: false },
    ]));
    expect(problems).toEqual([]);
    expect(mappings).toEqual([
      { issuer: ISS, claim: 'sub', prefix: `${ISS}#` },
      { issuer: OTHER_ISS, claim: 'email', prefix: 'oidc:' },
      { issuer: 'https://third.example', claim: 'preferred_username', prefix: '' },
      { issuer: 'https://agents.example', apiserver: false },
    ]);
  });

  it('reads uidClaim beside a claim or an expression', () => {
    const { mappings, problems } = parseUsernameMappings(JSON.stringify([
      { issuer: ISS, claim: 'email', prefix: 'oidc:', uidClaim: 'sub' },
      { issuer: OTHER_ISS, expression: 'claims.email', uidClaim: 'sub' },
    ]));
    expect(problems).toEqual([]);
    expect(mappings).toEqual([{ issuer: ISS, claim: 'email', prefix: 'oidc:', uidClaim: 'sub' }, { issuer: OTHER_ISS, claim: 'email', prefix: '', uidClaim: 'sub' }]);
  });

  it('is empty when unset (then OIDC requests are not decided)', () => {
    expect(parseUsernameMappings(undefined)).toEqual({ mappings: [], problems: [] });
    expect(parseUsernameMappings('  ')).toEqual({ mappings: [], problems: [] });
  });

  const BAD: [string, unknown, string][] = [
    ['not JSON', '{', 'not JSON'],
    ['not a list', { issuer: ISS }, 'JSON list'],
    ['no prefix (no default: the default is how the bypass happened)', [{ issuer: ISS, claim: 'sub' }], 'prefix is required'],
    ['the legacy "-"', [{ issuer: ISS, claim: 'sub', prefix: '-' }], 'write "" instead'],
    ['no issuer', [{ claim: 'sub', prefix: '' }], 'issuer must be'],
    ['a bad claim name', [{ issuer: ISS, claim: 'a b', prefix: '' }], 'claim must be'],
    ['an expression beyond claim + prefix', [{ issuer: ISS, expression: 'claims.sub + "@corp"' }], 'not of the form'],
    ['two forms at once', [{ issuer: ISS, claim: 'sub', prefix: '', apiserver: false }], 'exactly one'],
    ['apiserver: true', [{ issuer: ISS, apiserver: true }], 'may only be false'],
    ['an unknown field', [{ issuer: ISS, claim: 'sub', prefix: '', groups: 'x' }], 'unknown field(s) groups'],
    ['a bad uidClaim', [{ issuer: ISS, claim: 'sub', prefix: '', uidClaim: 7 }], 'uidClaim must be'],
    ['uidClaim with apiserver: false', [{ issuer: ISS, apiserver: false, uidClaim: 'sub' }], 'uidClaim makes no sense'],
    ['an issuer both mapped and not', [{ issuer: ISS, claim: 'sub', prefix: '' }, { issuer: ISS, apiserver: false }], 'keep one'],
  ];
  for (const [what, value, message] of BAD) {
    it(`refuses ${what}, naming the setting`, () => {
      const { problems } = parseUsernameMappings(typeof value === 'string' ? value : JSON.stringify(value));
      expect(problems.join('\n')).toContain(message);
      expect(problems.join('\n')).toContain('GUARITA_OIDC_USERNAME_MAPPINGS');
    });
  }
});

describe('recordedClaims', () => {
  it('keeps the mappable string claims and the policy\'s usernameClaim, nothing else', () => {
    const payload = { iss: ISS, sub: 's', email: 'e@x', preferred_username: 'p', upn: 'u@x', groups: ['g'], email_verified: true, aud: 'guarita' };
    expect(recordedClaims(payload, 'sub')).toEqual({ sub: 's', email: 'e@x', preferred_username: 'p' });
    expect(recordedClaims(payload, 'upn')).toEqual({ sub: 's', email: 'e@x', preferred_username: 'p', upn: 'u@x' });
  });
  it('drops values the CRD cannot hold and non-strings (a missing claim then fails closed, never matches)', () => {
    expect(recordedClaims({ sub: 'x'.repeat(257), email: '', preferred_username: 42 }, 'sub')).toEqual({});
  });
});

describe('approvalMappingWarnings (the webhook warns when an AccessPolicy is applied)', () => {
  const policy = (usernameClaim?: string, action = 'requireApproval') => ({ spec: {
    identity: { oidc: { issuer: ISS, ...(usernameClaim === undefined ? {} : { usernameClaim }) } },
    rules: [{ name: 'exports', action }, { name: 'rest', action: 'allow' }],
  } });
  it('names the issuer, the held rules and the setting when the issuer has no mapping', () => {
    expect(approvalMappingWarnings(policy(), [])).toEqual([expect.stringMatching(/^spec\.identity\.oidc\.issuer: https:\/\/idp\.example\.com has no entry in the webhook's GUARITA_OIDC_USERNAME_MAPPINGS .*rule\(s\) exports/)]);
  });
  it('warns when the apiserver maps a claim the sidecar does not record', () => {
    expect(approvalMappingWarnings(policy(), [{ issuer: ISS, claim: 'upn', prefix: '' }])[0]).toContain('claim(s) upn');
    expect(approvalMappingWarnings(policy('upn'), [{ issuer: ISS, claim: 'upn', prefix: '' }])).toEqual([]);
  });
  it('says nothing when approvals can be decided, or there are none', () => {
    expect(approvalMappingWarnings(policy(), [{ issuer: ISS, claim: 'email', prefix: '', uidClaim: 'sub' }])).toEqual([]);
    expect(approvalMappingWarnings(policy(), [{ issuer: ISS, apiserver: false }])).toEqual([]);
    expect(approvalMappingWarnings(policy(undefined, 'deny'), [])).toEqual([]);
    expect(approvalMappingWarnings({ spec: { identity: {}, rules: [{ name: 'exports', action: 'requireApproval' }] } }, [])).toEqual([]);
  });
});
