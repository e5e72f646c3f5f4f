// For tests only: the records a sidecar's spool holds, read back from its segment files as it wrote
// them (the lines of a record: `{"chainId"…`; a segment is presized, its unwritten tail padding).
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The record lines of one segment file. With `untilNul`, only what stands before the first NUL byte
 * (the padding of a presized segment) is read.
 */
export function segmentRecords<T = Record<string, unknown>>(file: string, o: { untilNul?: boolean } = {}): T[] {
  const text = readFileSync(file, 'utf8');
  const data = o.untilNul === true && text.includes('\0') ? text.slice(0, text.indexOf('\0')) : text;
  return data.split('\n').filter((line) => line.trimStart().startsWith('{"chainId"')).map((line) => JSON.parse(line) as T);
}

/** The record lines of every segment (`*.jsonl`, in name order) of the spool directory `dir`. */
export function spoolDirRecords<T = Record<string, unknown>>(dir: string, o: { untilNul?: boolean } = {}): T[] {
  return readdirSync(dir).filter((n) => n.endsWith('.jsonl')).sort().flatMap((f) => segmentRecords<T>(join(dir, f), o));
}

/** Every record line in the spools of the sidecars of `namespace` (their fixtures under the temp directory, in this process or not). */
export function namespaceSpoolRecords<T = Record<string, unknown>>(namespace: string): T[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith(`guarita-sidecar-${namespace}-`)).flatMap((d) => spoolDirRecords<T>(join(tmpdir(), d, 'spool')));
}
