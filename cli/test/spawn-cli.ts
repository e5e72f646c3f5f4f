// Runs the real `guarita` command as its own process (node cli/src/main.ts), with only the
// environment given: for tests that need what an auditor's shell has (a kubeconfig, a port-forward,
// a process that exits), not the in-process runCli.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const MAIN = join(import.meta.dirname, '../src/main.ts');

/** `code` is null when the process was killed by a signal. */
export interface SpawnedCli { code: number | null; stdout: string; stderr: string }

export function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<SpawnedCli> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
