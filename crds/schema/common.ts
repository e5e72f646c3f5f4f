// Building blocks shared by Guarita's CRD schemas. Every field carries a description because
// `kubectl explain` is the documentation platform teams read first.
import { Type, type TSchema, type TObject, type TProperties, type ObjectOptions, type SchemaOptions, type TLiteral, type TUnion } from '@sinclair/typebox';

type LiteralTuple<T extends readonly string[]> = { -readonly [K in keyof T]: TLiteral<T[K]> };

/** A closed set of strings; becomes an `enum` in the CRD and a string-literal union in TypeScript. */
export function oneOf<const T extends readonly string[]>(values: T, description: string): TUnion<LiteralTuple<T> & TSchema[]> {
  return Type.Union(values.map((v) => Type.Literal(v)), { description }) as unknown as TUnion<LiteralTuple<T> & TSchema[]>;
}

/** A CEL rule checked by the apiserver (and by our ajv validators where it needs no oldSelf). */
export interface CelRule { rule: string; message: string; fieldPath?: string; reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate' }

export function cel(...rules: CelRule[]): { 'x-kubernetes-validations': CelRule[] } {
  return { 'x-kubernetes-validations': rules };
}

export function obj<T extends TProperties>(description: string, properties: T, options: ObjectOptions = {}): TObject<T> {
  return Type.Object(properties, { description, ...options });
}

export function str(description: string, options: SchemaOptions = {}) {
  return Type.String({ description, ...options });
}

/** A list whose entries are keyed by `name`: the apiserver rejects duplicate names with the field path. */
export function namedList<T extends TSchema>(item: T, description: string, options: SchemaOptions = {}) {
  return Type.Array(item, {
    description,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
    ...options,
  });
}

export const dnsLabel = (description: string, maxLength = 63) =>
  Type.String({ description, minLength: 1, maxLength, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' });

/** Go-style durations as Kubernetes users write them: 30s, 15m, 24h, 90d. */
export const duration = (description: string, defaultValue?: string) =>
  Type.String({ description, pattern: '^([0-9]+(s|m|h|d))+$', maxLength: 32, ...(defaultValue === undefined ? {} : { default: defaultValue }) });

export const secretKeyRef = (description: string) => obj(description, {
  name: dnsLabel('Name of the Secret in the policy\'s namespace.', 253),
  key: str('Key inside the Secret.', { minLength: 1, maxLength: 253 }),
});

export const labelSelector = (description: string) => obj(description, {
  matchLabels: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 63 }), { description: 'Labels the pod must carry, all of them (AND).' })),
  matchExpressions: Type.Optional(Type.Array(obj('A label selector requirement.', {
    key: str('Label key.', { minLength: 1, maxLength: 317 }),
    operator: Type.Union([Type.Literal('In'), Type.Literal('NotIn'), Type.Literal('Exists'), Type.Literal('DoesNotExist')], { description: 'In, NotIn, Exists or DoesNotExist.' }),
    values: Type.Optional(Type.Array(Type.String({ maxLength: 63 }), { description: 'Values for In and NotIn; empty for Exists and DoesNotExist.', maxItems: 64 })),
  }), { description: 'Set-based requirements, all of them (AND).', maxItems: 32 })),
});

/** metav1.Condition, as every Kubernetes API reports state. */
export const condition = obj('A condition in the Kubernetes API conventions format.', {
  type: str('Condition type, e.g. Ready.', { maxLength: 316 }),
  status: Type.Union([Type.Literal('True'), Type.Literal('False'), Type.Literal('Unknown')], { description: 'True, False or Unknown.' }),
  observedGeneration: Type.Optional(Type.Integer({ description: 'metadata.generation the condition was computed from.', minimum: 0 })),
  lastTransitionTime: str('When the status last changed.', { format: 'date-time' }),
  reason: str('CamelCase machine-readable reason.', { maxLength: 1024 }),
  message: str('Human-readable explanation.', { maxLength: 32768 }),
});

export const conditions = Type.Array(condition, {
  description: 'Current state: Ready is True when the resource is valid and in force.',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
  maxItems: 16,
});

export const subjectKind = oneOf(['User', 'Group', 'ServiceAccount'],
  'User (OIDC subject or username), Group (OIDC groups claim) or ServiceAccount (Kubernetes service account, needs namespace).');

