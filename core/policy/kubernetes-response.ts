// What an agent may see of Kubernetes objects. Secret values (data, stringData, and the copy of
// them kubectl keeps in the last-applied-configuration annotation) are redacted unless the
// deciding rule reveals them; revealed values are decoded, masked as text and re-encoded, and a
// value that is not UTF-8 text cannot be judged, so it is redacted. Everything else goes through
// the masking engine (detectors and field rules over every string: ConfigMap data, env values,
// annotations, Status messages; a Table's cells as the values of their columns, kubernetes-table.ts), except the bookkeeping fields clients send back
// (resourceVersion, uid, timestamps) where the apiserver puts them (the metadata of the object, of
// a list and its items, of a watch event's object, of a Table's rows' objects): masking those would
// break updates, watches and paging, and they carry no personal data. Two members of that metadata
// do carry values: managedFields (fieldsV1 names map keys, keyed-list merge keys and set members:
// `f:590.830.166-33`, `k:{"email":...}`, `v:"..."`) is dropped, which an update sent back without it
// leaves as it was on the server; and a list's continue token (base64 of the page's last storage
// key, its object's name) goes out sealed by the caller, or not at all. Pure: no I/O.

import { JsonDepthError, MAX_JSON_DEPTH, nestsDeeperThan } from '../masking/index.ts';
import { maskTableCells, tableColumns, type TableCellOps, type TableColumnMemory, type TableSource } from './kubernetes-table.ts';

export interface KubernetesMaskOps extends TableCellOps {
  maskJson(value: unknown): unknown;
  maskText(text: string): string;
}

export interface KubernetesMaskOptions {
  /** The request is about secrets (list items carry no kind): every object with metadata in it is a Secret. */
  secrets: boolean;
  /** The deciding rule has revealSecretData. */
  revealSecretData: boolean;
  /**
   * The answer is the apiserver's (or an aggregated API's) own JSON, whose metadata is
   * bookkeeping; false for what a pod, service or node answers through the proxy subresources, all
   * of it the application's data, masked like any field. Default true.
   */
  apiserverAnswer?: boolean;
  /**
   * Turns a list's continue token into one that carries nothing readable (the caller opens it when
   * the agent sends it back). Without it the token is dropped: the agent cannot page, but reads no
   * name through it.
   */
  sealContinue?: (token: string) => string;
  /** A watch's Table columns, kept from its first Table event for the later ones (which carry none). */
  tableColumns?: TableColumnMemory;
  /**
   * The request's resource and whether the policy has field rules: a built-in resource's Table columns are
   * named by the fields their printer shows, and its unknown columns redacted under field rules
   * (kubernetes-table.ts). Without it, columns are named by any built-in printer's fields, none redacted.
   */
  tableSource?: TableSource;
}

/** What a redacted Secret value decodes to (still valid base64, so clients that decode keep working). */
export const REDACTED_SECRET_VALUE = '[redacted by guarita]';
const REDACTED_B64 = Buffer.from(REDACTED_SECRET_VALUE, 'utf8').toString('base64');

/**
 * Whether a request body carries a value the proxy redacted (an agent writing back an object it
 * read: `kubectl get secret -o yaml | kubectl replace -f -`). Forwarded, it would overwrite the
 * real value with the redaction.
 */
export function carriesRedaction(body: Buffer): boolean {
  return body.includes(REDACTED_SECRET_VALUE) || body.includes(REDACTED_B64);
}
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
// Object and list metadata fields kept as the apiserver sent them (continue: sealed, see above),
// each only in the form the apiserver generates it: a client writes some of them (an owner
// reference's uid is any non-empty text), and an answer of another server (an aggregated API) can
// put anything there, so a value in another form is masked like any field. selfLink is not kept
// (the apiserver no longer fills it; anything there was written by someone else).
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
const isInteger = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v);
const BOOKKEEPING: Readonly<Record<string, (v: unknown) => boolean>> = {
  resourceVersion: (v) => typeof v === 'string' && /^\d{1,20}$/.test(v),
  uid: (v) => typeof v === 'string' && UUID.test(v),
  creationTimestamp: (v) => v === null || (typeof v === 'string' && RFC3339.test(v)),
  deletionTimestamp: (v) => typeof v === 'string' && RFC3339.test(v),
  generation: isInteger,
  remainingItemCount: isInteger,
  deletionGracePeriodSeconds: isInteger,
};

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function decodeUtf8(b64: string): string | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(b64, 'base64'));
  } catch {
    return undefined;
  }
}

function secretValues(values: unknown, encoded: boolean, ops: KubernetesMaskOps, reveal: boolean): unknown {
  if (!isObject(values)) return values;
  const out: Json = {};
  for (const [k, v] of Object.entries(values)) {
    if (typeof v !== 'string') out[k] = encoded ? REDACTED_B64 : REDACTED_SECRET_VALUE;
    else if (!reveal) out[k] = encoded ? REDACTED_B64 : REDACTED_SECRET_VALUE;
    else if (!encoded) out[k] = ops.maskText(v);
    else {
      const text = decodeUtf8(v);
      out[k] = text === undefined ? REDACTED_B64 : Buffer.from(ops.maskText(text), 'utf8').toString('base64');
    }
  }
  return out;
}

function secretAnnotations(annotations: unknown, ops: KubernetesMaskOps, opts: KubernetesMaskOptions): unknown {
  if (!isObject(annotations) || typeof annotations[LAST_APPLIED] !== 'string') return annotations;
  let applied: unknown;
  try {
    applied = JSON.parse(annotations[LAST_APPLIED]);
  } catch {
    return { ...annotations, [LAST_APPLIED]: REDACTED_SECRET_VALUE };
  }
  return { ...annotations, [LAST_APPLIED]: JSON.stringify(redactSecrets(applied, ops, { ...opts, secrets: true })) };
}

function redactSecret(secret: Json, ops: KubernetesMaskOps, opts: KubernetesMaskOptions): Json {
  const out: Json = { ...secret };
  if ('data' in out) out.data = secretValues(out.data, true, ops, opts.revealSecretData);
  if ('stringData' in out) out.stringData = secretValues(out.stringData, false, ops, opts.revealSecretData);
  const meta = out.metadata;
  if (isObject(meta) && meta.annotations !== undefined) out.metadata = { ...meta, annotations: secretAnnotations(meta.annotations, ops, opts) };
  return out;
}

// Credentials the apiserver issues, by kind: the field of status that carries one.
const ISSUED_CREDENTIALS: Readonly<Record<string, string>> = { TokenRequest: 'token', CertificateSigningRequest: 'certificate' };

/**
 * A credential the apiserver issued never reaches the agent, whatever the rule: a TokenRequest's
 * minted token (serviceaccounts/token create), a CertificateSigningRequest's issued certificate
 * (for a key the agent holds). Either would let the agent call the apiserver without the sidecar.
 */
function redactMintedToken(request: Json, listedKind: string | undefined): Json {
  const kind = typeof request.kind === 'string' ? request.kind : listedKind;
  const field = kind === undefined ? undefined : ISSUED_CREDENTIALS[kind];
  const status = request.status;
  if (field === undefined || !isObject(status) || !(field in status)) return request;
  return { ...request, status: { ...status, [field]: field === 'certificate' ? REDACTED_B64 : REDACTED_SECRET_VALUE } };
}

/**
 * The last-applied copy of a Secret carried by an object that is not one: the metadata-only forms
 * of a Secret (as=PartialObjectMetadata, the rows of kubectl get's Table, whose objects are
 * PartialObjectMetadata) keep the annotation with the Secret's values in it. Redacted when the
 * copy is a Secret (its kind), or when the request is about secrets (an unreadable copy too).
 */
function redactAppliedSecret(value: Json, ops: KubernetesMaskOps, opts: KubernetesMaskOptions): Json {
  const meta = value.metadata;
  if (!isObject(meta) || !isObject(meta.annotations) || typeof meta.annotations[LAST_APPLIED] !== 'string') return value;
  let applied: unknown;
  try {
    applied = JSON.parse(meta.annotations[LAST_APPLIED]);
  } catch {
    return opts.secrets ? { ...value, metadata: { ...meta, annotations: { ...meta.annotations, [LAST_APPLIED]: REDACTED_SECRET_VALUE } } } : value;
  }
  const redacted = redactSecrets(applied, ops, opts, opts.secrets || (isObject(applied) && applied.kind === 'Secret'));
  if (JSON.stringify(redacted) === JSON.stringify(applied)) return value;
  return { ...value, metadata: { ...meta, annotations: { ...meta.annotations, [LAST_APPLIED]: JSON.stringify(redacted) } } };
}

// Where a Secret can sit in a response: list items, a watch event's object, a Table row's object.
const SECRET_CARRIERS = new Set(['items', 'object', 'rows']);
const SECRET_FIELDS = new Set(['data', 'stringData', 'metadata']);

/** Whether `value` is a Secret: by its kind, or (list items carry no kind) by where it sits. */
function isSecret(value: Json, scope: boolean): boolean {
  if (value.kind === 'Secret') return true;
  return scope && value.kind === undefined && isObject(value.metadata) && ('data' in value || 'stringData' in value || 'type' in value);
}

/** What of a Secret or another credential an object that is not a Secret carries: issued credentials, an applied Secret's copy. */
function redactOtherCredentials(value: Json, ops: KubernetesMaskOps, opts: KubernetesMaskOptions, listedKind: string | undefined): Json {
  return redactAppliedSecret(redactMintedToken(value, listedKind), ops, opts);
}

/** A list's items carry no kind: theirs is the list's without "List". */
function itemKindOf(list: Json): string | undefined {
  return typeof list.kind === 'string' && list.kind.endsWith('List') ? list.kind.slice(0, -4) : undefined;
}

/**
 * Redacts Secret values wherever a Secret can appear in a response: the object itself, list items
 * (a SecretList's items carry no kind), watch events (`object`), Table rows (`rows[].object`).
 */
export function redactSecrets(value: unknown, ops: KubernetesMaskOps, opts: KubernetesMaskOptions, scope = opts.secrets, listedKind?: string): unknown {
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, ops, opts, scope, listedKind));
  if (!isObject(value)) return value;
  const secret = isSecret(value, scope);
  const base = secret ? redactSecret(value, ops, opts) : redactOtherCredentials(value, ops, opts, listedKind);
  const childScope = scope || value.kind === 'SecretList';
  const itemKind = itemKindOf(value);
  const out: Json = {};
  for (const [k, v] of Object.entries(base)) {
    const kept = secret && SECRET_FIELDS.has(k);
    out[k] = kept ? v : redactSecrets(v, ops, opts, childScope && SECRET_CARRIERS.has(k), listedKindOf(k, itemKind));
  }
  return out;
}

function listedKindOf(key: string, itemKind: string | undefined): string | undefined {
  return key === 'items' ? itemKind : undefined;
}

type Path = (string | number)[];

/** The bookkeeping fields of one metadata object the apiserver wrote (and its ownerReferences' uids). */
function metadataFields(meta: Json, path: Path, found: [Path, unknown][], opts: KubernetesMaskOptions): void {
  for (const [k, v] of Object.entries(meta)) {
    if (BOOKKEEPING[k]?.(v) === true) found.push([[...path, k], v]);
    else if (k === 'continue' && typeof v === 'string' && v !== '' && opts.sealContinue !== undefined) found.push([[...path, k], opts.sealContinue(v)]);
    else if (k === 'ownerReferences' && Array.isArray(v)) v.forEach((o, i) => { if (isObject(o) && BOOKKEEPING.uid?.(o.uid) === true) found.push([[...path, k, i, 'uid'], o.uid]); });
  }
}

function isWatchEvent(value: Json): boolean {
  // {"type": "ADDED", "object": {...}}; WatchEvent when it names its kind.
  return typeof value.type === 'string' && isObject(value.object) && (value.kind === undefined || value.kind === 'WatchEvent');
}

/**
 * A list the apiserver writes: `items` beside list metadata (ListMeta has no name; an object of a
 * kind that happens to end in List, or has its own `items`, has one). Recognised by that shape,
 * not by the kind's name: a CRD chooses its listKind freely.
 */
function isList(value: Json): boolean {
  return typeof value.kind === 'string' && Array.isArray(value.items) && !(isObject(value.metadata) && 'name' in value.metadata);
}

/** The apiserver's Table (meta.k8s.io), not a custom resource that is also called Table. */
function isTable(value: Json): boolean {
  return value.kind === 'Table' && typeof value.apiVersion === 'string' && value.apiVersion.startsWith('meta.k8s.io/') && Array.isArray(value.rows);
}

/** The objects of a list or a Table (each a leaf: an item's own `items` or `rows` are its data). */
function memberObjects(value: Json): [Path, Json][] {
  const out: [Path, Json][] = [];
  if (isList(value)) (value.items as unknown[]).forEach((item, i) => { if (isObject(item)) out.push([['items', i], item]); });
  if (isTable(value)) (value.rows as unknown[]).forEach((row, i) => { if (isObject(row) && isObject(row.object)) out.push([['rows', i, 'object'], row.object]); });
  return out;
}

/**
 * The metadata objects the apiserver writes in an answer, with their paths: the answer's own (an
 * object, a list, a Table, a Status), or a watch event's object's, and the metadata of the objects
 * of that list or Table. A `metadata` anywhere else (a custom resource's status.payer.metadata, an
 * item's own nested list) is the resource's data, masked like any field.
 */
function apiserverMetadata(value: unknown, path: Path, visit: (meta: Json, path: Path) => void): void {
  if (!isObject(value)) return;
  if (isWatchEvent(value)) {
    apiserverMetadata(value.object, [...path, 'object'], visit);
    return;
  }
  if (isObject(value.metadata)) visit(value.metadata, [...path, 'metadata']);
  for (const [at, member] of memberObjects(value)) if (isObject(member.metadata)) visit(member.metadata, [...path, ...at, 'metadata']);
}

/** [path, value] of every bookkeeping field the agent gets as the apiserver sent it (continue sealed). */
function bookkeeping(value: unknown, opts: KubernetesMaskOptions): [Path, unknown][] {
  const found: [Path, unknown][] = [];
  apiserverMetadata(value, [], (meta, path) => metadataFields(meta, path, found, opts));
  return found;
}

/**
 * Drops the metadata members that carry values the agent may not read as sent: managedFields (an
 * object sent back without it keeps the server's) and continue (restored sealed, or not at all).
 * In place: `value` is the copy redactSecrets made.
 */
function dropValueCarriers(value: unknown): void {
  apiserverMetadata(value, [], (meta) => {
    delete meta.managedFields;
    delete meta.continue;
  });
}

function restore(value: unknown, fields: readonly [Path, unknown][]): void {
  for (const [path, original] of fields) {
    let cur: unknown = value;
    for (const key of path.slice(0, -1)) cur = isObject(cur) || Array.isArray(cur) ? (cur as Record<string | number, unknown>)[key] : undefined;
    const last = path[path.length - 1];
    if ((isObject(cur) || Array.isArray(cur)) && last !== undefined) (cur as Record<string | number, unknown>)[last] = original;
  }
}

/**
 * binaryData (ConfigMap, and any object carrying the field): base64 the detectors cannot read.
 * Values that decode to UTF-8 text are masked as text and re-encoded; other bytes cannot be
 * judged, so they are redacted, never passed (a CPF inside base64 would reach the agent as is).
 */
function maskBinaryData(value: unknown, ops: KubernetesMaskOps): unknown {
  if (Array.isArray(value)) return value.map((v) => maskBinaryData(v, ops));
  if (!isObject(value)) return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    if (k !== 'binaryData' || !isObject(v)) out[k] = maskBinaryData(v, ops);
    else out[k] = Object.fromEntries(Object.entries(v).map(([key, b64]) => [key, maskedBase64(b64, ops)]));
  }
  return out;
}

function maskedBase64(b64: unknown, ops: KubernetesMaskOps): string {
  const text = typeof b64 === 'string' ? decodeUtf8(b64) : undefined;
  return text === undefined ? REDACTED_B64 : Buffer.from(ops.maskText(text), 'utf8').toString('base64');
}

/** The apiserver's Tables in an answer, with their paths: the answer itself, or a watch event's object. */
function tablesOf(value: unknown): [Path, Json][] {
  if (!isObject(value)) return [];
  if (isWatchEvent(value)) return isObject(value.object) && isTable(value.object) ? [[['object'], value.object]] : [];
  return isTable(value) ? [[[], value]] : [];
}

/**
 * Takes the cells out of the answer's Tables (in place: `value` is the copy redactSecrets made) and
 * returns them masked as the values of their columns, with their paths, to put back once the rest
 * is masked. A Table without columnDefinitions (a watch's later events) uses the watch's.
 */
function takeTableCells(value: unknown, ops: KubernetesMaskOps, opts: KubernetesMaskOptions): [Path, unknown][] {
  const memory = opts.tableColumns;
  const out: [Path, unknown][] = [];
  for (const [path, table] of tablesOf(value)) {
    const defined = tableColumns(table.columnDefinitions, opts.tableSource);
    if (defined !== undefined && memory !== undefined) memory.columns = defined;
    const rows = (table.rows as unknown[]).flatMap((row, i): [number, Json][] => (isObject(row) && Array.isArray(row.cells) ? [[i, row]] : []));
    const masked = maskTableCells(rows.map(([, row]) => row.cells as unknown[]), defined ?? memory?.columns, ops);
    rows.forEach(([i, row], k) => {
      row.cells = [];
      out.push([[...path, 'rows', i, 'cells'], masked[k]]);
    });
  }
  return out;
}

/**
 * One parsed response object (an object, a list, a Table, a Status, a watch event) as the agent may see it. Throws
 * JsonDepthError for one nested deeper than MAX_JSON_DEPTH, before any of the recursive walks here and in maskJson
 * could overflow the stack (round 12 review, finding 3): the proxy refuses the answer (502) or cuts the watch, as it
 * does with any answer it cannot mask.
 */
export function maskKubernetesValue(value: unknown, ops: KubernetesMaskOps, opts: KubernetesMaskOptions): unknown {
  if (nestsDeeperThan(value, MAX_JSON_DEPTH)) throw new JsonDepthError();
  const redacted = maskBinaryData(redactSecrets(value, ops, opts), ops);
  if (opts.apiserverAnswer === false) return ops.maskJson(redacted);
  const kept = bookkeeping(redacted, opts);
  dropValueCarriers(redacted);
  const cells = takeTableCells(redacted, ops, opts);
  const masked = ops.maskJson(redacted);
  restore(masked, kept);
  restore(masked, cells);
  return masked;
}
