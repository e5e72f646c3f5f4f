// Masking throughput and latency, beside plain copies of the same bytes in the same run:
//   mask.copyMBps             baseline: copying the input bytes (Buffer copy, what a proxy pays to forward them)
//   mask.decodeEncodeMBps     baseline: UTF-8 decode + encode of the same bytes (the floor of any text rewrite)
//   mask.textMBps             support-log text, bytes in 64 KiB chunks → text stream masker → bytes out
//   mask.jsonMBps             a JSON array of customer records, the same way through the JSON stream masker
//   mask.jsonParseStringifyMBps  baseline: JSON.parse + JSON.stringify of that JSON (no masking)
//   mask.jsonValueMBps        JSON.parse → maskJson → JSON.stringify
//   mask.hundredRowsMs        100 typical customer rows (12 columns) as PostgreSQL text cells, maskCell per cell
//   mask.hundredRowsJsonMs    the same 100 rows as one JSON body through the JSON stream masker
//   mask.hundredRowsHashMs    the cells again with the hash style (HMAC-SHA-256 per masked value)
//   mask.hundredRowsCopyMs    baseline: encoding the same cells to bytes
// Default spec: every built-in detector, partial style. Medians of repeated runs.
// Alone: `bash scripts/run.sh node bench/mask.ts [--quick]`.
import { StringDecoder } from 'node:string_decoder';
import { parseArgs } from 'node:util';
import { generateCorpus, Rng, type Sample } from '../core/masking/corpus.ts';
import { compileMasker, type Masker, type StreamMasker } from '../core/masking/index.ts';

const CHUNK = 64 * 1024;

function pickValue(r: Rng, samples: Sample[], type: Sample['type']): string {
  return r.pick(samples.filter((s) => s.type === type && !s.needsContext)).value;
}

/** Support-agent logs: mostly plain lines with timestamps, amounts and ids; about one line in four carries PII. */
function supportLog(bytes: number): string {
  const r = new Rng(11);
  const { valid } = generateCorpus(5, 4);
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const ts = `2026-07-${String(1 + (i % 28)).padStart(2, '0')}T${String(i % 24).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:00Z`;
    const line = i % 4 === 0
      ? `${ts} INFO atendimento ticket=${100000 + i} cliente CPF ${pickValue(r, valid, 'cpf')} tel ${pickValue(r, valid, 'phone')} e-mail ${pickValue(r, valid, 'email')} pediu segunda via`
      : `${ts} INFO pedido ${200000 + i} status=enviado valor=R$ ${(i % 997) + 10},90 transportadora=correios tentativa ${i % 3} latencia_ms=${i % 250}`;
    lines.push(line);
    size += line.length + 1;
  }
  return `${lines.join('\n')}\n`;
}

interface Row { [column: string]: string | number }

function customerRow(r: Rng, valid: Sample[], i: number): Row {
  return {
    id: 1000 + i,
    nome: r.pick(['Maria Souza', 'João Silva', 'Ana Paula Lima', 'Carlos Pereira']),
    cpf: pickValue(r, valid, 'cpf'),
    email: pickValue(r, valid, 'email'),
    telefone: pickValue(r, valid, 'phone'),
    cep: `0${1000 + (i % 8999)}-${String(i % 1000).padStart(3, '0')}`,
    cidade: r.pick(['São Paulo', 'Recife', 'Porto Alegre', 'Belo Horizonte']),
    uf: r.pick(['SP', 'PE', 'RS', 'MG']),
    dt_nasc: `19${50 + (i % 50)}-0${1 + (i % 9)}-1${i % 10}`,
    status: r.pick(['ativo', 'inativo', 'pendente']),
    criado_em: '2026-07-15T14:32:00Z',
    obs: i % 5 === 0 ? `cliente pediu contato pelo celular ${pickValue(r, valid, 'phone')}` : 'sem observações',
  };
}

function customers(n: number): Row[] {
  const r = new Rng(23);
  const { valid } = generateCorpus(9, 4);
  return Array.from({ length: n }, (_, i) => customerRow(r, valid, i));
}

/** Median milliseconds of fn over repeated runs lasting about `budgetMs` in total (after one warm-up run). */
function median(fn: () => void, budgetMs: number, minRuns = 5): number {
  fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minRuns || performance.now() - start < budgetMs) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? Number.NaN;
}

/** Bytes through a stream masker in CHUNK-sized pieces, decoded and re-encoded as a proxy would. */
function throughStream(input: Buffer, open: () => StreamMasker): number {
  const decoder = new StringDecoder('utf8');
  const stream = open();
  let outBytes = 0;
  for (let i = 0; i < input.length; i += CHUNK) {
    outBytes += Buffer.byteLength(stream.push(decoder.write(input.subarray(i, i + CHUNK))));
  }
  outBytes += Buffer.byteLength(stream.push(decoder.end()) + stream.end());
  return outBytes;
}

function mbps(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

function ensureMasked(masker: Masker, input: string, json: boolean): void {
  const session = masker.newSession();
  const stream = json ? session.jsonStream() : session.textStream();
  stream.push(input.slice(0, 100_000));
  stream.end();
  if (Object.keys(session.counts()).length === 0) throw new Error('the benchmark input masked nothing');
}

export async function benchMask(opts: { quick: boolean }): Promise<Record<string, number>> {
  const size = opts.quick ? 1_000_000 : 4_000_000;
  const budget = opts.quick ? 400 : 2500;
  const masker = compileMasker({});
  const hashed = compileMasker({ style: 'hash' }, { hashKey: new Uint8Array(32).fill(7) });

  const text = Buffer.from(supportLog(size));
  const rows = customers(100);
  const json = Buffer.from(JSON.stringify(Array.from({ length: Math.ceil(size / 3500) }, () => rows).flat()));
  ensureMasked(masker, text.toString(), false);
  ensureMasked(masker, json.toString(), true);

  const results: Record<string, number> = {};
  results['mask.copyMBps'] = mbps(text.length, median(() => void Buffer.from(text), budget));
  results['mask.decodeEncodeMBps'] = mbps(text.length, median(() => void Buffer.from(text.toString('utf8'), 'utf8'), budget));
  results['mask.textMBps'] = mbps(text.length, median(() => void throughStream(text, () => masker.newSession().textStream()), budget));
  results['mask.jsonMBps'] = mbps(json.length, median(() => void throughStream(json, () => masker.newSession().jsonStream()), budget));
  results['mask.jsonParseStringifyMBps'] = mbps(json.length, median(() => void Buffer.from(JSON.stringify(JSON.parse(json.toString()))), budget));
  results['mask.jsonValueMBps'] = mbps(json.length, median(() => void Buffer.from(JSON.stringify(masker.newSession().maskJson(JSON.parse(json.toString())))), budget));
  Object.assign(results, hundredRows(masker, hashed, rows, budget));
  await Promise.resolve();
  return results;
}

function hundredRows(masker: Masker, hashed: Masker, rows: Row[], budget: number): Record<string, number> {
  const columns = Object.keys(rows[0] ?? {});
  const cells = rows.map((row) => columns.map((c) => String(row[c])));
  const maskCells = (m: Masker) => (): void => {
    const session = m.newSession();
    for (const row of cells) for (let j = 0; j < columns.length; j++) session.maskCell(columns[j], row[j] ?? '');
  };
  const body = JSON.stringify(rows);
  return {
    'mask.hundredRowsMs': median(maskCells(masker), budget, 50),
    'mask.hundredRowsJsonMs': median(() => {
      const stream = masker.newSession().jsonStream();
      stream.push(body);
      stream.end();
    }, budget, 50),
    'mask.hundredRowsHashMs': median(maskCells(hashed), budget, 50),
    'mask.hundredRowsCopyMs': median(() => {
      for (const row of cells) for (const cell of row) Buffer.from(cell);
    }, budget, 50),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  const results = await benchMask({ quick: values.quick });
  const rows = Object.entries(results).map(([k, v]) => `| ${k} | ${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(3)} |`);
  process.stdout.write(['| metric | value |', '| --- | --- |', ...rows].join('\n') + '\n');
}
