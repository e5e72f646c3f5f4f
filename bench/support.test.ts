import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { processTreeCpuSeconds } from './support.ts';

describe('processTreeCpuSeconds', () => {
  it('counts the CPU of a process and of its descendants (a shell running node)', async () => {
    // The grandchild spends 0.3 s of CPU (measured by itself, whatever the machine's load), then waits to be read.
    const burn = "const t=()=>{const u=process.cpuUsage();return (u.user+u.system)/1e6};while(t()<0.3){}process.stdout.write('done\\n');setTimeout(()=>{},60000)";
    const shell = spawn('bash', ['-c', `"${process.execPath}" -e "${burn}"; true`], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    try {
      await new Promise<void>((resolve) => shell.stdout.on('data', (d: Buffer) => { if (d.toString().includes('done')) resolve(); }));
      const seconds = processTreeCpuSeconds(shell.pid ?? 0);
      expect(seconds).toBeGreaterThanOrEqual(0.29);
      expect(seconds).toBeLessThan(30);
      expect(processTreeCpuSeconds(2 ** 22 + 12345)).toBe(0);
    } finally {
      process.kill(-(shell.pid ?? 0), 'SIGKILL');
    }
  });
});
