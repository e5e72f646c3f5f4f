// The GitHub workflows: actionlint (built from its pinned Go module by e2e/tools/build.sh, with
// shellcheck on the run: scripts when installed) finds no problem in .github/workflows/*, every
// action is pinned by a full commit SHA with its version in a comment (a tag can be moved to
// other code; a SHA cannot), and every workflow starts from no or read-only token permissions.
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

const ROOT = resolve(import.meta.dirname, '..');
const DIR = join(ROOT, '.github/workflows');
const ACTIONLINT = join(ROOT, '.cache/bin/actionlint');
const workflows = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(DIR, f));

describe('.github/workflows', () => {
  it('pass actionlint', () => {
    expect(existsSync(ACTIONLINT)).toBe(true); // bash e2e/tools/build.sh builds it (npm run bootstrap)
    const r = spawnSync(ACTIONLINT, ['-no-color', ...workflows], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.each(workflows.map((w) => [w.slice(ROOT.length + 1), w]))('%s pins every action by commit with its version, and starts from least privilege', (_name, file) => {
    const text = readFileSync(file, 'utf8');
    const uses = [...text.matchAll(/^\s*(?:-\s*)?uses:\s*(\S+)(.*)$/gm)];
    expect(uses.length).toBeGreaterThan(0);
    for (const [line, ref = '', comment = ''] of uses) {
      if (ref.startsWith('./')) continue;
      expect({ line: line.trim(), pinned: /^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/.test(ref), version: /#\s*v\d/.test(comment) }).toEqual({ line: line.trim(), pinned: true, version: true });
    }
    const doc = parse(text) as { permissions?: unknown };
    expect([{}, { contents: 'read' }]).toContainEqual(doc.permissions);
  });
});
