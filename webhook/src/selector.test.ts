import { describe, expect, it } from '@jest/globals';
import { matchesSelector, selectorsMayOverlap } from './selector.ts';

describe('label selectors', () => {
  it('matches like Kubernetes', () => {
    expect(matchesSelector({}, { app: 'x' })).toBe(true);
    expect(matchesSelector({ matchLabels: { app: 'x' } }, { app: 'x', tier: 'a' })).toBe(true);
    expect(matchesSelector({ matchLabels: { app: 'x' } }, undefined)).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }] }, { tier: 'b' })).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['a'] }] }, {})).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['a'] }] }, { tier: 'a' })).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, { tier: '' })).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, { tier: '' })).toBe(false);
  });

  it('says when two selectors can never select the same pod', () => {
    expect(selectorsMayOverlap({ matchLabels: { app: 'a' } }, { matchLabels: { app: 'b' } })).toBe(false);
    expect(selectorsMayOverlap({ matchLabels: { app: 'a' } }, { matchLabels: { tier: 'b' } })).toBe(true);
    expect(selectorsMayOverlap({}, { matchLabels: { app: 'b' } })).toBe(true);
    expect(selectorsMayOverlap({ matchLabels: { app: 'a' } }, { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['a'] }] })).toBe(false);
    expect(selectorsMayOverlap({ matchExpressions: [{ key: 'app', operator: 'Exists' }] }, { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] })).toBe(false);
    expect(selectorsMayOverlap({ matchExpressions: [{ key: 'app', operator: 'In', values: ['a', 'b'] }] }, { matchExpressions: [{ key: 'app', operator: 'In', values: ['b', 'c'] }] })).toBe(true);
  });
});
