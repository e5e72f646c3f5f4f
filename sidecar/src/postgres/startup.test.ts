import { describe, expect, it } from '@jest/globals';
import { PINNED_SERVER_SETTINGS } from '../../../core/policy/pg-settings.ts';
import {
  buildOptions, parseOptionSettings, parseStartup, pgTimeoutMs, searchPathWithTempLast, splitOptions, splitSearchPath, upstreamDatabase, upstreamParams,
} from './startup.ts';

/** What every session gets after the client's settings: the pinned settings (search_path only when the client names one: temp-schema-last.ts fixes the default up). */
const PINNED_OPTIONS = buildOptions(Object.entries(PINNED_SERVER_SETTINGS));
const PINNED_ONLY = buildOptions(Object.entries(PINNED_SERVER_SETTINGS));

describe('startup options', () => {
  it('splits like the server: whitespace separates, backslash escapes', () => {
    expect(splitOptions('  -c a=b   -c x=hello\\ world ')).toEqual(['-c', 'a=b', '-c', 'x=hello world']);
    expect(parseOptionSettings('-c guarita.purpose=customer-support --search-path=app -cstatement_timeout=5s')).toEqual([
      ['guarita.purpose', 'customer-support'], ['search_path', 'app'], ['statement_timeout', '5s'],
    ]);
    expect(buildOptions([['search_path', 'a b'], ['x', 'c\\d']])).toBe('-c search_path=a\\ b -c x=c\\\\d');
    expect(parseOptionSettings(buildOptions([['search_path', 'a b']]))).toEqual([['search_path', 'a b']]);
  });

  it('takes the purpose from options or from a startup parameter, and keeps it from the upstream', () => {
    const viaOptions = parseStartup([['user', 'agent'], ['database', 'orders'], ['options', '-c guarita.purpose=customer-support -c search_path=public'], ['application_name', 'psql']]);
    expect(viaOptions).toMatchObject({ user: 'agent', database: 'orders', purpose: 'customer-support', applicationName: 'psql' });
    expect(upstreamParams(viaOptions)).toEqual({ application_name: 'psql', options: `${buildOptions([['search_path', 'public, pg_temp']])} ${PINNED_ONLY}` });
    expect(parseStartup([['user', 'a'], ['guarita.purpose', 'fraud-investigation']]).purpose).toBe('fraud-investigation');
    expect(parseStartup([['user', 'a']]).purpose).toBeUndefined();
  });

  it('refuses settings that would bypass the policy, replication and other switches', () => {
    expect(() => parseStartup([['user', 'a'], ['options', '-c role=postgres']])).toThrow(/"role" is not allowed/);
    expect(() => parseStartup([['user', 'a'], ['session_authorization', 'postgres']])).toThrow(/not allowed/);
    expect(() => parseStartup([['user', 'a'], ['replication', 'database']])).toThrow(/replication/);
    expect(() => parseStartup([['user', 'a'], ['options', '-B 100']])).toThrow(/not allowed/);
    expect(() => parseStartup([['database', 'x']])).toThrow(/no PostgreSQL user/);
    expect(parseStartup([['user', 'a'], ['replication', 'false'], ['client_encoding', 'UTF8'], ['DateStyle', 'ISO']]).settings).toEqual([['DateStyle', 'ISO']]);
    expect(parseStartup([['user', 'a'], ['_pq_.command_compression', 'on']]).protocolOptions).toEqual(['_pq_.command_compression']);
  });

  it('opens the target database, refusing a client that explicitly asks for another', () => {
    const req = (database?: string): ReturnType<typeof parseStartup> => parseStartup(database === undefined ? [['user', 'agent']] : [['user', 'agent'], ['database', database]]);
    expect(upstreamDatabase(req(), 'orders')).toBe('orders');
    expect(upstreamDatabase(req('agent'), 'orders')).toBe('orders');
    expect(upstreamDatabase(req('orders'), 'orders')).toBe('orders');
    expect(() => upstreamDatabase(req('postgres'), 'orders')).toThrow(/not served by this listener/);
    expect(upstreamDatabase(req('analytics'), undefined)).toBe('analytics');
  });
});

// Issue 18 item 1: every way a client can ask for a pinned setting at startup. The names come
// from PINNED_SERVER_SETTINGS, so a setting added there is covered here too.
describe('pinned settings at startup (adversarial corpus)', () => {
  const pinned = Object.keys(PINNED_SERVER_SETTINGS);
  const wrong: Record<string, string[]> = {
    standard_conforming_strings: ['off', 'OFF', 'false', '0', 'no', 'f', 'of\\ f'],
    client_encoding: ['SJIS', 'sjis', 'GBK', 'BIG5', 'EUC_TW', 'LATIN1', 'WIN1252', 'auto', 'UHC'],
    backslash_quote: ['on', 'true', 'off', 'database'],
  };
  const badValues = (name: string): string[] => wrong[name] ?? ['guarita-not-the-pinned-value'];
  const upper = (n: string): string => n.toUpperCase();
  const mixed = (n: string): string => n.split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('_');
  const dashed = (n: string): string => n.replace(/_/g, '-');
  const spellings = (n: string, v: string): Array<[string, Array<[string, string]>]> => [
    ['startup parameter', [[n, v]]],
    ['upper-case parameter', [[upper(n), v]]],
    ['mixed-case parameter', [[mixed(n), v]]],
    ['-c name=value', [['options', `-c ${n}=${v}`]]],
    ['-cname=value', [['options', `-c${n}=${v}`]]],
    ['--name=value', [['options', `--${n}=${v}`]]],
    ['--name-with-dashes=value', [['options', `--${dashed(n)}=${v}`]]],
    ['-c NAME=value', [['options', `-c ${upper(n)}=${v}`]]],
    ['-c Mixed_Name=value', [['options', `-c ${mixed(n)}=${v}`]]],
    ['after other options', [['options', `-c guarita.purpose=customer-support -c search_path=public   -c ${n}=${v}`]]],
    ['tab-separated', [['options', `-c\t${n}=${v}`]]],
    ['after an allowed parameter', [['DateStyle', 'ISO'], ['options', `-c ${n}=${v}`]]],
  ];
  const cases = pinned.flatMap((n) => badValues(n).flatMap((v) => spellings(n, v).map(([how, params]) => ({ n, v, how, params }))));

  it.each(cases)('refuses $n=$v given as $how, naming the parameter and the pinned value', ({ n, params }) => {
    let error: unknown;
    try {
      parseStartup([['user', 'agent'], ...params]);
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: '42501' });
    const message = (error as Error).message;
    expect(message.toLowerCase()).toContain(n);
    expect(message).toContain(`pinned to ${PINNED_SERVER_SETTINGS[n] ?? ''}`);
  });

  it('accepts a pinned setting asked with the pinned value (drivers send client_encoding=UTF8), and sends the sidecar\'s own spelling', () => {
    const accepted: Array<[string, string]> = [
      ['client_encoding', 'UTF8'], ['client_encoding', 'utf-8'], ['client_encoding', 'unicode'], ['client_encoding', 'SQL_ASCII'],
      ['standard_conforming_strings', 'on'], ['standard_conforming_strings', 'true'], ['standard_conforming_strings', '1'], ['Standard_Conforming_Strings', 'ON'],
      ['backslash_quote', 'safe_encoding'], ['BACKSLASH_QUOTE', 'SAFE_ENCODING'],
    ];
    for (const [name, value] of accepted) {
      const req = parseStartup([['user', 'a'], [name, value], ['options', `-c ${name}=${value}`]]);
      expect(req.settings).toEqual([]);
      expect(upstreamParams(req).options).toBe(PINNED_OPTIONS);
    }
  });

  it('sends the pinned settings last, so they win over the client\'s and over role or database defaults', () => {
    const req = parseStartup([['user', 'a'], ['options', '-c search_path=app -c DateStyle=ISO']]);
    const settings = parseOptionSettings(upstreamParams(req).options ?? '');
    expect(settings.slice(-pinned.length)).toEqual(Object.entries(PINNED_SERVER_SETTINGS));
    expect(settings.slice(0, 2)).toEqual([['DateStyle', 'ISO'], ['search_path', 'app, pg_temp']]);
  });
});

// Unnamed, the temporary schema is searched before every other (namespace.c): a temporary table
// `orders` would shadow the public.orders the policy and the sensitive-column guard mean (round 11).
describe('search_path upstream: pg_temp explicitly last', () => {
  const sent = (params: Array<[string, string]>): string[] => parseOptionSettings(upstreamParams(parseStartup([['user', 'a'], ...params])).options ?? '')
    .filter(([k]) => k.toLowerCase() === 'search_path').map(([, v]) => v);

  it('is not sent when the client names none: the role\'s or database\'s default applies, fixed up after startup (temp-schema-last.ts)', () => {
    expect(sent([])).toEqual([]);
  });

  it('the last of several the client names is the one sent, as the server would take it', () => {
    expect(sent([['options', '-c search_path=app -c search_path=pg_temp,public']])).toEqual(['public, pg_temp']);
    expect(sent([['search_path', 'pg_temp, public'], ['options', '-c search_path=app']])).toHaveLength(1);
  });

  it.each([
    ['app', 'app, pg_temp'],
    ['pg_temp, public', 'public, pg_temp'],
    ['PG_TEMP,public', 'public, pg_temp'],
    ['"pg_temp", public', 'public, pg_temp'],
    ['pg_temp_3, public', 'public, pg_temp'],
    ['public, pg_temp', 'public, pg_temp'],
    ['"$user" , public', '"$user", public, pg_temp'],
    ['"My ""Schema""", public', '"My ""Schema""", public, pg_temp'],
    ['"PG_TEMP", public', '"PG_TEMP", public, pg_temp'], // quoted capitals: another schema's name, not the temporary one
    ['', 'pg_temp'],
  ])('the client\'s %j is sent as %j (one setting, the client\'s replaced)', (asked, upstream) => {
    expect(sent([['options', `-c ${buildOptions([['search_path', asked]]).slice(3)}`]])).toEqual([upstream]);
    expect(sent([['search_path', asked]])).toEqual([upstream]);
    expect(sent([['Search_Path', asked]])).toEqual([upstream]);
  });

  it('splits a list as the server does, and gives up on one the server would refuse', () => {
    expect(splitSearchPath(' a , "B c" ,d')).toEqual([{ raw: 'a', name: 'a' }, { raw: '"B c"', name: 'B c' }, { raw: 'd', name: 'd' }]);
    expect(splitSearchPath('a,')).toBeUndefined();
    expect(splitSearchPath('"a')).toBeUndefined();
    expect(splitSearchPath('a b')).toBeUndefined();
    // The server refuses the list and ends the session: passed on with pg_temp after it.
    expect(searchPathWithTempLast('pg_temp, "a')).toBe('pg_temp, "a, pg_temp');
  });
});

describe('statementTimeout of the policy at startup', () => {
  const timeoutOf = (params: Array<[string, string]>, policyMs?: number): string | undefined => {
    const settings = parseOptionSettings(upstreamParams(parseStartup([['user', 'a'], ...params]), policyMs).options ?? '');
    return settings.filter(([k]) => k.toLowerCase() === 'statement_timeout').map(([, v]) => v).join(',') || undefined;
  };

  it('reads the server\'s spellings of a timeout', () => {
    expect(pgTimeoutMs('5000')).toBe(5000);
    expect(pgTimeoutMs('5s')).toBe(5000);
    expect(pgTimeoutMs(' 2 min ')).toBe(120_000);
    expect(pgTimeoutMs('1.5h')).toBe(5_400_000);
    expect(pgTimeoutMs('0')).toBe(0);
    expect(pgTimeoutMs('forever')).toBeUndefined();
  });

  it('pins the policy\'s timeout; the client keeps its own only when shorter (0, longer or unreadable values are replaced)', () => {
    expect(timeoutOf([], 30_000)).toBe('30000ms');
    expect(timeoutOf([['options', '-c statement_timeout=0']], 30_000)).toBe('30000ms');
    expect(timeoutOf([['statement_timeout', '1h']], 30_000)).toBe('30000ms');
    expect(timeoutOf([['options', '--statement-timeout=10min']], 30_000)).toBe('30000ms');
    expect(timeoutOf([['options', '-c STATEMENT_TIMEOUT=5s']], 30_000)).toBe('5000ms');
    expect(timeoutOf([['statement_timeout', 'forever']], 30_000)).toBe('30000ms');
    expect(timeoutOf([['statement_timeout', '5s']])).toBe('5s');
    expect(timeoutOf([])).toBeUndefined();
  });
});
