// What `guarita replay` may call intact and proven: the records the operator serves for a session
// (GET /sessions/{id}) against an export of that session, verified as `guarita verify --file` does.
import { contentIntact } from '../../core/recording/chain.ts';
import { ExportVerifier, recordName, type ExportVerdict } from '../../core/recording/export-verify.ts';
import type { SessionRecord } from '../../core/recording/store-types.ts';
import { parseLine, type JsonlLine } from './jsonl.ts';

/**
 * The verdict on an export of the session, and the hashes of the records it proved: only records
 * of runs that verified whole (core/recording/export-verify.ts onProven), never a line that merely
 * has a seq and a hash (review 29: a proof line carrying a record's members counted as proven).
 */
export async function provenHashes(lines: AsyncIterable<Pick<JsonlLine, 'number' | 'text'>>): Promise<{ verdict: ExportVerdict; proven: Set<string> }> {
  const proven = new Set<string>();
  const verifier = new ExportVerifier({}, (hash) => proven.add(hash));
  for await (const line of lines) verifier.add(line.number, parseLine(line.text), line.text);
  return { verdict: verifier.finish(), proven };
}

/**
 * The records shown that cannot be called intact and proven, by name: each is re-hashed (the
 * operator serves them apart from the export: one altered with its hash kept would play as
 * proven, review 29) and its hash must be one the export proved; with the records the verdict
 * names, and the verdict's reason when it fails without naming one.
 */
export function tamperedRecords(verdict: ExportVerdict, proven: ReadonlySet<string>, records: readonly SessionRecord[]): string[] {
  const bad = new Set(verdict.problems.flatMap((b) => (b.chainId === undefined || b.seq === undefined ? [] : [recordName(b)])));
  for (const r of records) if (!contentIntact(r) || !proven.has(r.hash)) bad.add(`${r.chainId}#${r.seq}`);
  if (!verdict.ok && bad.size === 0) bad.add(`the session's proofs (${verdict.firstBad?.problem ?? 'failed'})`);
  return [...bad];
}
