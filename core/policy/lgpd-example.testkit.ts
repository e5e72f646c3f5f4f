// For the SQL attack suites: the example policy (examples/lgpd-orders), changed or not, compiled;
// one statement's classification; and the example agent's decision on a statement.
import { expect } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseAccessPolicy } from '../../crds/validators.ts';
import { classifySql, compilePolicy, type CompiledPolicy, type Identity, type StatementInfo } from './index.ts';

/** The example policy's agent (its support-agent service account). */
export const EXAMPLE_AGENT: Identity = { kind: 'ServiceAccount', subject: 'system:serviceaccount:lgpd-orders:support-agent', groups: [] };
const EXAMPLE = join(import.meta.dirname, '../../examples/lgpd-orders/accesspolicy.yaml');

/** The example policy compiled, after `change` edits its parsed document (call after initPolicyEngine). */
export function examplePolicy(change?: (doc: { spec: { rules: unknown[] } }) => void): CompiledPolicy {
  const doc = parse(readFileSync(EXAMPLE, 'utf8')) as { spec: { rules: unknown[] } };
  change?.(doc);
  return compilePolicy(parseAccessPolicy(doc));
}

/** The classification of `sql`, which must be one statement. */
export function one(sql: string): StatementInfo {
  const all = classifySql(sql);
  expect(all).toHaveLength(1);
  return all[0] as StatementInfo;
}

/** The example agent's decision on `sql` under `policy`, for purpose customer-support. */
export function decideSql(policy: CompiledPolicy, sql: string): { decision: string; rule?: string } {
  const d = policy.evaluate({ identity: EXAMPLE_AGENT, purpose: 'customer-support', command: { protocol: 'postgres', sql } });
  return { decision: d.decision, ...(d.rule === undefined ? {} : { rule: d.rule }) };
}
