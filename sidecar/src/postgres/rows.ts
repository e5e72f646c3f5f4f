// Masking of result rows. Columns come from RowDescription (simple protocol), or from the
// statement's description plus the Bind's result formats (extended protocol). Text cells go
// through the policy's masking session by column name and by content. Binary cells: types whose
// binary form is their text (text, varchar, json, ...) and arrays of them are decoded, masked
// and re-encoded; other typed columns pass through only when the policy says
// `binaryColumns: passthroughNonText` and the type is a known non-text scalar; anything else is
// refused, so a binary cell never leaks unmasked.
import type { MaskSession } from '../enforcement.ts';
import { dataRow } from './backend.ts';

export type BinaryColumnsMode = 'refuse' | 'passthroughNonText';

export interface ColumnInfo {
  name: string;
  typeOid: number;
  /** 0 text, 1 binary. */
  format: number;
}

/** Types whose binary send format is the UTF-8 text itself. */
const TEXT_BINARY_OIDS = new Set([
  25, // text
  1043, // varchar
  1042, // bpchar
  19, // name
  18, // "char"
  114, // json
  142, // xml
  705, // unknown
  2275, // cstring
]);
const JSONB_OID = 3802;
/** Arrays whose elements are text-like (text[], varchar[], bpchar[], name[], json[], jsonb[], xml[]). */
const TEXT_ARRAY_ELEMENT: Record<number, number> = { 1009: 25, 1015: 1043, 1014: 1042, 1003: 19, 199: 114, 3807: JSONB_OID, 143: 142 };
/** Scalar types without text inside: numbers, booleans, dates and times, uuid, network, bytea. */
const NON_TEXT_SCALAR_OIDS = new Set([
  16, 17, 20, 21, 23, 26, 700, 701, 790, 1700, // bool, bytea, int8, int2, int4, oid, float4, float8, money, numeric
  1082, 1083, 1114, 1184, 1186, 1266, // date, time, timestamp, timestamptz, interval, timetz
  2950, 869, 650, 829, 774, 1560, 1562, 3220, 28, 29, 5069, // uuid, inet, cidr, macaddr, macaddr8, bit, varbit, pg_lsn, xid, cid, xid8
  600, 601, 602, 603, 604, 628, 718, // geometric types
]);

export type BinaryHandling = 'text' | 'jsonb' | 'textArray' | 'passthrough' | 'refuse';

export function binaryHandling(typeOid: number, mode: BinaryColumnsMode): BinaryHandling {
  if (TEXT_BINARY_OIDS.has(typeOid)) return 'text';
  if (typeOid === JSONB_OID) return 'jsonb';
  if (TEXT_ARRAY_ELEMENT[typeOid] !== undefined) return 'textArray';
  if (mode === 'passthroughNonText' && NON_TEXT_SCALAR_OIDS.has(typeOid)) return 'passthrough';
  return 'refuse';
}

/** The first column whose binary format the policy refuses, as a message naming it; undefined when none. */
export function binaryRefusal(columns: readonly ColumnInfo[], mode: BinaryColumnsMode): string | undefined {
  const bad = columns.find((c) => c.format === 1 && binaryHandling(c.typeOid, mode) === 'refuse');
  if (bad === undefined) return undefined;
  const hint = mode === 'refuse' ? 'the policy refuses binary-format results of typed columns (masking.binaryColumns: refuse)' : 'its type may carry text the sidecar cannot mask in binary form';
  return `binary-format result for column "${bad.name}" (type oid ${bad.typeOid}) refused: ${hint}; request text format`;
}

/** Columns with the formats of a Bind: none → all text, one → all alike, n → one per column. */
export function withResultFormats(columns: readonly ColumnInfo[], formats: readonly number[]): ColumnInfo[] {
  return columns.map((c, i) => ({ ...c, format: formats.length === 0 ? 0 : formats.length === 1 ? (formats[0] ?? 0) : (formats[i] ?? 0) }));
}

/** A bounded, masked excerpt of a result for the session record. */
export class SampleCollector {
  private readonly lines: string[] = [];
  private bytes = 0;
  private rowsKept = 0;
  truncated = false;
  private readonly maxRows: number;
  private readonly maxBytes: number;

  constructor(limits: { maxRows: number; maxBytes: number }) {
    this.maxRows = limits.maxRows;
    this.maxBytes = limits.maxBytes;
  }

  private add(line: string): boolean {
    const size = Buffer.byteLength(line) + 1;
    if (this.bytes + size > this.maxBytes) {
      this.truncated = true;
      return false;
    }
    this.lines.push(line);
    this.bytes += size;
    return true;
  }

  header(names: readonly string[]): void {
    if (this.maxRows > 0 && !this.truncated) this.add(names.map(escapeSampleCell).join('\t'));
  }

  /** Whether row() keeps the next row (it then needs the row's masked cells); when not, skipRow() instead. */
  get wantsRow(): boolean {
    return this.rowsKept < this.maxRows;
  }

  /** A row past maxRows, not decoded: the sample says it was cut, as row() would. */
  skipRow(): void {
    this.truncated = true;
  }

  /** `cells` are already masked. */
  row(cells: ReadonlyArray<string | null>): void {
    if (this.rowsKept >= this.maxRows) {
      this.truncated = true;
      return;
    }
    if (this.add(cells.map((c) => (c === null ? '\\N' : escapeSampleCell(c))).join('\t'))) this.rowsKept++;
  }

  /** One already-masked COPY line. */
  line(text: string): void {
    if (this.rowsKept >= this.maxRows) {
      this.truncated = true;
      return;
    }
    if (this.add(text.replace(/\r?\n$/, ''))) this.rowsKept++;
  }

  text(): string | undefined {
    return this.lines.length === 0 ? undefined : this.lines.join('\n');
  }
}

function escapeSampleCell(s: string): string {
  return s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

interface Cell {
  start: number;
  len: number;
}

/** Offsets of the cells of a DataRow message (`raw` = whole message). Throws on a malformed row. */
export function splitDataRow(raw: Buffer): Cell[] {
  if (raw.length < 7) throw new Error('malformed DataRow');
  const n = raw.readInt16BE(5);
  const cells: Cell[] = [];
  let off = 7;
  for (let i = 0; i < n; i++) {
    if (off + 4 > raw.length) throw new Error('malformed DataRow');
    const len = raw.readInt32BE(off);
    off += 4;
    if (len < -1 || off + Math.max(len, 0) > raw.length) throw new Error('malformed DataRow');
    cells.push({ start: off, len });
    if (len > 0) off += len;
  }
  return cells;
}

/** Masks the text elements of a one-or-more-dimensional binary array of a text-like type. */
function maskBinaryTextArray(buf: Buffer, maskOne: (s: string) => string): Buffer {
  if (buf.length < 12) throw new Error('malformed binary array');
  const ndim = buf.readInt32BE(0);
  if (ndim < 0 || ndim > 6) throw new Error('malformed binary array');
  const elemOid = buf.readUInt32BE(8);
  let off = 12 + ndim * 8;
  if (off > buf.length) throw new Error('malformed binary array');
  const parts: Buffer[] = [buf.subarray(0, off)];
  while (off < buf.length) {
    if (off + 4 > buf.length) throw new Error('malformed binary array');
    const len = buf.readInt32BE(off);
    off += 4;
    if (len < 0) {
      parts.push(buf.subarray(off - 4, off));
      continue;
    }
    if (off + len > buf.length) throw new Error('malformed binary array');
    const value = buf.subarray(off, off + len);
    off += len;
    const masked = elemOid === JSONB_OID ? maskJsonbBinary(value, maskOne) : Buffer.from(maskOne(value.toString('utf8')), 'utf8');
    const lenBuf = Buffer.alloc(4);
    lenBuf.writeInt32BE(masked.length);
    parts.push(lenBuf, masked);
  }
  return Buffer.concat(parts);
}

function maskJsonbBinary(value: Buffer, maskOne: (s: string) => string): Buffer {
  if (value.length < 1 || value[0] !== 1) throw new Error('unknown jsonb binary version');
  return Buffer.concat([value.subarray(0, 1), Buffer.from(maskOne(value.toString('utf8', 1)), 'utf8')]);
}

export class RowRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RowRefusedError';
  }
}

/** Masks the DataRows of one result set. */
export class RowMasker {
  private readonly columns: readonly ColumnInfo[] | undefined;
  private readonly handling: BinaryHandling[];
  private readonly mask: MaskSession;
  private readonly sample: SampleCollector | undefined;
  rows = 0;
  bytes = 0;

  /** `columns` undefined: nothing is known about the result; cells are masked by content only and must be text. */
  constructor(columns: readonly ColumnInfo[] | undefined, mask: MaskSession, mode: BinaryColumnsMode, sample?: SampleCollector) {
    this.columns = columns;
    this.mask = mask;
    this.sample = sample;
    this.handling = (columns ?? []).map((c) => (c.format === 1 ? binaryHandling(c.typeOid, mode) : 'text'));
    if (columns !== undefined) sample?.header(columns.map((c) => c.name));
  }

  private maskValue(i: number, value: string): string {
    const name = this.columns?.[i]?.name;
    return name === undefined ? this.mask.maskText(value) : (this.mask.maskCell(name, value) ?? value);
  }

  /**
   * The DataRow to send for `raw`: `raw` itself (the bytes as they arrived) when nothing in it
   * changes. A cell is decoded only when masking could change it (the masking engine's pre-scan on
   * its bytes: a name rule, a detector candidate, JSON); other cells are decoded only for the
   * record's sample, while it still takes rows. Throws RowRefusedError on a row the columns do not describe.
   */
  maskRow(raw: Buffer): Buffer {
    this.rows++;
    this.bytes += raw.length;
    const cells = splitDataRow(raw);
    if (this.columns !== undefined && cells.length !== this.columns.length) throw new RowRefusedError(`DataRow has ${cells.length} cells for ${this.columns.length} columns`);
    const sampled = this.sample?.wantsRow === true;
    if (!sampled) this.sample?.skipRow();
    const shown: Array<string | null> = [];
    let out: Array<Buffer | null> | undefined;
    cells.forEach((cell, i) => {
      const masked = this.maskCellAt(raw, cell, i, sampled, shown);
      if (masked === undefined) return;
      out ??= cells.map((c) => (c.len < 0 ? null : raw.subarray(c.start, c.start + c.len)));
      out[i] = masked;
    });
    if (sampled) this.sample?.row(shown);
    return out === undefined ? raw : dataRow(out);
  }

  /** The new bytes of cell i, or undefined when it goes as it came (NULL, unchanged, or skipped by the pre-scan). */
  private maskCellAt(raw: Buffer, cell: Cell, i: number, sampled: boolean, shown: Array<string | null>): Buffer | undefined {
    if (cell.len < 0) {
      shown.push(null);
      return undefined;
    }
    const end = cell.start + cell.len;
    if ((this.handling[i] ?? 'text') === 'text' && !this.mayChange(i, raw, cell.start, end)) {
      // Masking would return the text as it is: the sample (when it takes the row) gets it decoded, nothing else.
      if (sampled) shown.push(raw.toString('utf8', cell.start, end));
      return undefined;
    }
    const bytes = raw.subarray(cell.start, end);
    const [masked, text] = this.maskCellBytes(i, bytes);
    shown.push(text);
    return masked === bytes ? undefined : masked;
  }

  /** The masking engine's pre-scan for cell i (as maskValue masks it: by its column's name, or as text). */
  private mayChange(i: number, raw: Buffer, start: number, end: number): boolean {
    const name = this.columns?.[i]?.name;
    return name === undefined ? this.mask.textMayChange(raw, start, end) : this.mask.cellMayChange(name, raw, start, end);
  }

  /** [bytes to send, masked text for the sample]. */
  private maskCellBytes(i: number, bytes: Buffer): [Buffer, string] {
    const h = this.handling[i] ?? 'text';
    if (h === 'refuse') throw new RowRefusedError(binaryRefusal([this.columns?.[i] ?? { name: `#${i + 1}`, typeOid: 0, format: 1 }], 'refuse') ?? 'binary cell refused');
    return CELL_MASKERS[h](bytes, (s: string): string => this.maskValue(i, s));
  }
}

/** Unchanged text keeps its exact bytes (decoding is lossy for invalid UTF-8). */
function maskUtf8(bytes: Buffer, one: (s: string) => string): [Buffer, string] {
  const text = bytes.toString('utf8');
  const masked = one(text);
  return [masked === text ? bytes : Buffer.from(masked, 'utf8'), masked];
}

/** Per handling: [bytes to send, masked text for the sample]. */
const CELL_MASKERS: Record<Exclude<BinaryHandling, 'refuse'>, (bytes: Buffer, one: (s: string) => string) => [Buffer, string]> = {
  text: maskUtf8,
  jsonb: (bytes, one) => {
    const out = maskJsonbBinary(bytes, one);
    return [out.equals(bytes) ? bytes : out, out.toString('utf8', 1)];
  },
  textArray: (bytes, one) => {
    const out = maskBinaryTextArray(bytes, one);
    return [out.equals(bytes) ? bytes : out, `<binary array, ${out.length} bytes>`];
  },
  passthrough: (bytes) => [bytes, `<binary ${bytes.length} bytes>`],
};
