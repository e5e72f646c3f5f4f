// `guarita mask`: masks personal identifiers in stdin (files, logs, JSON exports) with the same engine the
// sidecar uses, streaming: memory stays bounded however large the input.
//
//   guarita mask < clientes.json > clientes.masked.json
//   kubectl logs deploy/agent | guarita mask --stats
//   guarita mask --style hash --hash-key-file /var/run/secrets/guarita/masking-key < export.csv
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { parseArgs } from 'node:util';
import {
  compileMasker, DETECTOR_NAMES, MaskingConfigError, type DetectorName, type MaskCounts, type MaskSession, type MaskStyle,
  type StreamMasker,
} from '../../../core/masking/index.ts';
import type { CliIo } from '../io.ts';
import { inertText } from '../inert.ts';

const STYLES: readonly MaskStyle[] = ['partial', 'redact', 'hash', 'surrogate'];
const FORMATS = ['auto', 'json', 'text'] as const;
type Format = (typeof FORMATS)[number];

const USAGE = `usage: guarita mask [flags] < input > output

Masks personal identifiers in stdin and writes the result to stdout, streaming.

flags:
  --style S            partial (default), redact, hash or surrogate
                         partial    keeps a few characters, one layout per type (***.***.***-25)
                         redact     replaces the value with its type ([CPF])
                         hash       cpf:hmac:<16 hex>, HMAC-SHA-256 with your key: stable, so joins still work
                         surrogate  a fake value of the same format with valid check digits (also keyed)
  --detectors a,b,...  built-in detectors to run (default: all):
                         ${DETECTOR_NAMES.join(', ')}
  --format F           auto (default: JSON when the input starts with { or [), json (JSON or NDJSON, masked by
                       key and value) or text (a line that opens a JSON object or array is still read as JSON)
  --stats              print how many values of each type were masked to stderr
  --hash-key-file F    HMAC key for hash and surrogate (the file's bytes, one trailing newline ignored);
                       or set GUARITA_HASH_KEY. At least 16 bytes.
  -h, --help           this help

Exits 0 on success, 2 for a usage error.
`;

const OPTIONS = {
  style: { type: 'string', default: 'partial' },
  detectors: { type: 'string' },
  format: { type: 'string', default: 'auto' },
  stats: { type: 'boolean', default: false },
  'hash-key-file': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

class UsageError extends Error {}

interface Options {
  style: MaskStyle;
  detectors: DetectorName[] | undefined;
  format: Format;
  stats: boolean;
  hashKey: Uint8Array | undefined;
}

function parseDetectors(list: string | undefined): DetectorName[] | undefined {
  if (list === undefined) return undefined;
  const names = list.split(',').map((d) => d.trim()).filter((d) => d !== '');
  const unknown = names.filter((d) => !(DETECTOR_NAMES as readonly string[]).includes(d));
  if (unknown.length > 0) throw new UsageError(`unknown detector(s) ${unknown.join(', ')}; use: ${DETECTOR_NAMES.join(', ')}`);
  return names as DetectorName[];
}

function readKey(file: string | undefined, env: NodeJS.ProcessEnv): Uint8Array | undefined {
  if (file !== undefined) {
    let key: Buffer;
    try {
      key = readFileSync(file);
    } catch (err) {
      throw new UsageError(`cannot read --hash-key-file ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return key.at(-1) === 10 ? key.subarray(0, key.length - 1) : key;
  }
  const fromEnv = env.GUARITA_HASH_KEY;
  return fromEnv === undefined || fromEnv === '' ? undefined : Buffer.from(fromEnv, 'utf8');
}

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options | 'help' {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false, strict: true }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) return 'help';
  const style = values.style as MaskStyle;
  if (!STYLES.includes(style)) throw new UsageError(`unknown --style ${values.style}; use: ${STYLES.join(', ')}`);
  const format = values.format as Format;
  if (!FORMATS.includes(format)) throw new UsageError(`unknown --format ${values.format}; use: ${FORMATS.join(', ')}`);
  const hashKey = readKey(values['hash-key-file'], env);
  if ((style === 'hash' || style === 'surrogate') && hashKey === undefined) {
    throw new UsageError(`--style ${style} needs an HMAC key: pass --hash-key-file FILE or set GUARITA_HASH_KEY (at least 16 random bytes). An unkeyed hash of a CPF can be reversed by trying all 10^9 of them.`);
  }
  return { style, detectors: parseDetectors(values.detectors), format, stats: values.stats, hashKey };
}

/** Decides the format on the first non-blank character when --format auto. */
class Output {
  readonly #session: MaskSession;
  readonly #format: Format;
  #stream: StreamMasker | null = null;
  #head = '';

  constructor(session: MaskSession, format: Format) {
    this.#session = session;
    this.#format = format;
  }

  push(text: string): string {
    if (this.#stream !== null) return this.#stream.push(text);
    this.#head += text;
    const first = this.#head.search(/[^\s\ufeff]/);
    if (first === -1 && this.#format === 'auto') return '';
    this.#stream = this.#open(this.#head[first] ?? '');
    const head = this.#head;
    this.#head = '';
    return this.#stream.push(head);
  }

  end(): string {
    if (this.#stream === null) return this.#head;
    return this.#stream.end();
  }

  #open(first: string): StreamMasker {
    const json = this.#format === 'json' || (this.#format === 'auto' && (first === '{' || first === '['));
    return json ? this.#session.jsonStream() : this.#session.textStream();
  }
}

async function write(io: CliIo, text: string): Promise<void> {
  if (text !== '' && !io.stdout.write(text)) await once(io.stdout, 'drain');
}

function statsText(counts: MaskCounts): string {
  const entries = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));
  const total = entries.reduce((n, [, c]) => n + c, 0);
  const width = Math.max(5, ...entries.map(([k]) => k.length));
  const lines = entries.map(([k, c]) => `  ${k.padEnd(width)} ${c}`);
  return `guarita mask: ${total} value(s) masked\n${[...lines, `  ${'total'.padEnd(width)} ${total}`].join('\n')}\n`;
}

async function maskStdin(io: CliIo, opts: Options): Promise<MaskCounts> {
  const masker = compileMasker({ detectors: opts.detectors, style: opts.style }, opts.hashKey === undefined ? {} : { hashKey: opts.hashKey });
  const session = masker.newSession();
  const out = new Output(session, opts.format);
  const decoder = new StringDecoder('utf8');
  for await (const chunk of io.stdin) {
    await write(io, out.push(typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer)));
  }
  await write(io, out.push(decoder.end()));
  await write(io, out.end());
  return session.counts();
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  let opts: Options | 'help';
  try {
    opts = parseOptions(argv, io.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`guarita mask: ${inertText(err.message)}\n\n${USAGE}`);
    return 2;
  }
  if (opts === 'help') {
    io.stdout.write(USAGE);
    return 0;
  }
  let counts: MaskCounts;
  try {
    counts = await maskStdin(io, opts);
  } catch (err) {
    if (!(err instanceof MaskingConfigError)) throw err;
    io.stderr.write(`guarita mask: ${inertText(err.message)}\n`);
    return 2;
  }
  if (opts.stats) io.stderr.write(statsText(counts));
  return 0;
}
