// Whether AccessPolicy status.chain is still what the anchorer owns. Anyone with write on
// `accesspolicies/status` can overwrite it, a weaker privilege than the store's volume or key, so
// the anchorer never trusts it as input: it compares it with what it last wrote (while running)
// or with the stored log (at its first sight of a policy after a start), and says so in a Warning
// before it anchors the store head over something else.
import type { PolicyEntryLine, SessionStore, AnchoredHead } from '../store/types.ts';

/** status.chain as the apiserver holds it. */
export interface ChainStatus { head: string; records: number; root?: string; anchoredAt?: string }

export interface Drift { reason: 'AnchorOverwritten' | 'AnchorMismatch'; message: string }

/** A link of the stored log (its hash), 'removed' (below the retention cut: nothing to compare), or undefined (not in the log). */
export type StoredLink = { hash: string } | 'removed' | undefined;

/**
 * What the operator wrote, exactly: the same position and the same store-log root. A root
 * overwritten or removed alone (accesspolicies/status) is drift like a head: removed, every export
 * verifies partly anchored at best (review 37); another one fails honest exports or, with the store
 * key too, anchors a tree built around the head (review 36).
 */
export function sameChain(a: ChainStatus | undefined, b: AnchoredHead | undefined): boolean {
  return a !== undefined && b !== undefined && a.head === b.head && a.records === b.records && a.root === b.root;
}

/**
 * At the first sight after a start: the same position, its root the desired one or none (a status
 * written before roots were; the anchoring that follows the first sight writes the root).
 */
function samePosition(status: ChainStatus, desired: AnchoredHead): boolean {
  return status.head === desired.head && status.records === desired.records && (status.root === undefined || status.root === desired.root);
}

const short = (h: string): string => `${h.slice(0, 12)}…`;
const named = (c: ChainStatus): string => `#${c.records} (head ${short(c.head)})`;

/**
 * While the anchorer runs: `status` differs from what it wrote last (`written`), so someone else
 * wrote it. `writer` names them from managedFields when the apiserver says.
 */
export function overwritten(status: ChainStatus | undefined, written: AnchoredHead, desired: AnchoredHead, writer: string | undefined): Drift | undefined {
  if (sameChain(status, written)) return undefined;
  const was = status === undefined ? 'removed' : `set to store link ${named(status)}`;
  return {
    reason: 'AnchorOverwritten',
    message: `status.chain was ${was}${writer === undefined ? '' : ` by ${writer}`}; the operator had anchored ${named(written)}: anchored the store head ${named(desired)} again. Only the operator writes status.chain: check who holds accesspolicies/status`,
  };
}

/**
 * At the anchorer's first sight of a policy after a start: `status` is fine when absent (never
 * anchored, or a recreated policy), the head itself, or an earlier position of the stored log (a
 * start within one interval of new records): `stored` is the log's link at `status.records`.
 * `foreign` (foreignWriter) names who last wrote status.chain when it was not the operator: a real
 * position someone else wrote is reported too, since with the volume as well that writer can roll
 * the log back to it and re-anchor (recovery keeps what verifies), and this Warning is the record.
 */
export function mismatched(status: ChainStatus | undefined, desired: AnchoredHead, stored: StoredLink, foreign?: string): Drift | undefined {
  if (status === undefined) return undefined;
  const real = isPosition(status, desired, stored);
  if (real && foreign === undefined) return undefined;
  const why = real ? `, ${foreignText(foreign ?? '')}` : ` ${mismatchText(status, desired, stored)}${foreign === undefined ? '' : ` (last written by ${foreign})`}`;
  return {
    reason: 'AnchorMismatch',
    message: `status.chain names store link ${named(status)}${why}. The operator serves the log as it verified at start (its log says what, if anything, went to quarantine); anchored its head ${named(desired)}`,
  };
}

/** Whether `status` is the head, or an earlier position of the stored log (or one retention removed). */
function isPosition(status: ChainStatus, desired: AnchoredHead, stored: StoredLink): boolean {
  return samePosition(status, desired) || (status.records < desired.records && (stored === 'removed' || stored?.hash === status.head));
}

function foreignText(foreign: string): string {
  return `a position of the stored log, but ${foreign} wrote it, not the operator: someone with accesspolicies/status set it while the operator was stopped; if the log was rolled back to it on the volume too, this Warning is the record`;
}

function mismatchText(status: ChainStatus, desired: AnchoredHead, stored: StoredLink): string {
  if (status.records > desired.records) return `past the stored log, which ends at ${named(desired)}: the log's tail was removed (the volume) or the anchor overwritten (accesspolicies/status)`;
  const found = status.records === desired.records ? desired.head : stored === 'removed' ? undefined : stored?.hash;
  return `but the stored link #${status.records} is ${found === undefined ? 'missing' : short(found)}: the anchor was overwritten (accesspolicies/status) or the log altered (the volume; see the operator's log at start)`;
}

/** Whether a first-sight check needs the stored link at `status.records` (a read of the log). */
export function needsStoredLink(status: ChainStatus | undefined, desired: AnchoredHead): status is ChainStatus {
  return status !== undefined && status.records < desired.records;
}

/** The stored log's link hash at `seq`, reading the policy's entries up to it. */
export async function storedLinkHash(store: SessionStore, namespace: string, policy: string, seq: number): Promise<StoredLink> {
  for await (const line of store.policyEntries(namespace, policy)) {
    const found = linkIn(line, seq);
    if (found !== null) return found;
  }
  return undefined;
}

/** null: keep reading. */
function linkIn(line: PolicyEntryLine, seq: number): StoredLink | null {
  if (line.type === 'tombstone') return seq < line.tombstone.cut.seq ? 'removed' : seq === line.tombstone.cut.seq ? { hash: line.tombstone.cut.head } : null;
  if (line.type !== 'entry' || line.link.seq < seq) return null;
  return line.link.seq === seq ? { hash: line.link.hash } : undefined;
}

interface ManagedField { manager?: string; operation?: string; subresource?: string; time?: string; fieldsV1?: { 'f:status'?: { 'f:chain'?: unknown } } }

/** The managedFields entries that own a part of status.chain, the latest last (the apiserver records managers, not users). */
function chainOwners(metadata: object): ManagedField[] {
  const fields = (metadata as { managedFields?: unknown }).managedFields;
  if (!Array.isArray(fields)) return [];
  return (fields as ManagedField[]).filter((f) => typeof f === 'object' && f !== null && f.fieldsV1?.['f:status']?.['f:chain'] !== undefined).sort((a, b) => (a.time ?? '').localeCompare(b.time ?? ''));
}

const described = (f: ManagedField): string => `field manager "${String(f.manager)}"${f.time === undefined ? '' : ` at ${f.time}`}`;

/** The manager that last wrote status.chain, from managedFields. */
export function chainWriter(metadata: object): string | undefined {
  const last = chainOwners(metadata).at(-1);
  return last?.manager === undefined ? undefined : described(last);
}

/**
 * Who last wrote status.chain when it was not the operator (`own`, its field manager, compared
 * exactly): the latest owner of any part of it, another manager winning a tie of times (the
 * apiserver's are whole seconds); "no field manager" when none owns it (managedFields stripped, or
 * an apiserver that records none). Undefined: the operator wrote it last. An earlier owner is not
 * held against the operator (an anchor of the same value changes no field, so keeps no owner).
 */
export function foreignWriter(metadata: object, own: string): string | undefined {
  const owners = chainOwners(metadata);
  const last = owners.at(-1);
  if (last === undefined) return 'no field manager (managedFields name no owner of status.chain)';
  const other = owners.filter((f) => f.time === last.time).find((f) => f.manager !== own);
  return other === undefined ? undefined : described(other);
}
