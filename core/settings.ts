// One settings reader for the long-running components (operator, webhook): a table of settings
// (flag, environment variable, help, default, parse), flags read with node:util parseArgs
// (--name=value or --name value), a flag overriding its variable, which overrides the default.
// Every problem names the setting (flag and variable) and says what is expected, so a bad
// deployment stops with one message listing every fix, never with a stack.
import { parseArgs } from 'node:util';

export interface Setting<T = string> {
  flag: string;
  env: string;
  help: string;
  /** Used when neither the flag nor the variable is set (or both are blank). */
  default?: string;
  /**
   * Turns the text into the value. Throws an Error whose message says what is expected (the
   * reader prefixes the setting's name), e.g. `expected a duration such as 30s, got "soon"`.
   */
  parse?: (raw: string) => T;
}

type AnySetting = Setting<unknown>;

/** How a setting is named in messages: each component keeps the form its docs and tests use. */
export type NameStyle = (s: AnySetting) => string;
/** `--lease-duration / GUARITA_LEASE_DURATION` (the operator, flags first). */
export const flagThenEnv: NameStyle = (s) => `--${s.flag} / ${s.env}`;
/** `GUARITA_WEBHOOK_PORT (--port)` (the webhook, configured by the chart through variables). */
export const envThenFlag: NameStyle = (s) => `${s.env} (--${s.flag})`;

export class SettingsError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'SettingsError';
    this.problems = problems;
  }
}

export interface Flags {
  /** The flags given, by flag name (without the dashes). */
  values: Record<string, string | undefined>;
  /** --help or -h was given. */
  help: boolean;
}

/** The offending argument of a node:util parseArgs error, read from its message ('--bogus'). */
function quoted(message: string): string {
  return /'([^']+)'/.exec(message)?.[1] ?? '';
}

/**
 * Reads argv (without node and the script) with node:util parseArgs: every setting is a string
 * flag, plus --help/-h. Throws SettingsError naming the argument and the fix.
 */
export function parseFlags(argv: readonly string[], settings: readonly AnySetting[]): Flags {
  const options: Record<string, { type: 'string' } | { type: 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const s of settings) options[s.flag] = { type: 'string' };
  try {
    const { values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
    const out: Record<string, string | undefined> = {};
    for (const s of settings) {
      const v = values[s.flag];
      if (typeof v === 'string') out[s.flag] = v;
    }
    return { values: out, help: values.help === true };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const message = e.message;
    switch (e.code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw new SettingsError([`unknown flag ${quoted(message)} (see --help)`]);
      case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
        throw new SettingsError([`unexpected argument ${JSON.stringify(quoted(message))} (flags are --name=value or --name value; see --help)`]);
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
        const flag = /^Option '(?:-\w, )?(--[\w-]+)/.exec(message)?.[1] ?? quoted(message);
        throw new SettingsError([`${flag} needs a value (write ${flag}=value when the value starts with "-")`]);
      }
      default:
        throw new SettingsError([message]);
    }
  }
}

/** Looks settings up (flag, then variable, then default) and collects the problems of their values. */
export class SettingsReader {
  readonly problems: string[] = [];
  readonly #flags: Record<string, string | undefined>;
  readonly #env: Record<string, string | undefined>;
  readonly #name: NameStyle;

  constructor(flags: Record<string, string | undefined>, env: Record<string, string | undefined>, name: NameStyle = flagThenEnv) {
    this.#flags = flags;
    this.#env = env;
    this.#name = name;
  }

  name(s: AnySetting): string {
    return this.#name(s);
  }

  /** The text of a setting, trimmed; undefined when unset or blank (a blank flag or variable hides what it overrides). */
  raw(s: AnySetting): string | undefined {
    const v = this.#flags[s.flag] ?? this.#env[s.env] ?? s.default;
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  /** Records a problem of a setting: `<name>: <message>`. */
  problem(s: AnySetting, message: string): void {
    this.problems.push(`${this.#name(s)}: ${message}`);
  }

  /** The parsed value (the text itself without `parse`); undefined when unset or when parse refused it (recorded). */
  value<T>(s: Setting<T>): T | undefined {
    const raw = this.raw(s);
    if (raw === undefined) return undefined;
    if (s.parse === undefined) return raw as T;
    try {
      return s.parse(raw);
    } catch (err) {
      this.problem(s, err instanceof Error ? err.message : String(err));
      return undefined;
    }
  }

  /** Like value(), and a problem naming the setting (with the hint) when it is unset. */
  required<T>(s: Setting<T>, hint: string): T | undefined {
    if (this.raw(s) === undefined) {
      this.problem(s, `is required: ${hint}`);
      return undefined;
    }
    return this.value(s);
  }
}

export type SettingValues<Table extends Record<string, AnySetting>> = { [K in keyof Table]: (Table[K] extends Setting<infer T> ? T : never) | undefined };

/**
 * Every setting of a table, typed by its parse function (undefined when unset), from argv and the
 * environment. Throws SettingsError listing every problem at once.
 */
export function readSettings<Table extends Record<string, AnySetting>>(table: Table, argv: readonly string[], env: Record<string, string | undefined>, name: NameStyle = flagThenEnv): SettingValues<Table> {
  const flags = parseFlags(argv, Object.values(table));
  const r = new SettingsReader(flags.values, env, name);
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(table)) out[key] = r.value(s);
  if (r.problems.length > 0) throw new SettingsError(r.problems);
  return out as SettingValues<Table>;
}
