import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { AccessPolicy } from '../../../crds/types.ts';
import { evaluatePolicy, policyStatus } from './policy-status.ts';

const T0 = Date.parse('2026-03-01T10:00:00Z');

function example(): AccessPolicy {
  const doc = parse(readFileSync(new URL('../../../examples/lgpd-orders/accesspolicy.yaml', import.meta.url), 'utf8')) as AccessPolicy;
  return { ...doc, metadata: { ...doc.metadata, generation: 3 } };
}

describe('evaluatePolicy', () => {
  it('accepts the example and counts its rules', () => {
    expect(evaluatePolicy(example())).toMatchObject({ valid: true, ruleCount: example().spec.rules.length });
  });

  it('names the field for a schema violation', () => {
    const p = example();
    const bad = { ...p, spec: { ...p.spec, rules: [{ name: 'x', action: 'maybe' }] } };
    expect(evaluatePolicy(bad)).toMatchObject({ valid: false, reason: 'SchemaInvalid', message: expect.stringContaining('spec.rules[0].action') });
  });

  it('reports a masking pattern RE2 cannot compile', () => {
    const p = example();
    const bad = { ...p, spec: { ...p.spec, masking: { customPatterns: [{ name: 'ticket', pattern: '(unclosed' }] } } };
    expect(evaluatePolicy(bad)).toMatchObject({ valid: false, reason: 'MaskingInvalid', message: expect.stringContaining('spec.masking.customPatterns[0]') });
  });

  it('reports what only the compiler knows, naming the field', () => {
    const p = example();
    const rules = [{ name: 'odd-table', match: { sql: { tables: ['a.b.c'] } }, action: 'deny' as const }, ...p.spec.rules];
    expect(evaluatePolicy({ ...p, spec: { ...p.spec, rules } })).toMatchObject({ valid: false, reason: 'CompileFailed', message: expect.stringContaining('spec.rules[0].match.sql.tables[0]') });
  });
});

describe('policyStatus', () => {
  it('sets Ready and Invalid with observedGeneration, and reports the transition once', () => {
    const p = example();
    const first = policyStatus(p, evaluatePolicy(p), T0);
    expect(first.patch).toMatchObject({
      observedGeneration: 3, ruleCount: p.spec.rules.length,
      conditions: [
        { type: 'Ready', status: 'True', reason: 'Compiled', observedGeneration: 3, lastTransitionTime: '2026-03-01T10:00:00Z' },
        { type: 'Invalid', status: 'False', reason: 'Valid', observedGeneration: 3 },
      ],
    });
    expect(first.transition).toMatchObject({ type: 'Normal', reason: 'Ready' });
    const applied = { ...p, status: first.patch! };
    expect(policyStatus(applied, evaluatePolicy(applied), T0 + 5000)).toEqual({});
  });

  it('flips to Invalid with the reason and keeps transition times stable while unchanged', () => {
    const p = example();
    const valid = { ...p, status: policyStatus(p, evaluatePolicy(p), T0).patch! };
    const broken = { ...valid, metadata: { ...valid.metadata, generation: 4 }, spec: { ...valid.spec, subjects: [{ kind: 'ServiceAccount' as const, name: 'agent' }] } };
    const d = policyStatus(broken, evaluatePolicy(broken), T0 + 60_000);
    expect(d.patch?.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'False', reason: 'CompileFailed', observedGeneration: 4, lastTransitionTime: '2026-03-01T10:01:00Z' });
    expect(d.patch?.conditions?.[1]).toMatchObject({ type: 'Invalid', status: 'True', reason: 'CompileFailed', message: expect.stringContaining('spec.subjects[0].namespace') });
    expect(d.transition).toMatchObject({ type: 'Warning', reason: 'Invalid' });
    const applied = { ...broken, status: d.patch! };
    const again = policyStatus({ ...applied, metadata: { ...applied.metadata, generation: 5 } }, evaluatePolicy(applied), T0 + 120_000);
    expect(again.transition).toBeUndefined();
    expect(again.patch?.conditions?.[0]?.lastTransitionTime).toBe('2026-03-01T10:01:00Z');
  });
});
