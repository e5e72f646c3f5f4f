import { describe, expect, it } from '@jest/globals';
import { creatorKey, creatorStamp, describeCreator } from './creator.ts';

// Who created an ApprovalRequest (round 11 follow-up): the pod only from a service account's bound token.
const POD = 'authentication.kubernetes.io/pod-name';

describe('creatorStamp', () => {
  it('names the pod in the service account\'s namespace', () => {
    expect(creatorStamp({ username: 'system:serviceaccount:team-a:agent', extra: { [POD]: ['agent-7'] } })).toEqual({ stamp: { 'guarita.io/created-by': 'system:serviceaccount:team-a:agent', 'guarita.io/created-by-pod': 'team-a/agent-7' } });
  });

  it('names no pod for other users, whatever their extra says, nor for a token bound to none', () => {
    for (const username of ['alice', 'system:serviceaccounts:team-a', 'System:ServiceAccount:team-a:agent', 'oidc:system:serviceaccount:team-a:agent']) {
      expect(creatorStamp({ username, extra: { [POD]: ['agent-7'] } })).toEqual({ stamp: { 'guarita.io/created-by': username } });
    }
    expect(creatorStamp({ username: 'system:serviceaccount:team-a:agent' })).toEqual({ stamp: { 'guarita.io/created-by': 'system:serviceaccount:team-a:agent' } });
  });

  it('fails closed on a pod binding it cannot read as one pod of one namespace', () => {
    for (const [username, values] of [['system:serviceaccount:team-a:agent', ['a', 'b']], ['system:serviceaccount:team-a:agent', ['']], ['system:serviceaccount::agent', ['a']]] as const) {
      expect(creatorStamp({ username, extra: { [POD]: values } })).toEqual({ problem: expect.stringContaining('names no single pod') });
    }
  });
});

describe('creatorKey', () => {
  it('is the pod, else the user, else nothing (unstamped)', () => {
    expect(creatorKey({ 'guarita.io/created-by': 'x', 'guarita.io/created-by-pod': 'team-a/agent-7' })).toBe('pod:team-a/agent-7');
    expect(creatorKey({ 'guarita.io/created-by': 'x' })).toBe('user:x');
    expect(creatorKey({ 'guarita.io/created-by-pod': '' })).toBeUndefined();
    expect(creatorKey(undefined)).toBeUndefined();
    expect(describeCreator('pod:team-a/agent-7')).toBe('pod team-a/agent-7');
    expect(describeCreator('user:x')).toBe('user x');
  });
});
