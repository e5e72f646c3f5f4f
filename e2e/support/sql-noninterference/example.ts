// The policy the tester checks: examples/lgpd-orders as shipped (its sensitiveColumns declare
// public.customers and public.orders, the tables schemas.ts creates under other schema names).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { initPolicyEngine, compilePolicy, type CompiledPolicy } from '../../../core/policy/index.ts';
import { parseAccessPolicy } from '../../../crds/validators.ts';
import type { AccessPolicy } from '../../../crds/types.ts';
import { EXAMPLE_DIR } from '../examples.ts';

export async function examplePolicy(): Promise<{ policy: AccessPolicy; compiled: CompiledPolicy }> {
  await initPolicyEngine();
  const policy = parseAccessPolicy(parse(readFileSync(join(EXAMPLE_DIR, 'accesspolicy.yaml'), 'utf8')));
  return { policy, compiled: compilePolicy(policy) };
}
