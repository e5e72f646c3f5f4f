// The cells of the apiserver's Table (meta.k8s.io, kubectl get's default output), masked as the
// values of their columns. A cell is an array element with no JSON key: masked like any string, the
// policy's field rules (matched against a key) never apply to it, and the detectors that need their
// keyword (CEP, dates of birth) see the previous cell instead of the column's name, which sits in
// columnDefinitions kilobytes earlier (round 11 review, finding 1). So each cell is masked as the
// value of a JSON key named after its column: the column's name and, when the apiserver states it,
// the last segment of its JSONPath (a CRD's printer column without its own description says
// "Custom resource definition column (in JSONPath format): .spec.nome"). A rule on either name masks
// the cell whole; both names are the keyword context the detectors read. A cell whose column is not
// known (no definitions: a watch sends them with its first Table only, NoHeaders after; more cells
// than columns) cannot be judged by name, so it is redacted. Pure: no I/O.

type Json = Record<string, unknown>;

export interface TableCellOps {
  maskJson(value: unknown): unknown;
  /** Another session of the same masker whose masking does not count (the rule probe). */
  removingSession(): { maskCell(columnName: string | undefined, value: string): string };
}

/** The names a column's values are known by: its name, then its JSONPath's last segment (when known and different). */
export interface TableColumn { names: string[] }

/**
 * A watch's columns: the apiserver sends columnDefinitions with the first Table event only
 * (watchEmbeddedEncoder sets NoHeaders after it), so the later events' cells are named by them.
 */
export interface TableColumnMemory { columns?: TableColumn[] }

/** What a cell whose column is unknown becomes. */
export const UNNAMED_CELL = '[redacted by guarita: no column]';

const CRD_COLUMN = /^Custom resource definition column \(in JSONPath format\): (\S+)\s*$/;
// A probe for "does a field rule name this column": a rule masks it whole (any style changes it);
// without one it is plain text the detectors leave alone.
const PROBE = 'guarita-column-probe';
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

/** The columns of a Table's columnDefinitions; undefined when it has none (a watch's later events). */
export function tableColumns(definitions: unknown): TableColumn[] | undefined {
  if (!Array.isArray(definitions) || definitions.length === 0) return undefined;
  return definitions.map((def) => {
    if (!isObject(def)) return { names: [] };
    const path = columnPath(def);
    const leaf = path === undefined ? undefined : jsonPathLeaf(path);
    const names = [typeof def.name === 'string' ? def.name : undefined, leaf].filter((n): n is string => n !== undefined && n !== '');
    return { names: [...new Set(names)] };
  });
}

/** Per column, the name whose field rule masks it (the first that has one), or undefined. */
function ruledNames(columns: readonly TableColumn[], ops: TableCellOps): (string | undefined)[] {
  const probe = ops.removingSession();
  const plain = probe.maskCell(undefined, PROBE);
  return columns.map((c) => c.names.find((n) => probe.maskCell(n, PROBE) !== plain));
}

/**
 * One cell as the value of its column: the value of a key named by the ruled name (or the column's
 * name), after the column's other names as empty members, so the detectors read them as keywords.
 */
function maskCell(cell: unknown, column: TableColumn | undefined, ruled: string | undefined, ops: TableCellOps): unknown {
  if (column === undefined) return cell === null || typeof cell === 'boolean' ? cell : UNNAMED_CELL;
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
