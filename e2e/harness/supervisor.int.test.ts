// The no-orphans guarantee, tested the hard way: an owner process is SIGKILLed (no cleanup code
// runs) and its supervised child must still disappear. Plus the failure paths a developer
// meets: readiness errors carry the log tail, and a child that ignores SIGTERM is SIGKILLed.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { runCommand } from './exec.ts';
import { HARNESS_DIR } from './paths.ts';
import { createRunDir } from './rundir.ts';
import { supervise, waitUntilReady } from './supervisor.ts';

// A harness-style run dir (owner.pid inside), so a later run removes it if this one is killed.
const dir = createRunDir().path;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function running(pattern: string): Promise<boolean> {
  return (await runCommand('pgrep', ['-f', pattern])).code === 0;
}

async function gone(pattern: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await running(pattern))) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

describe('supervisor', () => {
  it('leaves no orphan when its owner is SIGKILLed', async () => {
    const marker = `4242.${Date.now() % 1_000_000}`;
    const script = [
      `import { supervise } from ${JSON.stringify(pathToFileURL(join(HARNESS_DIR, 'supervisor.ts')).href)};`,
      `const p = supervise({ name: 'orphan-test', command: 'sleep', args: [${JSON.stringify(marker)}], logFile: ${JSON.stringify(join(dir, 'orphan.log'))} });`,
      'console.log(p.pid);',
      // Lives until its stdin closes, so it cannot itself be orphaned if this test process dies.
      "process.stdin.on('end', () => process.exit(0)).resume();",
    ].join('\n');
    const owner = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    const watchdogPid = await new Promise<number>((resolve) => owner.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    expect(watchdogPid).toBeGreaterThan(0);
    expect(await running(`sleep ${marker}`)).toBe(true);

    owner.kill('SIGKILL');
    expect(await gone(`sleep ${marker}`, 6000)).toBe(true);
    expect(await gone(`watchdog.sh ${owner.pid}`, 2000)).toBe(true);
  });

  it('reports the log tail when a component dies before it is ready', async () => {
    const proc = supervise({ name: 'doomed', command: 'bash', args: ['-c', 'echo "fatal: port already in use (marker-7)"; exit 3'], logFile: join(dir, 'doomed.log') });
    await expect(waitUntilReady(proc, 'ready', () => Promise.resolve(false), { timeoutMs: 10_000 }))
      .rejects.toThrow(/doomed exited with code 3 before ready[\s\S]*marker-7/);
  });

  it('SIGKILLs a component that ignores the stop signal after the grace period', async () => {
    const marker = `4343.${Date.now() % 1_000_000}`;
    const proc = supervise({ name: 'stubborn', command: 'bash', args: ['-c', `trap '' TERM; sleep ${marker} & wait`], logFile: join(dir, 'stubborn.log'), graceSeconds: 1 });
    expect(await gone(`sleep ${marker}`, 500)).toBe(false);
    const t0 = Date.now();
    await proc.stop();
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(await gone(`sleep ${marker}`, 2000)).toBe(true);
  });
});
