import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedFiles } from './generate.ts';
import { allCrds } from './definitions.ts';

const ROOT = join(import.meta.dirname, '..');
type Node = Record<string, unknown>;

function undocumented(node: Node, path: string, out: string[]): string[] {
  // kubectl explain shows a list's own description for scalar items, so only objects need one.
  const scalarItem = path.endsWith('[]') && node.type !== 'object';
  if (node.description === undefined && !scalarItem) out.push(path);
  for (const [k, v] of Object.entries((node.properties ?? {}) as Record<string, Node>)) undocumented(v, `${path}.${k}`, out);
  if (node.items !== undefined) undocumented(node.items as Node, `${path}[]`, out);
  return out;
}

describe('generated CRD YAML', () => {
  it.each(generatedFiles().map((f) => [f.path, f.content] as const))('%s is up to date (run `npm run generate`)', (path, content) => {
    expect(readFileSync(join(ROOT, path), 'utf8')).toBe(content);
  });

  it.each(allCrds.map((c) => [(c.metadata as { name: string }).name, c] as const))('%s documents every spec and status field for kubectl explain', (_name, crd) => {
    const root = ((crd.spec as Node).versions as Node[])[0]?.schema as { openAPIV3Schema: { properties: Node } };
    const props = root.openAPIV3Schema.properties;
    expect([...undocumented(props.spec as Node, 'spec', []), ...undocumented(props.status as Node, 'status', [])]).toEqual([]);
  });
});
