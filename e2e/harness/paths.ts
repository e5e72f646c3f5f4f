// Where the harness finds its binaries. One place, so the "run `npm run bootstrap`" advice is the
// same whichever component is missing.
import { accessSync, constants, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HARNESS_DIR = fileURLToPath(new URL('.', import.meta.url));
export const REPO_ROOT = resolve(HARNESS_DIR, '..', '..');
export const WATCHDOG = join(HARNESS_DIR, 'watchdog.sh');

const BOOTSTRAP_HINT = 'run `npm run bootstrap`';

/** `.cache/bin` (or `$GUARITA_CACHE/bin`), where e2e/tools/build.sh puts etcd, kube-apiserver, kubectl and helm. */
export function binDir(): string {
  const cache = process.env.GUARITA_CACHE ?? join(REPO_ROOT, '.cache');
  return join(cache, 'bin');
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Fails with the bootstrap hint when any control-plane binary is missing. */
export function requireKubeBinaries(dir: string = binDir()): void {
  const missing = ['etcd', 'kube-apiserver', 'kubectl'].filter((name) => !isExecutable(join(dir, name)));
  if (missing.length > 0) {
    throw new Error(`missing ${missing.join(', ')} in ${dir}: ${BOOTSTRAP_HINT} (builds them from e2e/tools)`);
  }
}

/** The highest-versioned /usr/lib/postgresql/<v>/bin holding initdb, postgres and psql (Debian's layout). */
export function postgresBinDir(root = '/usr/lib/postgresql'): string {
  let versions: string[] = [];
  try {
    versions = readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v));
  } catch {
    // No PostgreSQL at all: reported below with the hint.
  }
  versions.sort((a, b) => Number(b) - Number(a));
  const found = versions
    .map((v) => join(root, v, 'bin'))
    .find((dir) => ['initdb', 'postgres', 'psql'].every((name) => isExecutable(join(dir, name))));
  if (found === undefined) {
    throw new Error(`PostgreSQL server binaries (initdb, postgres, psql) not found under ${root}/*/bin: ${BOOTSTRAP_HINT}`);
  }
  return found;
}
