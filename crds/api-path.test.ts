import { describe, expect, it } from '@jest/globals';
import { API_PATH, API_VERSION, apiPath, GROUP, VERSION } from './definitions.ts';

describe('REST paths of the Guarita kinds (the one source of group and version)', () => {
  it('builds collection and object paths, cluster-wide or in a namespace', () => {
    expect(API_VERSION).toBe(`${GROUP}/${VERSION}`);
    expect(API_PATH).toBe('/apis/guarita.io/v1alpha1');
    expect(apiPath('accesspolicies')).toBe('/apis/guarita.io/v1alpha1/accesspolicies');
    expect(apiPath('approvalrequests', 'team-a')).toBe('/apis/guarita.io/v1alpha1/namespaces/team-a/approvalrequests');
    expect(apiPath('accesspolicies', 'team-a', 'orders-db')).toBe('/apis/guarita.io/v1alpha1/namespaces/team-a/accesspolicies/orders-db');
  });

  it('encodes what is not a path segment, so a name never reaches another URL', () => {
    expect(apiPath('accesspolicies', 'a/b', '../x?y')).toBe('/apis/guarita.io/v1alpha1/namespaces/a%2Fb/accesspolicies/..%2Fx%3Fy');
  });
});
