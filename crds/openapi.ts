// Turns TypeBox schemas into Kubernetes structural OpenAPI v3: unions of literals become enums,
// records become additionalProperties, and TypeBox's own markers disappear. The same output
// feeds the CRD YAML and, made strict, the ajv validators, so both see one schema.
type Json = Record<string, unknown>;

function isLiteralUnion(node: Json): node is Json & { anyOf: Json[] } {
  return Array.isArray(node.anyOf) && (node.anyOf as Json[]).every((n) => 'const' in n);
}

function convertNode(node: Json): Json {
  if (isLiteralUnion(node)) {
    const { anyOf, ...rest } = node;
    return { ...rest, type: 'string', enum: anyOf.map((n) => n.const) };
  }
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'patternProperties') {
      out.additionalProperties = convertNode(Object.values(value as Record<string, Json>)[0] ?? {});
    } else if (key === 'properties') {
      out.properties = Object.fromEntries(Object.entries(value as Record<string, Json>).map(([k, v]) => [k, convertNode(v)]));
    } else if (key === 'items') {
      out.items = convertNode(value as Json);
    } else if (key !== '$id') {
      out[key] = value;
    }
  }
  return out;
}

/** Structural schema for the apiserver (no additionalProperties:false: Kubernetes prunes and strict field validation rejects unknown fields). */
export function toStructural(schema: unknown): Json {
  return convertNode(JSON.parse(JSON.stringify(schema)) as Json);
}

/** The same schema, closed: unknown fields are errors for offline validation (guarita policy eval). */
export function toStrict(structural: Json): Json {
  const node: Json = { ...structural };
  if (node.properties !== undefined) {
    node.properties = Object.fromEntries(Object.entries(node.properties as Record<string, Json>).map(([k, v]) => [k, toStrict(v)]));
    if (node.additionalProperties === undefined) node.additionalProperties = false;
  } else if (typeof node.additionalProperties === 'object') {
    node.additionalProperties = toStrict(node.additionalProperties as Json);
  }
  if (node.items !== undefined) node.items = toStrict(node.items as Json);
  return node;
}
