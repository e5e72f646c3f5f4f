// RFC 6902 JSON Patch between two JSON documents, as admission webhooks return it. The injector
// computes the desired pod and diffs it against the pod it was given, so the patch is exactly the
// change (and empty when there is none), whatever other webhooks did before.

export type PatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'test'; path: string; value: unknown };

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 6901 reference token: `~` → `~0`, `/` → `~1` (annotation keys contain slashes). */
export function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

function unescapePointer(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function arraysEqual(a: unknown[], b: unknown[]): boolean {
  return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
}

function objectsEqual(a: Obj, b: Obj): boolean {
  const keys = Object.keys(a).filter((k) => a[k] !== undefined);
  if (keys.length !== Object.keys(b).filter((k) => b[k] !== undefined).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
}

/** Structural equality of JSON values (undefined object members count as absent). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return arraysEqual(a, b);
  if (isObject(a) && isObject(b)) return objectsEqual(a, b);
  return false;
}

function diffObjects(a: Obj, b: Obj, path: string, ops: PatchOp[]): void {
  for (const key of Object.keys(a)) {
    if (a[key] !== undefined && (!Object.hasOwn(b, key) || b[key] === undefined)) ops.push({ op: 'remove', path: `${path}/${escapePointer(key)}` });
  }
  for (const [key, value] of Object.entries(b)) {
    if (value === undefined) continue;
    const child = `${path}/${escapePointer(key)}`;
    if (!Object.hasOwn(a, key) || a[key] === undefined) ops.push({ op: 'add', path: child, value });
    else diffValues(a[key], value, child, ops);
  }
}

/** Same length: element-wise; pure append or pure prepend: adds; anything else: one replace. */
function diffArrays(a: unknown[], b: unknown[], path: string, ops: PatchOp[]): void {
  if (a.length === b.length) {
    a.forEach((x, i) => diffValues(x, b[i], `${path}/${i}`, ops));
    return;
  }
  const extra = b.length - a.length;
  if (extra > 0 && arraysEqual(a, b.slice(0, a.length))) {
    b.slice(a.length).forEach((value, i) => ops.push({ op: 'add', path: `${path}/${a.length + i}`, value }));
    return;
  }
  if (extra > 0 && arraysEqual(a, b.slice(extra))) {
    b.slice(0, extra).forEach((value, i) => ops.push({ op: 'add', path: `${path}/${i}`, value }));
    return;
  }
  ops.push({ op: 'replace', path, value: b });
}

function diffValues(a: unknown, b: unknown, path: string, ops: PatchOp[]): void {
  if (deepEqual(a, b)) return;
  if (Array.isArray(a) && Array.isArray(b)) return diffArrays(a, b, path, ops);
  if (isObject(a) && isObject(b)) return diffObjects(a, b, path, ops);
  ops.push({ op: 'replace', path, value: b });
}

/** The JSON Patch that turns `from` into `to`. */
export function diff(from: unknown, to: unknown): PatchOp[] {
  const ops: PatchOp[] = [];
  diffValues(from, to, '', ops);
  return ops;
}

function parentOf(doc: unknown, path: string): { parent: Obj | unknown[]; key: string } {
  const tokens = path.split('/').slice(1).map(unescapePointer);
  const key = tokens.pop();
  if (key === undefined) throw new Error(`JSON Patch: cannot address the document root (${path})`);
  let node: unknown = doc;
  for (const t of tokens) {
    node = Array.isArray(node) ? node[Number(t)] : (node as Obj | undefined)?.[t];
    if (typeof node !== 'object' || node === null) throw new Error(`JSON Patch: path ${path} does not exist`);
  }
  return { parent: node as Obj | unknown[], key };
}

function applyToArray(arr: unknown[], key: string, op: PatchOp): void {
  const index = key === '-' ? arr.length : Number(key);
  if (!Number.isInteger(index) || index < 0 || index > arr.length) throw new Error(`JSON Patch: bad array index ${key}`);
  if (op.op === 'add') arr.splice(index, 0, structuredClone(op.value));
  else if (op.op === 'replace') arr[index] = structuredClone(op.value);
  else if (op.op === 'remove') arr.splice(index, 1);
  else if (!deepEqual(arr[index], op.value)) throw new Error(`JSON Patch: test failed at ${op.path}`);
}

function applyToObject(obj: Obj, key: string, op: PatchOp): void {
  if (op.op === 'add' || op.op === 'replace') obj[key] = structuredClone(op.value);
  else if (op.op === 'remove') delete obj[key];
  else if (!deepEqual(obj[key], op.value)) throw new Error(`JSON Patch: test failed at ${op.path}`);
}

/** Applies a patch to a copy of `doc` (add, replace, remove, test): for tests and the benchmark. */
export function applyPatch<T>(doc: T, ops: readonly PatchOp[]): T {
  const copy = structuredClone(doc);
  for (const op of ops) {
    const { parent, key } = parentOf(copy, op.path);
    if (Array.isArray(parent)) applyToArray(parent, key, op);
    else applyToObject(parent, key, op);
  }
  return copy;
}
