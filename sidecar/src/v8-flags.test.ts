import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SIDECAR_START_ENV, sidecarV8Flags } from '../../core/sidecar-start.ts';
import { missingEnvironment, missingV8Flags, reexecArgs } from './v8-flags.ts';

describe('V8 flags for the targets', () => {
  it('asks for --liftoff-only where a PostgreSQL target loads the WebAssembly parser, and a fixed young generation for every target', () => {
    expect(missingV8Flags([{ protocol: 'postgres' }], [])).toEqual(['--liftoff-only', '--max-semi-space-size=16']);
    expect(missingV8Flags([{ protocol: 'http' }, { protocol: 'postgres' }], ['--max-semi-space-size=32'])).toEqual(['--liftoff-only']);
    expect(missingV8Flags([{ protocol: 'http' }, { protocol: 'ssh' }], [])).toEqual(['--max-semi-space-size=16']);
    expect(missingV8Flags([{ protocol: 'http' }], ['--disable-warning=ExperimentalWarning', '--max-semi-space-size=8'])).toEqual([]);
  });

  it('asks nothing once the process runs with them (no second re-execution), as the injected command gives them', () => {
    expect(missingV8Flags([{ protocol: 'postgres' }], ['--liftoff-only', '--max-semi-space-size=16'])).toEqual([]);
    for (const protocols of [['http'], ['postgres'], ['ssh', 'kubernetes', 'postgres']]) {
      expect(missingV8Flags(protocols.map((protocol) => ({ protocol })), sidecarV8Flags(protocols))).toEqual([]);
      expect(missingEnvironment({ ...SIDECAR_START_ENV })).toEqual({});
    }
  });

  it('asks for two malloc arenas for every target kind, keeps a value already set (also by the re-executed process)', () => {
    expect(missingEnvironment({})).toEqual({ MALLOC_ARENA_MAX: '2' });
    expect(missingEnvironment({ PATH: '/bin' })).toEqual({ MALLOC_ARENA_MAX: '2' });
    expect(missingEnvironment({ MALLOC_ARENA_MAX: '2' })).toEqual({});
    expect(missingEnvironment({ MALLOC_ARENA_MAX: '4' })).toEqual({});
  });

  it('re-executes the same entry point with the flags first and the original options after', () => {
    expect(reexecArgs('/usr/bin/node', ['--liftoff-only'], ['--cpu-prof'], ['/usr/bin/node', '/app/sidecar/src/main.js'])).toEqual(['/usr/bin/node', '--liftoff-only', '--cpu-prof', '/app/sidecar/src/main.js']);
  });
});

describe('re-execution with process.execve (as main.ts does it)', () => {
  it('replaces the process with one running the flags: same PID, the flag in effect once', () => {
    const script = `
const { missingV8Flags, reexecArgs } = await import(${JSON.stringify(new URL('./v8-flags.ts', import.meta.url).href)});
const flags = missingV8Flags([{ protocol: 'postgres' }], process.execArgv);
if (flags.length > 0) { process.stdout.write('before ' + process.pid + '\\n'); process.execve(process.execPath, reexecArgs(process.execPath, flags, process.execArgv, process.argv), process.env); }
process.stdout.write('after ' + process.pid + ' ' + JSON.stringify(process.execArgv) + '\\n');
`;
    const file = join(mkdtempSync(join(tmpdir(), 'guarita-v8-flags-')), 'entry.mjs');
    writeFileSync(file, script);
    const run = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', file], { encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(0);
    const [before, after] = run.stdout.trim().split('\n');
    expect(before).toMatch(/^before \d+$/);
    expect(after).toBe(`after ${before?.split(' ')[1]} ${JSON.stringify(['--liftoff-only', '--max-semi-space-size=16', '--disable-warning=ExperimentalWarning'])}`);
  });

  it('an HTTP-only process re-executes once: same PID, MALLOC_ARENA_MAX=2 and the young generation flag in effect', () => {
    const script = `
const { missingEnvironment, missingV8Flags, reexecArgs } = await import(${JSON.stringify(new URL('./v8-flags.ts', import.meta.url).href)});
const flags = missingV8Flags([{ protocol: 'http' }], process.execArgv);
const env = missingEnvironment(process.env);
if (flags.length > 0 || Object.keys(env).length > 0) { process.stdout.write('before ' + process.pid + '\\n'); process.execve(process.execPath, reexecArgs(process.execPath, flags, process.execArgv, process.argv), { ...process.env, ...env }); }
process.stdout.write('after ' + process.pid + ' ' + process.env.MALLOC_ARENA_MAX + ' ' + JSON.stringify(process.execArgv) + '\\n');
`;
    const file = join(mkdtempSync(join(tmpdir(), 'guarita-v8-flags-')), 'entry.mjs');
    writeFileSync(file, script);
    const env = { ...process.env };
    delete env.MALLOC_ARENA_MAX;
    const run = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', file], { encoding: 'utf8', timeout: 30_000, env });
    expect(run.status).toBe(0);
    const [before, after, extra] = run.stdout.trim().split('\n');
    expect(before).toMatch(/^before \d+$/);
    expect(after).toBe(`after ${before?.split(' ')[1]} 2 ${JSON.stringify(['--max-semi-space-size=16', '--disable-warning=ExperimentalWarning'])}`);
    expect(extra).toBeUndefined();
  });
});
