// Loads examples/lgpd-orders for tests and the demo, moved into a test's own namespace and pointed
// at the harness's real IdP and PostgreSQL instead of the cluster addresses written in the files.
// With an issuer, the policies take the OIDC identity of examples/lgpd-orders-oidc (the harness's
// agents present IdP tokens), as that overlay does.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import type { AccessPolicySpec } from '../../crds/types.ts';

export const EXAMPLE_DIR = join(import.meta.dirname, '../../examples/lgpd-orders');
/** The OIDC overlay of the example. */
export const OIDC_EXAMPLE_DIR = join(import.meta.dirname, '../../examples/lgpd-orders-oidc');

/** The identity the OIDC overlay puts into every AccessPolicy (its JSON patch of /spec/identity). */
export function oidcIdentity(): AccessPolicySpec['identity'] {
  const ops = parse(readFileSync(join(OIDC_EXAMPLE_DIR, 'identity-oidc.yaml'), 'utf8')) as { op: string; path: string; value?: unknown }[];
  const replace = ops.find((o) => o.op === 'replace' && o.path === '/spec/identity');
  if (replace === undefined) throw new Error('examples/lgpd-orders-oidc/identity-oidc.yaml does not replace /spec/identity');
  return structuredClone(replace.value) as AccessPolicySpec['identity'];
}

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
  // The example's own service account moves with it.
  spec.subjects = spec.subjects.map((s) => (s.kind === 'ServiceAccount' && s.namespace === doc.metadata?.namespace ? { ...s, namespace: o.namespace } : s));
  if (o.issuer !== undefined) {
    const identity = oidcIdentity();
    if (identity.oidc !== undefined) identity.oidc.issuer = o.issuer;
    spec.identity = identity;
  }
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
