// An SSH AccessPolicy for tests: target `host` (host:22, listening on 12222), the `support` group,
// service-account identity, the given purposes and rules. The SSH tests of core/policy and the
// sidecar judge commands and paths under rules they spell out; everything else is this.
import { API_VERSION } from '../../../crds/api.ts';
import type { AccessPolicy } from '../../../crds/types.ts';
import { parseAccessPolicy } from '../../../crds/validators.ts';

export function sshTestPolicy(rules: unknown[], purposes: readonly string[] = ['p']): AccessPolicy {
  return parseAccessPolicy({
    apiVersion: API_VERSION, kind: 'AccessPolicy', metadata: { name: 'p', namespace: 'ns' },
    spec: {
      podSelector: {}, target: { name: 'host', protocol: 'ssh', endpoint: 'host:22', listenPort: 12222, credentialsSecretRef: { name: 's' } },
      identity: { serviceAccounts: { audiences: ['guarita'] } }, subjects: [{ kind: 'Group', name: 'support' }], purposes: purposes.map((name) => ({ name })), rules,
    },
  });
}
