// Loads examples/lgpd-orders for tests and the demo, moved into a test's own namespace and pointed
// at the harness's real IdP and PostgreSQL instead of the cluster addresses written in the files.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { AccessPolicySpec } from '../../crds/types.ts';

export const EXAMPLE_DIR = join(import.meta.dirname, '../../examples/lgpd-orders');

export interface Manifest { apiVersion?: string; kind?: string; metadata?: Record<string, unknown>; [field: string]: unknown }

export interface ExampleOverrides {
  namespace: string;
  issuer?: string;
  postgresEndpoint?: string;
  httpEndpoint?: string;
}

function retarget(doc: Manifest, o: ExampleOverrides): Manifest {
  if (doc.kind === 'Namespace') return { ...doc, metadata: { ...doc.metadata, name: o.namespace } };
  const out: Manifest = { ...doc, metadata: { ...doc.metadata, namespace: o.namespace } };
  if (doc.kind !== 'AccessPolicy') return out;
  const spec = structuredClone(doc.spec) as AccessPolicySpec;
  if (o.issuer !== undefined && spec.identity.oidc !== undefined) spec.identity.oidc.issuer = o.issuer;
  if (spec.target.protocol === 'postgres' && o.postgresEndpoint !== undefined) spec.target.endpoint = o.postgresEndpoint;
  if (spec.target.protocol === 'http' && o.httpEndpoint !== undefined) spec.target.endpoint = o.httpEndpoint;
  return { ...out, spec };
}

/** Every document of one example file, retargeted. */
export function loadExample(file: string, overrides: ExampleOverrides): Manifest[] {
  return parseAllDocuments(readFileSync(join(EXAMPLE_DIR, file), 'utf8'))
    .map((d) => d.toJS() as Manifest | null)
    .filter((d): d is Manifest => d !== null)
    .map((d) => retarget(d, overrides));
}

export function toYaml(docs: Manifest[]): string {
  return docs.map((d) => stringify(d)).join('---\n');
}
