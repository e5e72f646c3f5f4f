// Flag parsing shared by the commands: node's parseArgs, with errors that say which flag is wrong
// and point at --help instead of a stack trace.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  namespace: { type: 'string', short: 'n' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  output: { type: 'string', short: 'o' },
} as const satisfies Options;

/**
 * kubectl (pflag) reads `-o=json` and `-n=team` as `-o json`; node's parseArgs keeps the `=` in
 * the value (`=json`: a file of that name for export, a namespace `=team`). Split them the same way.
 */
function splitShortEquals(argv: readonly string[], options: Options): string[] {
  const valued = new Set(Object.values(options).filter((o) => o.type === 'string' && o.short !== undefined).map((o) => o.short));
  const out: string[] = [];
  for (const [i, arg] of argv.entries()) {
    if (arg === '--') return [...out, ...argv.slice(i)];
    const m = /^-([A-Za-z])=(.*)$/s.exec(arg);
    if (m !== null && valued.has(m[1])) out.push(`-${m[1] ?? ''}`, m[2] ?? '');
    else out.push(arg);
  }
  return out;
}

export function parseFlags<const O extends Options>(argv: string[], options: O, command: string): ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args: splitShortEquals(argv, options), options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${err instanceof Error ? err.message : String(err)}\nRun 'guarita ${command} --help' for usage.`);
  }
}

export type OutputFormat = 'table' | 'json' | 'yaml';

export function outputFormat(value: string | undefined): OutputFormat {
  if (value === undefined || value === 'table' || value === 'wide') return 'table';
  if (value === 'json' || value === 'yaml') return value;
  throw new UsageError(`--output must be json, yaml or table (got '${value}')`);
}
