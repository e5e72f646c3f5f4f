// The cells of the apiserver's Table (meta.k8s.io, kubectl get's default output), masked as the
// values of their columns. A cell is an array element with no JSON key: masked like any string, the
// policy's field rules (matched against a key) never apply to it, and the detectors that need their
// keyword (CEP, dates of birth) see the previous cell instead of the column's name, which sits in
// columnDefinitions kilobytes earlier (round 11 review, finding 1). So each cell is masked as the
// value of a JSON key named after its column: the column's name; when the apiserver states it, the
// last segment of its JSONPath (a CRD's printer column without its own description says
// "Custom resource definition column (in JSONPath format): .spec.nome"); and for a built-in
// resource's column, the keys of the fields its printer shows (kubernetes-printer-columns.ts: the
// CSR's `Requestor` is spec.username, a Lease's `Holder` holderIdentity; round 11b review, finding
// 2). A rule on any of these names masks the cell whole; all are the keyword context the detectors
// read. A cell whose column is not known (no definitions: a watch sends them with its first Table
// only, NoHeaders after; more cells than columns) cannot be judged by name, so it is redacted; so is
// a built-in resource's column that the printer map does not know (a newer release's) when the
// policy has field rules, unless it is one of the columns the printers compute (SAFE_COLUMNS): a
// rule on the field it shows could not reach it. The same holds for a custom resource's column that
// states its own description (kubebuilder's `printcolumn:description=`): the apiserver then names no
// JSONPath, so under field rules its cells are redacted too, but Name and Age, which the CRD
// TableConvertor writes itself. Pure: no I/O.

import { anyPrinterFields, isBuiltinGroup, printerColumns, SAFE_COLUMNS } from './kubernetes-printer-columns.ts';

type Json = Record<string, unknown>;

export interface TableCellOps {
  maskJson(value: unknown): unknown;
  /** Another session of the same masker whose masking does not count (the rule probe). */
  removingSession(): { maskCell(columnName: string | undefined, value: string): string };
}

/**
 * The names a column's values are known by: its name, its JSONPath's last segment, the keys its built-in
 * printer shows (each when known and different); `unknown` when its cells are redacted (see above).
 */
export interface TableColumn { names: string[]; unknown?: boolean }

/** Where a Table comes from: the request's resource, and whether the policy has field rules. */
export interface TableSource {
  /** The API group ("" for the core group). */
  group: string;
  resource: string;
  subresource?: string;
  /** policy.spec.masking.fields is not empty (and masking is on). */
  fieldRules: boolean;
}

/**
 * A watch's columns: the apiserver sends columnDefinitions with the first Table event only
 * (watchEmbeddedEncoder sets NoHeaders after it), so the later events' cells are named by them.
 */
export interface TableColumnMemory { columns?: TableColumn[] }

/** What a cell whose column is unknown becomes. */
export const UNNAMED_CELL = '[redacted by guarita: no column]';
/** What a cell of a built-in column the printer map does not know becomes, under field rules. */
export const UNKNOWN_COLUMN_CELL = '[redacted by guarita: column not known]';

const CRD_COLUMN = /^Custom resource definition column \(in JSONPath format\): (\S+)\s*$/;
// A probe for "does a field rule name this column": a rule masks it whole (any style changes it);
// without one it is plain text the detectors leave alone.
const PROBE = 'guarita-column-probe';
/** The columns a custom resource's Table always has from the apiserver itself (metadata.name and creationTimestamp). */
const CRD_SAFE_COLUMNS: ReadonlySet<string> = new Set(['Name', 'Age']);
/** JSONPath segments that name no field. */
const NOT_A_NAME = new Set(['', '*', '@', '$']);

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The last name of a JSONPath as kubectl and the apiserver write them: `.spec.nome` → nome,
 * `{.status.titular}` → titular, `.spec['nome']` → nome, `.spec.contacts[0].email` → email,
 * `.status.conditions[?(@.type=="Ready")].status` → status. Undefined when there is none.
 */
export function jsonPathLeaf(path: string): string | undefined {
  let p = path.trim().replace(/^\{/, '').replace(/\}$/, '');
  for (let m = /\[([^[\]]*)\]$/.exec(p); m !== null; m = /\[([^[\]]*)\]$/.exec(p)) {
    const quoted = /^\s*(['"])(.+)\1\s*$/.exec(m[1] ?? '');
    if (quoted !== null) return quoted[2];
    p = p.slice(0, m.index);
  }
  const leaf = /([^.]+)$/.exec(p)?.[1]?.trim() ?? '';
  return NOT_A_NAME.has(leaf) ? undefined : leaf;
}

/** A column's JSONPath: its own `jsonPath` member (another server's Table), or the CRD column's default description. */
function columnPath(def: Json): string | undefined {
  if (typeof def.jsonPath === 'string') return def.jsonPath;
  return typeof def.description === 'string' ? CRD_COLUMN.exec(def.description)?.[1] : undefined;
}

type Printer = Readonly<Record<string, readonly string[]>>;

/** How a Table's columns are read: its resource's printer, whether it is a built-in's, whether unknown columns are redacted (under field rules). */
interface Reading { source: TableSource | undefined; printer: Printer | undefined; builtin: boolean; strict: boolean }

function readingOf(source: TableSource | undefined): Reading {
  if (source === undefined) return { source, printer: undefined, builtin: false, strict: false };
  const builtin = isBuiltinGroup(source.group);
  return { source, printer: printerColumns(source.group, source.resource, source.subresource), builtin, strict: source.fieldRules };
}

/**
 * The keys a column's printer shows: its resource's printer's; any built-in printer's of that column name when
 * the resource is not known (names only add masking); none for a CRD or an aggregated API's resource.
 */
function printerFields(name: string, r: Reading): readonly string[] {
  if (r.source === undefined) return anyPrinterFields(name);
  if (!r.builtin) return [];
  return r.printer !== undefined && Object.hasOwn(r.printer, name) ? (r.printer[name] ?? []) : anyPrinterFields(name);
}

/**
 * A column whose field is known: a JSONPath; for a built-in, an entry of its printer or one the printers
 * compute; for a custom resource, the Name and Age the apiserver adds (its other columns state a JSONPath
 * unless they have their own description).
 */
function knownColumn(name: string | undefined, path: string | undefined, r: Reading): boolean {
  if (path !== undefined) return true;
  if (name === undefined) return false;
  if (!r.builtin) return CRD_SAFE_COLUMNS.has(name);
  return SAFE_COLUMNS.has(name) || (r.printer !== undefined && Object.hasOwn(r.printer, name));
}

/** The column's name and JSONPath leaf, then the keys its printer shows that rules would read as another name. */
function columnNames(name: string | undefined, leaf: string | undefined, r: Reading): string[] {
  const names = [...new Set([name, leaf].filter((n): n is string => n !== undefined && n !== ''))];
  // Rules match names case-insensitively: the printer's `name` adds nothing to a column called `Name`.
  for (const key of name === undefined ? [] : printerFields(name, r)) if (!names.some((n) => n.toLowerCase() === key.toLowerCase())) names.push(key);
  return names;
}

function tableColumn(def: unknown, r: Reading): TableColumn {
  if (!isObject(def)) return r.strict ? { names: [], unknown: true } : { names: [] };
  const name = typeof def.name === 'string' && def.name !== '' ? def.name : undefined;
  const path = columnPath(def);
  const column: TableColumn = { names: columnNames(name, path === undefined ? undefined : jsonPathLeaf(path), r) };
  if (r.strict && !knownColumn(name, path, r)) column.unknown = true;
  return column;
}

/**
 * The columns of a Table's columnDefinitions; undefined when it has none (a watch's later events). `source`
 * (the request's resource) names a built-in column by its printer's fields, and redacts the unknown ones.
 */
export function tableColumns(definitions: unknown, source?: TableSource): TableColumn[] | undefined {
  if (!Array.isArray(definitions) || definitions.length === 0) return undefined;
  const r = readingOf(source);
  return definitions.map((def) => tableColumn(def, r));
}

/** Per column, the name whose field rule masks it (the first that has one), or undefined. */
function ruledNames(columns: readonly TableColumn[], ops: TableCellOps): (string | undefined)[] {
  const probe = ops.removingSession();
  const plain = probe.maskCell(undefined, PROBE);
  return columns.map((c) => c.names.find((n) => probe.maskCell(n, PROBE) !== plain));
}

/** A cell that cannot be judged by its column's names: `as`, unless null or a boolean (they carry nothing). */
function redacted(cell: unknown, as: string): unknown {
  return cell === null || typeof cell === 'boolean' ? cell : as;
}

/**
 * One cell as the value of its column: the value of a key named by the ruled name (or the column's
 * name), after the column's other names as empty members, so the detectors read them as keywords.
 */
function maskCell(cell: unknown, column: TableColumn | undefined, ruled: string | undefined, ops: TableCellOps): unknown {
  if (column === undefined) return redacted(cell, UNNAMED_CELL);
  if (column.unknown === true) return redacted(cell, UNKNOWN_COLUMN_CELL);
  const key = ruled ?? column.names[0] ?? '';
  const doc: Json = {};
  for (const name of column.names) if (name !== key) doc[name] = '';
  doc[key] = cell;
  const masked = ops.maskJson(doc);
  // The last member is the cell (a key the masker rewrote keeps its place).
  return isObject(masked) ? Object.values(masked).at(-1) : UNNAMED_CELL;
}

/** Every row's cells masked as the values of their columns (`columns` undefined: none known, every cell redacted). */
export function maskTableCells(rows: readonly unknown[][], columns: readonly TableColumn[] | undefined, ops: TableCellOps): unknown[][] {
  const known = columns ?? [];
  const ruled = ruledNames(known, ops);
  return rows.map((cells) => cells.map((cell, j) => maskCell(cell, known[j], ruled[j], ops)));
}
