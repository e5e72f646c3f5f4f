// How much of the spool emptyDir the sidecar's spool may fill: a contract between the injector
// (which sets the emptyDir's sizeLimit and tells the sidecar its budget) and the spool (which
// refuses to go past it). kubelet does not make a full emptyDir refuse writes: it evicts the pod
// once the volume's usage exceeds sizeLimit, and every unshipped record goes with it. The spool
// therefore keeps below the limit itself and fails closed (the request is refused, naming the
// budget) while records wait for the operator.

const MiB = 1024 * 1024;

/** A spool segment file: pre-sized (zero-filled) to this when it is opened. */
export const SPOOL_SEGMENT_BYTES = 8 * MiB;
/** One commit group's bytes at most: the open segment can run past SPOOL_SEGMENT_BYTES by this much. */
export const SPOOL_GROUP_BYTES = 1 * MiB;
/** Room in the volume for what is not segments (the chain's identity, acknowledgements, the write probe). */
export const SPOOL_OTHER_FILES_BYTES = 1 * MiB;
/**
 * The smallest sizeLimit the injector accepts: one segment awaiting shipment, the open one, a group
 * past its end and the other files, doubled so that a short operator outage does not refuse requests.
 */
export const MIN_SPOOL_SIZE_LIMIT_BYTES = 32 * MiB;

/** The spool's budget (GUARITA_SPOOL_MAX_BYTES) for an emptyDir of `sizeLimitBytes`. */
export function spoolBudgetFor(sizeLimitBytes: number): number {
  return sizeLimitBytes - SPOOL_OTHER_FILES_BYTES;
}

/** The smallest budget a spool can work with: a segment awaiting shipment, the open one and a group past its end. */
export const MIN_SPOOL_BUDGET_BYTES = 2 * SPOOL_SEGMENT_BYTES + SPOOL_GROUP_BYTES;
