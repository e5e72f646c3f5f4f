// guarita export [--since T] [--until T] [--format jsonl|csv] [-o FILE]
import { createWriteStream, renameSync, rmSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import type { CliIo } from '../io.ts';
import { COMMON_OPTIONS, parseFlags, UsageError } from '../args.ts';
import { connect, OPERATOR_HELP, OPERATOR_OPTIONS, type OperatorClient } from '../operator-client.ts';
import { commandRow, csvHeader } from '../csv.ts';
import { jsonlLines, parseLine, type JsonlLine } from '../jsonl.ts';
import { Progress } from '../progress.ts';
import { humanBytes, parseTimeFlag } from '../time.ts';
import type { SessionRecord } from '../../../core/recording/store-types.ts';
import { isExportRecord } from '../../../core/recording/export-format.ts';
import { ASCIICAST_HELP, exportAsciicast } from '../asciicast-export.ts';

const HELP = `usage: guarita export [--policy P] [--session ID] [--since T] [--until T] [--format jsonl|csv|asciicast] [-o FILE] [-n NAMESPACE]

Exports the audit trail of a namespace: every recorded record (session start and end, commands with
subject, purpose, decision, rule, approval, masked result sizes and masked-value counts, approvals).
You need 'get' and 'list' on sessions.guarita.io in the namespace. A progress bar is drawn on
stderr when it is a terminal and the export takes a while.

  jsonl (default)  the records exactly as the sidecars wrote them, with what proves them: for
                   each run of records a Merkle proof against a checkpoint its sidecar signed,
                   the chain keys and a manifest of the records signed by the operator's store
                   key, and the store head anchored in AccessPolicy status. Verifiable offline,
                   alone: 'guarita verify --file FILE' (add --anchor HEAD to tie it to the cluster).
  csv              one row per command: time, namespace, policy, target, session, subject, groups,
                   purpose, command (masked), decision, rule, approvalRequest, rows, bytes, masked
                   (e.g. cpf=3;email=2), record (chainId#seq, to find it in a JSONL export),
                   reviews (an approved command's reviewers, groups, decisions, times, reasons),
                   commandTruncated (true when the record keeps only the first 64 KiB of the
                   masked command), commandSha256 (of the whole, unmasked command).
                   For spreadsheets: NOT verifiable (no hashes or signatures); cells a spreadsheet
                   would run as formulas (starting with = + - @) get a leading apostrophe.
${ASCIICAST_HELP}

Flags:
  --since T             records since T: a duration ago (24h, 7d) or a time (2026-11-01T00:00:00Z)
  --until T             records before T (same forms; default: now)
  --format F            jsonl, csv or asciicast (default: from the file name's extension, else jsonl)
  --channel N           asciicast only: the session's channel (default: the first with a terminal stream)
  -o, --output FILE     write to FILE (created with mode 0600, complete or not at all); default stdout
  --policy P            records of AccessPolicy P only
  --session ID          records of one session only
  -n, --namespace NS    namespace (default: the context's)
  --kubeconfig FILE, --context NAME

A partial JSONL export (a policy, a session, a time window) is as verifiable as a whole one: every
record carries its proof, and the operator's signed manifest says which records the file must
hold, so one removed from the file (first and last included) is named.

${OPERATOR_HELP}`;

const OPTIONS = { ...COMMON_OPTIONS, ...OPERATOR_OPTIONS, since: { type: 'string' }, until: { type: 'string' }, format: { type: 'string' }, policy: { type: 'string' }, session: { type: 'string' }, channel: { type: 'string' } } as const;

type Format = 'jsonl' | 'csv';

function exportFormat(format: string | undefined, file: string | undefined): Format | 'asciicast' {
  if (format === undefined) return file?.toLowerCase().endsWith('.csv') === true ? 'csv' : file?.toLowerCase().endsWith('.cast') === true ? 'asciicast' : 'jsonl';
  if (format === 'jsonl' || format === 'csv' || format === 'asciicast') return format;
  throw new UsageError(`--format must be jsonl, csv or asciicast (got '${format}')`);
}

/**
 * Every other command reads `-o json` as kubectl does, a format; here -o names the file. A bare
 * format word is refused, so the habit does not leave an audit trail in a file called `json`.
 */
const FORMAT_WORDS = new Set(['json', 'jsonl', 'yaml', 'yml', 'csv', 'table', 'wide', 'name']);

function outputFile(output: string | undefined): string | undefined {
  if (output === undefined || output === '-') return undefined;
  if (FORMAT_WORDS.has(output.toLowerCase())) {
    throw new UsageError(`-o ${output}: in 'guarita export', -o names the output FILE, not a format; choose the format with --format jsonl|csv (to write a file with that name, pass -o ./${output})`);
  }
  return output;
}

interface Window { since?: string; until?: string }

function timeWindow(since: string | undefined, until: string | undefined, now: number): Window {
  const s = since === undefined ? undefined : parseTimeFlag(since, '--since', now);
  const u = until === undefined ? undefined : parseTimeFlag(until, '--until', now);
  if (s !== undefined && u !== undefined && s >= u) throw new UsageError(`--since (${new Date(s).toISOString()}) must be before --until (${new Date(u).toISOString()})`);
  return { ...(s === undefined ? {} : { since: new Date(s).toISOString() }), ...(u === undefined ? {} : { until: new Date(u).toISOString() }) };
}

/** Where the export goes: a temporary file renamed into place on success, or stdout. */
interface Sink { out: Writable; commit(): Promise<void>; abort(): void; name: string }

function fileSink(file: string): Sink {
  const partial = join(dirname(file), `.${basename(file)}.partial-${process.pid}`);
  const out: WriteStream = createWriteStream(partial, { mode: 0o600, flags: 'w' });
  // Interrupted (Ctrl-C): leave no partial file behind.
  const interrupted = (): void => {
    rmSync(partial, { force: true });
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const release = (): void => {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  };
  return {
    out, name: file,
    commit: async () => {
      release();
      out.end();
      await once(out, 'close');
      renameSync(partial, file);
    },
    abort: () => {
      release();
      out.destroy();
      rmSync(partial, { force: true });
    },
  };
}

function stdoutSink(io: CliIo): Sink {
  return { out: io.stdout, name: 'stdout', commit: () => Promise.resolve(), abort: () => undefined };
}

async function write(out: Writable, chunk: string | Buffer): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}

interface Counts { lines: number; records: number; commands: number; chains: number; bytes: number; expected?: number }

type Line = Omit<Partial<SessionRecord>, 'type'> & { type?: string; records?: unknown };

/** A record: a chain's seq and hash on none of the export's own line kinds (those are not records, whatever they carry: review 29). */
function isRecordLine(v: Line): boolean {
  return typeof v.chainId === 'string' && isExportRecord(v);
}

/** Copies one line to the sink (JSONL as received, byte for byte; CSV rows for command records). */
async function copyLine(line: JsonlLine, format: Format, sink: Sink, counts: Counts, action: string): Promise<SessionRecord | undefined> {
  counts.lines++;
  counts.bytes += line.raw.length + 1;
  const value = parseLine(line.text) as Line | undefined;
  if (value === undefined) throw new Error(`${action}: line ${line.number} of the operator's answer is not JSON; the export is incomplete, try again`);
  if (format === 'jsonl') await write(sink.out, Buffer.concat([line.raw, NEWLINE]));
  if (!isRecordLine(value)) {
    // The header says how many records follow (the progress bar's total); a registration (or, from an older operator, a key line) is a chain.
    if (value.type === 'export' && typeof value.records === 'number') counts.expected = value.records;
    if (value.type === 'registration' || value.type === 'key') counts.chains++;
    return undefined;
  }
  const record = value as unknown as SessionRecord;
  counts.records++;
  const row = format === 'csv' ? commandRow(record) : undefined;
  if (row === undefined) return record;
  counts.commands++;
  await write(sink.out, row);
  return record;
}

const NEWLINE = Buffer.from('\n');

async function copy(operator: OperatorClient, query: Record<string, string | undefined>, format: Format, sink: Sink, progress: Progress, action: string): Promise<Counts> {
  const counts: Counts = { lines: 0, records: 0, commands: 0, chains: 0, bytes: 0 };
  if (format === 'csv') await write(sink.out, csvHeader());
  for await (const line of jsonlLines(await operator.stream('/export', query, action))) {
    const record = await copyLine(line, format, sink, counts, action);
    if (record !== undefined && counts.records % 1024 === 0) progress.update(counts.expected === undefined || counts.expected === 0 ? undefined : Math.min(0.99, counts.records / counts.expected), `${counts.records} records · ${humanBytes(counts.bytes)}`);
  }
  if (counts.expected !== undefined && counts.records !== counts.expected) throw new Error(`${action}: the operator announced ${counts.expected} records and sent ${counts.records}; the export is incomplete, try again`);
  return counts;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, OPTIONS, 'export');
  if (values.help === true) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`guarita export takes no arguments (got '${positionals.join(' ')}'); write to a file with -o FILE`);
  const file = outputFile(values.output);
  const format = exportFormat(values.format, file);
  if (format === 'asciicast') return exportAsciicast(values, file, io);
  if (values.channel !== undefined) throw new UsageError('--channel applies to --format asciicast only');
  const window = timeWindow(values.since, values.until, Date.now());
  const { operator } = await connect(values, io.env);
  const action = `exporting recordings of namespace ${operator.namespace}`;
  const sink = file === undefined ? stdoutSink(io) : fileSink(file);
  const progress = new Progress(io.stderr, { label: 'exporting' });
  try {
    const counts = await copy(operator, { ...window, policy: values.policy, session: values.session }, format, sink, progress, action);
    progress.done();
    await sink.commit();
    io.stderr.write(`${summary(counts, format, window, operator.namespace, sink.name)}\n`);
    return 0;
  } catch (err) {
    progress.done();
    sink.abort();
    throw err;
  } finally {
    await operator.close();
  }
}

function summary(c: Counts, format: Format, w: Window, namespace: string, name: string): string {
  const span = `${w.since ?? 'the beginning'} .. ${w.until ?? 'now'}`;
  const what = format === 'csv' ? `${c.commands} command row(s) from ${c.records} record(s)` : `${c.records} record(s) of ${c.chains} chain(s)`;
  const next = format === 'csv'
    ? 'A CSV export is not verifiable; a JSONL export of the same window is (guarita verify --file).'
    : `Verify it offline: guarita verify --file ${name === 'stdout' ? 'FILE' : name}`;
  return `Exported ${what} of namespace ${namespace} (${span}) to ${name}.\n${next}`;
}
