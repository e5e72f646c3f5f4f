// Every outbound connection the sidecar opens resolves through upstream-address.ts (round 9b review:
// the Kubernetes target's exec/attach WebSocket and port-forward request opened theirs without it,
// and sent the target's token to whatever the name resolved to inside the pod). A guard on the
// source: each place that opens a connection by name passes `lookup`, and undici pools come from
// ./undici.ts, whose Pool adds it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from '@jest/globals';

const ROOT = import.meta.dirname;
/** Calls that open a connection to a name (tlsConnect over an existing socket is not one). */
const OPENS = /netConnect\(|new WebSocket\(|(?<![.\w])request\(\{|new Agent\(/g;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

describe('outbound connections of the sidecar', () => {
  it('pass the lookup that refuses the pod\'s own addresses', () => {
    const missing: string[] = [];
    for (const file of sources(ROOT)) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(OPENS)) {
        const call = text.slice(m.index, m.index + 600);
        if (!call.includes('lookup')) missing.push(`${relative(ROOT, file)}: ${m[0]}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('take undici pools from ./undici.ts (whose Pool adds the lookup)', () => {
    const direct = sources(ROOT).filter((f) => !f.endsWith('undici.ts') && /import \{[^}]*\bPool\b[^}]*\} from 'undici'/.test(readFileSync(f, 'utf8')));
    expect(direct.map((f) => relative(ROOT, f))).toEqual([]);
  });
});
