// GUARITA_OIDC_USERNAME_MAPPINGS for the webhook and operator processes tests start against the
// shared harness: its apiserver accepts no OIDC tokens (static tokens and service accounts only),
// so the harness IdP is declared `apiserver: false`; the fixtures' issuer is mapped as an
// apiserver with `--oidc-username-claim=sub --oidc-username-prefix=-` would (so the static-token
// user "dana" is requester "dana"). Tests that need another mapping pass their own env.
import type { OidcUsernameMapping } from '../../core/approvals/requester.ts';
import { loadHarnessState } from '../harness/state.ts';
import { FIXTURE_ISSUER } from '../../webhook/test/fixtures.ts';

export function harnessUsernameMappings(): string {
  const idp = loadHarnessState().idp;
  const mappings: OidcUsernameMapping[] = [
    { issuer: FIXTURE_ISSUER, claim: 'sub', prefix: '' },
    ...(idp === undefined ? [] : [{ issuer: idp.issuer, apiserver: false as const }]),
  ];
  return JSON.stringify(mappings);
}
