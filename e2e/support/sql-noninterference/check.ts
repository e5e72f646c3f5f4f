// The noninterference check: generate statements, let the guard decide each one, run the allowed ones
// on both schemas (schemas.ts) and compare the masked answers (compare.ts).
//
// Why this finds leaks: the guard (core/policy, spec.sensitiveColumns) promises that an ALLOWED
// statement uses personal columns only by returning them as they are, which the sidecar masks. The two
// schemas differ only in personal values. So once every cell is masked, an allowed statement must give
// the same answer on both: same rows, same order, same row count, same error. A difference means
// personal data influenced the answer of an allowed statement (a value, ordering, count or error
// oracle): a candidate leak.
//
// What it cannot see: timing; differences that need more rows than the five customers, or values the
// schemas share; grammar of other PostgreSQL versions than the harness's; data the guard never reads
// (triggers, views, generated columns, none here); statistics (pg_stats aggregates, EXPLAIN widths),
// which do depend on personal values but which the generators do not emit.
import type pg from 'pg';
import type { Masker } from '../../../core/masking/index.ts';
import type { CompiledPolicy, Decision, Identity } from '../../../core/policy/index.ts';
import { describeDifference, runOn, type Outcome } from './compare.ts';
import { LayeredGenerator } from './layered.ts';
import { RandomGenerator } from './generator.ts';
import { Rng } from './rng.ts';
import type { SchemaPair } from './schemas.ts';
import { SCHEMA_PLACEHOLDER } from './vocabulary.ts';

/** `mixed` picks one of the two generators at random for each statement. */
export type GeneratorMode = 'random' | 'layered' | 'mixed';

/** The agent of examples/lgpd-orders, and the purpose its policy allows. */
export const SUPPORT_AGENT: Identity = { kind: 'ServiceAccount', subject: 'system:serviceaccount:lgpd-orders:support-agent', groups: [] };
export const PURPOSE = 'customer-support';

export interface NoninterferenceOptions {
  /** A connection allowed to read and write both schemas. */
  client: pg.Client;
  seed: number;
  count: number;
  mode: GeneratorMode;
  schemas: SchemaPair;
  policy: CompiledPolicy;
  /** The policy's masking with style redact (redactingSpec): a masked identifier is the same token in both schemas. */
  masker: Masker;
  identity?: Identity;
  purpose?: string;
}

export interface NoninterferenceStats {
  generated: number;
  /** Allowed by the guard, so run on both schemas and compared. */
  allowed: number;
  /** Allowed and answered with rows on both schemas: the comparisons that exercise the data. */
  bothOk: number;
  /** Allowed and failing with the same error on both (mostly decoy names PostgreSQL refuses). */
  bothError: number;
  /** Held for approval (requireApproval). */
  held: number;
  /** Denied or not understood. */
  other: number;
}

/** An allowed statement whose masked answers differ: where it came from, and both answers. */
export interface Candidate {
  seed: number;
  index: number;
  sql: string;
  difference: string;
  a: Outcome;
  b: Outcome;
}

/** The `count` statements of `seed` in `mode`: the same text for the same arguments, always. */
export function generateStatements(seed: number, count: number, mode: GeneratorMode): string[] {
  const rng = new Rng(seed);
  const random = new RandomGenerator(rng);
  const layered = new LayeredGenerator(rng);
  const layeredNext = (): boolean => mode === 'layered' || (mode === 'mixed' && rng.chance(0.5));
  return Array.from({ length: count }, () => (layeredNext() ? layered.statement() : random.statement()));
}

/** The guard's decision, as the sidecar asks it; `@S.` is the policy's schema, public. */
export function decide(o: Pick<NoninterferenceOptions, 'policy' | 'identity' | 'purpose'>, sql: string): Decision {
  return o.policy.evaluate({
    identity: o.identity ?? SUPPORT_AGENT,
    purpose: o.purpose ?? PURPOSE,
    command: { protocol: 'postgres', sql: sql.replaceAll(`${SCHEMA_PLACEHOLDER}.`, 'public.') },
  });
}

/** Runs `sql` on both schemas, the guard aside, and compares: also the tester's own self-check. */
export async function compareOnBoth(client: pg.Client, masker: Masker, schemas: SchemaPair, sql: string): Promise<{ a: Outcome; b: Outcome; difference: string }> {
  // One masking session per statement: counters only, masking does not depend on them.
  const session = masker.newSession();
  const a = await runOn(client, session, schemas.a, sql);
  const b = await runOn(client, session, schemas.b, sql);
  return { a, b, difference: describeDifference(a, b) };
}

export async function checkNoninterference(o: NoninterferenceOptions): Promise<{ stats: NoninterferenceStats; candidates: Candidate[] }> {
  const statements = generateStatements(o.seed, o.count, o.mode);
  const stats: NoninterferenceStats = { generated: statements.length, allowed: 0, bothOk: 0, bothError: 0, held: 0, other: 0 };
  const candidates: Candidate[] = [];
  for (const [index, sql] of statements.entries()) {
    const verdict = decide(o, sql).decision;
    if (verdict !== 'allow') {
      if (verdict === 'requireApproval') stats.held++;
      else stats.other++;
      continue;
    }
    stats.allowed++;
    const { a, b, difference } = await compareOnBoth(o.client, o.masker, o.schemas, sql);
    if (difference !== '') candidates.push({ seed: o.seed, index, sql, difference, a, b });
    else if (a.ok) stats.bothOk++;
    else stats.bothError++;
  }
  return { stats, candidates };
}
