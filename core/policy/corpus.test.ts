// Every corpus statement gets the decision examples/lgpd-orders/accesspolicy.yaml intends.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { parseAccessPolicy } from '../../crds/validators.ts';
import { LEXING_CORPUS } from './corpus/lexing.sql-corpus.ts';
import { LGPD_ORDERS_CORPUS } from './corpus/lgpd-orders.sql-corpus.ts';
import { classifySql, compilePolicy, initPolicyEngine, type CompiledPolicy, type Identity } from './index.ts';

const POLICY_FILE = new URL('../../examples/lgpd-orders/accesspolicy.yaml', import.meta.url);
const agent: Identity = { subject: 'agent-7', groups: ['support'], kind: 'User' };

let policy: CompiledPolicy;

beforeAll(async () => {
  await initPolicyEngine();
  policy = compilePolicy(parseAccessPolicy(parse(readFileSync(POLICY_FILE, 'utf8')), 'accesspolicy.yaml'));
});

describe('lgpd-orders SQL corpus', () => {
  it('has at least 150 statements, none twice', () => {
    expect(LGPD_ORDERS_CORPUS.length).toBeGreaterThanOrEqual(150);
    const seen = new Set(LGPD_ORDERS_CORPUS.map((e) => e.sql));
    expect(seen.size).toBe(LGPD_ORDERS_CORPUS.length);
  });

  it.each(LGPD_ORDERS_CORPUS.map((e) => [JSON.stringify(e.sql).slice(0, 110), e] as const))('%s', (_label, entry) => {
    const d = policy.evaluate({ identity: agent, purpose: 'customer-support', command: { protocol: 'postgres', sql: entry.sql } });
    expect({ decision: d.decision, rule: d.rule }).toEqual({ decision: entry.decision, rule: entry.rule });
    if (entry.code !== undefined) expect(d.code).toBe(entry.code);
    // Reasons never repeat the command's literals.
    expect(d.reason).not.toMatch(/590\.830|attacker\.example|\/etc\/passwd/);
  });
});

describe('lexing corpus: statements as PostgreSQL splits them under the pinned settings', () => {
  it.each(LEXING_CORPUS.map((e) => [e.note, e] as const))('%s', (_note, entry) => {
    expect(classifySql(entry.sql)).toHaveLength(entry.statements);
  });

  it('lets none of the hidden DELETEs through as a statement', () => {
    for (const e of LEXING_CORPUS) expect(classifySql(e.sql).map((s) => s.kind)).not.toContain('delete');
  });
});
