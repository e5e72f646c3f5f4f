// JSON schemas of the ingest API bodies. Records are checked for shape only (types, formats,
// names that become paths); their integrity is the store's chain verification. The server's ajv
// neither coerces nor strips anything: a record is hashed exactly as it arrived.
import { MAX_CHECKPOINT_BYTES } from '../../../core/recording/checkpoint.ts';

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const HEX64 = '^[0-9a-f]{64}$';
const RFC3339 = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$';

export const EVENT_TYPES = ['session.start', 'command', 'session.end', 'approval.requested', 'approval.consumed', 'stream'] as const;

const REVIEW_EVIDENCE = {
  type: 'object',
  required: ['reviewer', 'groups', 'decision', 'reason', 'time'],
  properties: {
    reviewer: { type: 'string', maxLength: 256 },
    groups: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 256 } },
    decision: { type: 'string', enum: ['Approved', 'Denied'] },
    reason: { type: 'string', maxLength: 4096 },
    time: { type: 'string', pattern: RFC3339 },
  },
} as const;

/** The approval evidence of an approved command (who approved, why, under which rule: issue 18, item 11). */
const APPROVAL_EVIDENCE = {
  type: 'object',
  required: ['request', 'rule', 'required', 'approvals', 'reviews'],
  properties: {
    request: { type: 'string', minLength: 1, maxLength: 253 },
    rule: { type: 'string', minLength: 1, maxLength: 63 },
    required: { type: 'integer', minimum: 1 },
    approvals: { type: 'integer', minimum: 0 },
    approverGroups: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 256 } },
    requestedAt: { type: 'string', pattern: RFC3339 },
    decidedAt: { type: 'string', pattern: RFC3339 },
    consumedAt: { type: 'string', pattern: RFC3339 },
    reviews: { type: 'array', maxItems: 20, items: REVIEW_EVIDENCE },
  },
} as const;

/**
 * A record of either format: format 2 (`v: 2`) has no `sig` (its batch's checkpoint covers it),
 * format 1 (no `v`) has its own `sig`. A record with both, or neither, is refused here.
 */
export const recordSchema = {
  type: 'object',
  required: ['chainId', 'seq', 'prev', 'keyId', 'hash', 'type', 'time', 'namespace', 'pod', 'policy', 'sessionId'],
  oneOf: [
    { required: ['v'], not: { required: ['sig'] } },
    { required: ['sig'], not: { required: ['v'] } },
  ],
  properties: {
    chainId: { type: 'string', minLength: 1, maxLength: 512 },
    seq: { type: 'integer', minimum: 1 },
    prev: { type: 'string', pattern: HEX64 },
    keyId: { type: 'string', minLength: 1, maxLength: 128 },
    hash: { type: 'string', pattern: HEX64 },
    v: { const: 2 },
    sig: { type: 'string', minLength: 1, maxLength: 256 },
    type: { type: 'string', enum: EVENT_TYPES },
    time: { type: 'string', pattern: RFC3339 },
    namespace: { type: 'string', pattern: DNS_LABEL, maxLength: 63 },
    pod: { type: 'string', minLength: 1, maxLength: 253 },
    policy: { type: 'string', pattern: DNS_LABEL, maxLength: 253 },
    sessionId: { type: 'string', minLength: 1, maxLength: 256 },
    approval: APPROVAL_EVIDENCE,
  },
} as const;

export const registerSchema = {
  type: 'object',
  required: ['chainId', 'namespace', 'pod', 'publicJwk'],
  properties: {
    chainId: { type: 'string', minLength: 1, maxLength: 512 },
    namespace: { type: 'string', pattern: DNS_LABEL, maxLength: 63 },
    pod: { type: 'string', minLength: 1, maxLength: 253 },
    publicJwk: {
      type: 'object', required: ['kty', 'crv', 'x'],
      properties: { kty: { const: 'OKP' }, crv: { const: 'Ed25519' }, x: { type: 'string', minLength: 1, maxLength: 128 } },
    },
  },
} as const;

/**
 * `{records, checkpoint}`: the checkpoint is the sidecar's signed note at the batch's last record
 * (required by the store when any record is format 2; its content is checked there, naming the problem).
 */
export function batchSchema(maxRecords: number): object {
  return {
    type: 'object',
    required: ['records'],
    properties: {
      records: { type: 'array', minItems: 1, maxItems: maxRecords, items: recordSchema },
      checkpoint: { type: 'string', minLength: 1, maxLength: MAX_CHECKPOINT_BYTES },
    },
  };
}

/** The server's ajv: no coercion, no stripping, no defaults (records are hashed as received). */
export const AJV_OPTIONS = { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } as const;
