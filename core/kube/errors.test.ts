import { describe, expect, it } from '@jest/globals';
import { isAlreadyExists, isConflict, isNotFound, KubeError, kubeError, kubeStatusError } from './errors.ts';

describe('the one Kubernetes API error', () => {
  it('reads a Status body: reason, message and the Status itself', () => {
    const err = kubeError(409, 'POST', '/api/v1/namespaces/a/secrets', JSON.stringify({ kind: 'Status', reason: 'AlreadyExists', message: 'secrets "x" already exists', code: 409 }));
    expect(err).toBeInstanceOf(KubeError);
    expect(err.message).toBe('POST /api/v1/namespaces/a/secrets: 409 AlreadyExists: secrets "x" already exists');
    expect(err.body?.code).toBe(409);
    expect([isConflict(err), isAlreadyExists(err), isNotFound(err)]).toEqual([true, true, false]);
  });

  it('keeps a body that is not a Status as the message, shortened, with no reason', () => {
    const err = kubeError(502, 'GET', '/x', `<html>${'x'.repeat(1000)}`);
    expect(err.reason).toBe('');
    expect(err.message.length).toBeLessThan(600);
    expect(kubeError(500, 'GET', '/x', '42').message).toBe('GET /x: 500: 42');
  });

  it('is the same type whichever client threw it (predicates hold for the sidecar\'s parsed Status)', () => {
    const err = kubeStatusError(404, 'GET', '/apis/guarita.io/v1alpha1/namespaces/a/approvalrequests/r', { reason: 'NotFound', message: 'not found' });
    expect([isNotFound(err), isConflict(err)]).toEqual([true, false]);
    expect(isNotFound(new Error('404'))).toBe(false);
    expect(kubeStatusError(410, 'WATCH', '/p', undefined).message).toBe('WATCH /p: 410');
  });
});
