// Selectors read as the apiserver reads them, for the round 9 refusal of selectors over masked
// values (docs/security-model.md, "Round 9").
import { describe, expect, it } from '@jest/globals';
import { fieldSelectorTerms, labelSelectorProblem, labelSelectorTerms, maskedSelectorKey } from './kubernetes-selectors.ts';
import { kubernetesRequestInfo } from './kubernetes-request.ts';

const CPF = '59083016633';
const masksCpf = (_key: string, value: string): boolean => value.includes(CPF);

describe('label selectors', () => {
  it.each([
    ['app=web', [{ key: 'app', values: ['web'] }]],
    ['app==web,tier!=db', [{ key: 'app', values: ['web'] }, { key: 'tier', values: ['db'] }]],
    ['env in (prod, staging),!canary,app', [{ key: 'env', values: ['prod', 'staging'] }, { key: 'canary', values: [] }, { key: 'app', values: [] }]],
    ['cpf notin (1,2)', [{ key: 'cpf', values: ['1', '2'] }]],
  ])('%j', (selector, terms) => {
    expect(labelSelectorTerms(selector)).toEqual(terms);
  });

  it.each(['cpf>1', 'cpf<1', 'cpf > 1', 'app=web,cpf>1', '!x,cpf<1', 'cpf gt 1,a>b'])('refuses the ordering operators: %j', (selector) => {
    expect(labelSelectorTerms(selector)).toEqual({ problem: expect.stringContaining('labelSelector with < or >') });
  });

  it('refuses ordering in the request reading itself (recorded as unreadable), in any of repeated selectors', () => {
    expect(labelSelectorProblem(new URLSearchParams('labelSelector=a%3Db&labelSelector=c%3Ed'))).toContain('labelSelector with < or >');
    expect(labelSelectorProblem(new URLSearchParams('labelSelector=a%3Db&labelSelector=c%3Dd'))).toBeUndefined();
    const read = kubernetesRequestInfo('GET', `/api/v1/namespaces/x/configmaps?labelSelector=${encodeURIComponent('cpf>1')}`);
    expect(read).toEqual({ ok: false, problem: expect.stringContaining('labelSelector with < or >') });
    expect(kubernetesRequestInfo('GET', '/api/v1/namespaces/x/configmaps?labelSelector=app%3Dweb').ok).toBe(true);
  });
});

describe('field selectors', () => {
  it('keys are the field\'s last segment', () => {
    expect(fieldSelectorTerms('metadata.name=a,spec.nodeName!=b, status.phase==Running')).toEqual([
      { key: 'name', values: ['a'] }, { key: 'nodeName', values: ['b'] }, { key: 'phase', values: ['Running'] },
    ]);
  });
});

describe('maskedSelectorKey: a selector whose values the answers mask', () => {
  it.each([
    [`labelSelector=${encodeURIComponent(`cpf=${CPF}`)}`, 'the value of cpf'],
    [`labelSelector=${encodeURIComponent(`cpf in (1,${CPF})`)}`, 'the value of cpf'],
    [`labelSelector=${encodeURIComponent(`app=web,cpf!=${CPF}`)}`, 'the value of cpf'],
    [`fieldSelector=${encodeURIComponent(`spec.document=${CPF}`)}`, 'the value of document'],
    [`fieldSelector=${encodeURIComponent(`metadata.name==${CPF}`)}`, 'the value of name'],
  ])('%s', (query, key) => {
    expect(maskedSelectorKey(new URLSearchParams(query), masksCpf)).toBe(key);
  });

  it('never returns the value itself, and passes selectors without one', () => {
    expect(maskedSelectorKey(new URLSearchParams(`labelSelector=${encodeURIComponent(`cpf=${CPF}`)}`), masksCpf)).not.toContain(CPF);
    expect(maskedSelectorKey(new URLSearchParams('labelSelector=app%3Dweb&fieldSelector=status.phase%3DRunning'), masksCpf)).toBeUndefined();
  });

  it('hands the key to the masker (a policy masking a field by name masks any value of it)', () => {
    const byName = (key: string): boolean => key === 'customer';
    expect(maskedSelectorKey(new URLSearchParams('labelSelector=customer%3D42'), byName)).toBe('the value of customer');
  });
});
