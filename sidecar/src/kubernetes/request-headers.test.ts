// What of an agent's request reaches the apiserver: impersonation and foreign credentials refused,
// an allowlist of headers, JSON only.
import { describe, expect, it } from '@jest/globals';
import { forwardedHeaders, headerProblem, jsonAccept } from './request-headers.ts';

describe('headerProblem', () => {
  it.each([
    [{ 'impersonate-user': 'system:admin' }, 403, /impersonate-user header is refused/],
    [{ 'impersonate-group': 'system:masters' }, 403, /impersonate-group/],
    [{ 'impersonate-extra-scopes': 'x' }, 403, /impersonate-extra-scopes/],
    [{ 'impersonate-uid': '1' }, 403, /impersonate-uid/],
    [{ authorization: 'Basic YWRtaW46YWRtaW4=' }, 401, /only Authorization: Bearer/],
    [{ authorization: 'Bearer a b' }, 401, /only Authorization: Bearer/],
  ])('refuses %j', (headers, code, message) => {
    expect(headerProblem(headers)).toEqual({ code, message: expect.stringMatching(message) });
  });

  it('accepts the agent\'s bearer token', () => {
    expect(headerProblem({ authorization: 'Bearer eyJ.x.y' })).toBeUndefined();
  });
});

describe('jsonAccept', () => {
  it.each([
    [undefined, 'application/json'],
    ['application/vnd.kubernetes.protobuf', 'application/json'],
    ['application/vnd.kubernetes.protobuf,application/json', 'application/json'],
    ['application/cbor, */*', 'application/json'],
    ['application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
      'application/json;as=Table;v=v1;g=meta.k8s.io, application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json'],
    ['application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
      'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList, application/json'],
  ])('%s → %s', (accept, want) => {
    expect(jsonAccept(accept)).toBe(want);
  });
});

describe('forwardedHeaders', () => {
  it('forwards only the allowlist, never credentials, purpose or forwarding claims', () => {
    const out = forwardedHeaders({
      authorization: 'Bearer agent', 'x-guarita-purpose': 'p', 'x-remote-user': 'admin', 'x-forwarded-for': '1.2.3.4', cookie: 'a=b',
      'content-type': 'application/json', 'user-agent': 'kubectl/v1.34', 'kubectl-command': 'kubectl get', accept: 'application/vnd.kubernetes.protobuf', 'accept-encoding': 'gzip',
    });
    expect(out).toEqual({ 'content-type': 'application/json', 'user-agent': 'kubectl/v1.34', 'kubectl-command': 'kubectl get', accept: 'application/json', 'accept-encoding': 'identity' });
  });
});
