// JSON schemas of the ingest API bodies. Records are checked for shape only (types, formats,
// names that become paths); their integrity is the store's chain verification. The server's ajv
// neither coerces nor strips anything: a record is hashed exactly as it arrived.
const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const HEX64 = '^[0-9a-f]{64}$';
const RFC3339 = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$';

export const EVENT_TYPES = ['session.start', 'command', 'session.end', 'approval.requested', 'approval.consumed'] as const;

export const recordSchema = {
  type: 'object',
  required: ['chainId', 'seq', 'prev', 'keyId', 'hash', 'sig', 'type', 'time', 'namespace', 'pod', 'policy', 'sessionId'],
  properties: {
    chainId: { type: 'string', minLength: 1, maxLength: 512 },
    seq: { type: 'integer', minimum: 1 },
    prev: { type: 'string', pattern: HEX64 },
    keyId: { type: 'string', minLength: 1, maxLength: 128 },
    hash: { type: 'string', pattern: HEX64 },
    sig: { type: 'string', minLength: 1, maxLength: 256 },
    type: { type: 'string', enum: EVENT_TYPES },
    time: { type: 'string', pattern: RFC3339 },
    namespace: { type: 'string', pattern: DNS_LABEL, maxLength: 63 },
    pod: { type: 'string', minLength: 1, maxLength: 253 },
    policy: { type: 'string', pattern: DNS_LABEL, maxLength: 253 },
    sessionId: { type: 'string', minLength: 1, maxLength: 256 },
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

export function batchSchema(maxRecords: number): object {
  return {
    type: 'object',
    required: ['records'],
    properties: { records: { type: 'array', minItems: 1, maxItems: maxRecords, items: recordSchema } },
  };
}

/** The server's ajv: no coercion, no stripping, no defaults (records are hashed as received). */
export const AJV_OPTIONS = { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } as const;
