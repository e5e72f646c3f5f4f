// The run directory holds everything one harness run writes: PKI, etcd and PostgreSQL data,
// logs, kubeconfigs, the state file. An `owner.pid` file names the process that owns it, so a
// later run can delete the leftovers of a run whose owner was SIGKILLed (its components are
// already gone: the watchdog saw to that).
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { progress } from './log.ts';

const PREFIX = 'guarita-harness-';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ownerOf(dir: string): number | undefined {
  try {
    return Number(readFileSync(join(dir, 'owner.pid'), 'utf8').trim());
  } catch {
    return undefined;
  }
}

/** Removes default-location run dirs whose owner process is gone. */
export function cleanStaleRunDirs(parent: string = tmpdir()): void {
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = join(parent, name);
    const owner = ownerOf(dir);
    if (owner === undefined || pidAlive(owner)) continue;
    progress('harness', `removing stale run dir ${dir} (owner ${owner} is gone)`);
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface RunDir {
  path: string;
  /** Created by us (a temp dir), so ours to delete. */
  owned: boolean;
}

export function createRunDir(requested?: string): RunDir {
  const owned = requested === undefined;
  const path = requested ?? mkdtempSync(join(tmpdir(), PREFIX));
  mkdirSync(join(path, 'logs'), { recursive: true });
  writeFileSync(join(path, 'owner.pid'), `${process.pid}\n`);
  return { path, owned };
}

export function removeRunDir(runDir: RunDir): void {
  if (!runDir.owned || process.env.GUARITA_HARNESS_KEEP === '1') {
    progress('harness', `run dir kept: ${runDir.path}`);
    return;
  }
  rmSync(runDir.path, { recursive: true, force: true });
}
