import { describe, expect, it } from '@jest/globals';
import type { Enforcer, Session, SessionRequest } from '../enforcement.ts';
import { HttpSessions } from './sessions.ts';

/** An enforcer whose sessions are plain objects naming the credential and purpose they were opened with. */
function countingEnforcer(): { enforcer: Enforcer; opened: SessionRequest[] } {
  const opened: SessionRequest[] = [];
  const enforcer = {
    openSession: (req: SessionRequest) => {
      opened.push(req);
      return Promise.resolve({ ok: true as const, session: { credential: req.credential, purpose: req.purpose, closed: new AbortController().signal, close: () => Promise.resolve() } as unknown as Session });
    },
  } as unknown as Enforcer;
  return { enforcer, opened };
}

const client = { remoteAddress: '127.0.0.1' };

describe('HTTP sessions: the key remembered per connection', () => {
  it('a connection repeating its credential and purpose gets its session; another credential or purpose on the same connection never does', async () => {
    const { enforcer, opened } = countingEnforcer();
    const sessions = new HttpSessions(enforcer, 'api');
    const socket = {};
    const owner = (r: Awaited<ReturnType<HttpSessions['get']>>): unknown => (r.ok ? r.session : r);
    const a1 = owner(await sessions.get('token-a', 'support', client, socket));
    const a2 = owner(await sessions.get('token-a', 'support', client, socket));
    expect(a2).toBe(a1);
    expect(owner(await sessions.get('token-b', 'support', client, socket))).toMatchObject({ credential: 'token-b', purpose: 'support' });
    expect(owner(await sessions.get('token-a', 'fraud', client, socket))).toMatchObject({ credential: 'token-a', purpose: 'fraud' });
    expect(owner(await sessions.get('token-a', undefined, client, socket))).toMatchObject({ credential: 'token-a' });
    // Back to the first pair: the session opened for it, not the last one the connection used.
    expect(owner(await sessions.get('token-a', 'support', client, socket))).toBe(a1);
    // The same pair from another connection, or without one: the same session, by the same key.
    expect(owner(await sessions.get('token-a', 'support', client, {}))).toBe(a1);
    expect(owner(await sessions.get('token-a', 'support', client))).toBe(a1);
    expect(opened.map((r) => [r.credential, r.purpose])).toEqual([['token-a', 'support'], ['token-b', 'support'], ['token-a', 'fraud'], ['token-a', undefined]]);
    await sessions.closeAll('test');
  });

  it('cached() (the proxy\'s no-promise path) gives exactly the session get() would, and none for a pair never opened, another credential or a closed session', async () => {
    const opened: SessionRequest[] = [];
    const controllers: AbortController[] = [];
    const enforcer = {
      openSession: (req: SessionRequest) => {
        opened.push(req);
        const controller = new AbortController();
        controllers.push(controller);
        return Promise.resolve({ ok: true as const, session: { credential: req.credential, closed: controller.signal, close: () => Promise.resolve() } as unknown as Session });
      },
    } as unknown as Enforcer;
    const sessions = new HttpSessions(enforcer, 'api');
    const socket = {};
    expect(sessions.cached('token-a', 'support', socket)).toBeUndefined();
    const got = await sessions.get('token-a', 'support', client, socket);
    expect(got.ok && sessions.cached('token-a', 'support', socket)).toBe(got.ok && got.session);
    expect(sessions.cached('token-a', 'support', {})).toBe(got.ok && got.session);
    expect(sessions.cached('token-b', 'support', socket)).toBeUndefined();
    expect(sessions.cached('token-a', 'fraud', socket)).toBeUndefined();
    expect(sessions.cached('token-a', undefined, socket)).toBeUndefined();
    // Revoked (the enforcer closed it): not handed out again; the next get() opens a new one.
    controllers[0]?.abort('revoked');
    expect(sessions.cached('token-a', 'support', socket)).toBeUndefined();
    const again = await sessions.get('token-a', 'support', client, socket);
    expect(again.ok && again.session).not.toBe(got.ok && got.session);
    expect(opened).toHaveLength(2);
    await sessions.closeAll('test');
  });
});
