import { describe, expect, it } from '@jest/globals';
import { buildOptions, parseOptionSettings, parseStartup, splitOptions, upstreamDatabase, upstreamParams } from './startup.ts';

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
    expect(upstreamParams(viaOptions)).toEqual({ application_name: 'psql', options: '-c search_path=public' });
    expect(parseStartup([['user', 'a'], ['guarita.purpose', 'fraud-investigation']]).purpose).toBe('fraud-investigation');
    expect(parseStartup([['user', 'a']]).purpose).toBeUndefined();
  });

  it('refuses settings that would bypass the policy, replication and other switches', () => {
    expect(() => parseStartup([['user', 'a'], ['options', '-c role=postgres']])).toThrow(/"role" is not allowed/);
    expect(() => parseStartup([['user', 'a'], ['session_authorization', 'postgres']])).toThrow(/not allowed/);
    expect(() => parseStartup([['user', 'a'], ['replication', 'database']])).toThrow(/replication/);
    expect(() => parseStartup([['user', 'a'], ['options', '-B 100']])).toThrow(/not allowed/);
    expect(() => parseStartup([['database', 'x']])).toThrow(/no PostgreSQL user/);
    expect(parseStartup([['user', 'a'], ['replication', 'false'], ['client_encoding', 'LATIN1'], ['DateStyle', 'ISO']]).settings).toEqual([['DateStyle', 'ISO']]);
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
