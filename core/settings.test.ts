import { describe, expect, it } from '@jest/globals';
import { envThenFlag, flagThenEnv, parseFlags, readSettings, SettingsError, SettingsReader, type Setting } from './settings.ts';

const port: Setting<number> = {
  flag: 'port', env: 'APP_PORT', help: 'HTTPS port', default: '8443',
  parse: (raw) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`expected a port from 1 to 65535, got ${JSON.stringify(raw)}`);
    return n;
  },
};
const hosts: Setting<string[]> = { flag: 'hosts', env: 'APP_HOSTS', help: 'names', parse: (raw) => raw.split(',').map((h) => h.trim()).filter((h) => h !== '') };
const name: Setting = { flag: 'name', env: 'APP_NAME', help: 'a name' };
const table = { port, hosts, name };

function problemsOf(f: () => unknown): readonly string[] {
  try {
    f();
  } catch (err) {
    if (err instanceof SettingsError) return err.problems;
    throw err;
  }
  throw new Error('no SettingsError');
}

describe('the settings reader (core/settings.ts)', () => {
  it('types each setting by its parse function: flag over variable over default, a blank one unsets', () => {
    expect(readSettings(table, [], {})).toEqual({ port: 8443, hosts: undefined, name: undefined });
    expect(readSettings(table, ['--port', '9443', '--hosts=a, b,'], { APP_PORT: '1', APP_NAME: ' svc ' })).toEqual({ port: 9443, hosts: ['a', 'b'], name: 'svc' });
    // A blank flag or variable is set, to nothing: it hides what it overrides (as both readers always did).
    expect(readSettings(table, ['--name='], { APP_NAME: 'from-env', APP_PORT: '  ' })).toEqual({ port: undefined, hosts: undefined, name: undefined });
  });

  it('reports every bad value at once, naming flag and variable in the component\'s style, with the fix', () => {
    expect(problemsOf(() => readSettings({ port, other: { ...port, flag: 'metrics-port', env: 'APP_METRICS_PORT' } }, ['--port=0'], { APP_METRICS_PORT: 'x' }))).toEqual([
      '--port / APP_PORT: expected a port from 1 to 65535, got "0"',
      '--metrics-port / APP_METRICS_PORT: expected a port from 1 to 65535, got "x"',
    ]);
    expect(problemsOf(() => readSettings(table, [], { APP_PORT: '70000' }, envThenFlag))).toEqual(['APP_PORT (--port): expected a port from 1 to 65535, got "70000"']);
  });

  it('names the argument and the fix for bad command lines', () => {
    expect(problemsOf(() => parseFlags(['--bogus=1'], [port]))).toEqual(['unknown flag --bogus (see --help)']);
    expect(problemsOf(() => parseFlags(['stray'], [port]))).toEqual(['unexpected argument "stray" (flags are --name=value or --name value; see --help)']);
    expect(problemsOf(() => parseFlags(['--port'], [port]))[0]).toMatch(/^--port needs a value/);
    // A value that looks like a flag is refused rather than swallowed: write --port=-1.
    expect(problemsOf(() => parseFlags(['--port', '-1'], [port]))[0]).toMatch(/^--port needs a value .*--port=value/);
    expect(parseFlags(['--port=-1'], [port]).values).toEqual({ port: '-1' });
  });

  it('reads --help and -h', () => {
    expect(parseFlags(['--help'], [port]).help).toBe(true);
    expect(parseFlags(['-h'], [port]).help).toBe(true);
    expect(parseFlags([], [port]).help).toBe(false);
  });

  it('requires with a hint, and leaves the choice of stopping to the caller', () => {
    const r = new SettingsReader({}, {}, flagThenEnv);
    expect(r.required(name, 'the Service name')).toBeUndefined();
    expect(r.value(port)).toBe(8443);
    expect(r.problems).toEqual(['--name / APP_NAME: is required: the Service name']);
  });
});
