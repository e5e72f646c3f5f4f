// The listener against a fake upstream (sidecar/test/pg-fake-upstream.ts) and the local enforcer
// (sidecar/test/local-enforcer.ts: the real policy and masking engines, no Kubernetes). The same behaviour
// against a real PostgreSQL and the real enforcer is in postgres.int.test.ts.
import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import pino from 'pino';
import { createCa, mintServingCert } from '../../../e2e/harness/certs.ts';
import { FAKE_KEY, FAKE_PID, startFakeUpstream, type FakeAuth, type FakeUpstream } from '../../test/pg-fake-upstream.ts';
import { startPostgresListener, type PostgresListener, type PostgresTargetConfig } from './index.ts';
import { DENIED_SQL } from './pipeline.ts';
import { RawClient } from '../../test/pg-raw-client.ts';
import { ALICE_TOKEN, listenerTestHooks, PURPOSE_OPTIONS } from '../../test/pg-listener-hooks.ts';

const logger = pino({ level: 'silent' });

const pgEnv = listenerTestHooks({ approvalWaitMs: 300 });
const { cleanups } = pgEnv;

async function setup(auth: FakeAuth = 'scram', extra: Partial<PostgresTargetConfig> = {}, upstreamTls?: { cert: string; key: string }): Promise<{ fake: FakeUpstream; listener: PostgresListener }> {
  const fake = await startFakeUpstream({ auth, user: 'orders_app', password: 's3cret', ...(upstreamTls === undefined ? {} : { tls: upstreamTls }) });
  cleanups.push(() => fake.close());
  const listener = await startPostgresListener({
    host: '127.0.0.1', port: 0, enforcer: pgEnv.enforcer, logger,
    target: { name: 'orders-db', host: '127.0.0.1', port: fake.port, database: 'orders', username: 'orders_app', password: 's3cret', ...extra },
  });
  cleanups.push(() => listener.close());
  return { fake, listener };
}

function client(listener: PostgresListener, opts: Partial<pg.ClientConfig> = {}): pg.Client {
  const c = new pg.Client({ host: '127.0.0.1', port: listener.address.port, user: 'agent', password: ALICE_TOKEN, database: 'orders', options: PURPOSE_OPTIONS, ...opts });
  c.on('error', () => undefined);
  cleanups.push(() => c.end().catch(() => undefined));
  return c;
}

function rawClient(port: number): RawClient {
  const c = new RawClient(port);
  cleanups.push(() => { c.close(); return Promise.resolve(); });
  return c;
}

async function login(c: RawClient): Promise<void> {
  await c.login({ token: ALICE_TOKEN, options: PURPOSE_OPTIONS });
}

describe('upstream authentication', () => {
  it.each<FakeAuth>(['scram', 'md5', 'cleartext', 'trust'])('connects upstream with %s and masks results', async (auth) => {
    const { fake, listener } = await setup(auth);
    const c = client(listener);
    await c.connect();
    const res = await c.query('select id, email from customers');
    expect(res.rows[0].email).not.toContain('ana.ferreira7');
    expect(fake.startups[0]).toMatchObject({ user: 'orders_app', database: 'orders', client_encoding: 'UTF8' });
    expect(JSON.stringify(fake.startups[0])).not.toContain('guarita.purpose');
  });

  it('refuses the client with the upstream\'s error when the Secret\'s password is wrong', async () => {
    const { listener } = await setup('scram', { password: 'wrong' });
    const c = client(listener);
    await expect(c.connect()).rejects.toMatchObject({ code: '08006', message: expect.stringMatching(/upstream: password authentication failed/) });
  });

  it('connects upstream over TLS (require, verify-full with the CA), and refuses a certificate it cannot verify', async () => {
    const ca = await createCa('fake-upstream-ca');
    const cert = await mintServingCert(ca, { ips: ['127.0.0.1'], dnsNames: ['localhost'] });
    const tlsPair = { cert: cert.certPem, key: cert.keyPem };
    const { listener } = await setup('scram', { tls: { mode: 'verify-full', ca: ca.certPem, serverName: 'localhost' } }, tlsPair);
    const ok = client(listener);
    await ok.connect();
    expect((await ok.query('select 1')).rowCount).toBe(1);
    const other = await createCa('someone-else');
    const bad = await setup('scram', { tls: { mode: 'verify-full', ca: other.certPem, serverName: 'localhost' } }, tlsPair);
    await expect(client(bad.listener).connect()).rejects.toThrow(/TLS/);
    const req = await setup('scram', { tls: { mode: 'require' } }, tlsPair);
    const c = client(req.listener);
    await c.connect();
    expect((await c.query('select 1')).rowCount).toBe(1);
    const plain = await setup('scram', { tls: { mode: 'require' } });
    await expect(client(plain.listener).connect()).rejects.toThrow(/does not support TLS/);
  });
});

describe('client authentication', () => {
  it('refuses a bad token (28P01) and a missing purpose (42501) before anything reaches the upstream', async () => {
    const { fake, listener } = await setup();
    await expect(client(listener, { password: 'not-a-token' }).connect()).rejects.toMatchObject({ code: '28P01' });
    await expect(client(listener, { options: '' }).connect()).rejects.toMatchObject({ code: '42501' });
    await expect(client(listener, { options: '-c role=postgres' }).connect()).rejects.toMatchObject({ code: '42501' });
    expect(fake.startups).toHaveLength(0);
  });

  it('does not buffer more than a password message before authentication', async () => {
    const { fake, listener } = await setup();
    const raw = rawClient(listener.address.port);
    raw.send(serialize.startup({ user: 'agent', database: 'orders', options: PURPOSE_OPTIONS }));
    await raw.until(() => raw.messages.some((m) => m.name === 'authenticationCleartextPassword'));
    const head = Buffer.from([0x70, 0, 0, 0, 0]);
    head.writeInt32BE(10 * 1024 * 1024, 1);
    raw.send(head);
    await raw.until(() => raw.closed);
    expect(raw.messages.find((m) => m.name === 'error')).toMatchObject({ code: '54000', severity: 'FATAL' });
    expect(fake.startups).toHaveLength(0);
  });

  it('accepts TLS from clients when configured', async () => {
    const fake = await startFakeUpstream({ auth: 'scram', user: 'orders_app', password: 's3cret' });
    cleanups.push(() => fake.close());
    const ca = await createCa('listener-ca');
    const cert = await mintServingCert(ca, { ips: ['127.0.0.1'] });
    const listener = await startPostgresListener({
      host: '127.0.0.1', port: 0, enforcer: pgEnv.enforcer, logger, clientTls: { cert: cert.certPem, key: cert.keyPem },
      target: { name: 'orders-db', host: '127.0.0.1', port: fake.port, database: 'orders', username: 'orders_app', password: 's3cret' },
    });
    cleanups.push(() => listener.close());
    const c = client(listener, { ssl: { ca: ca.certPem } });
    await c.connect();
    expect((await c.query('select 1')).rowCount).toBe(1);
  });
});

describe('pipeline', () => {
  it('answers a denied Parse with 42501, discards the batch up to Sync, and never sends the statement', async () => {
    const { fake, listener } = await setup();
    const raw = rawClient(listener.address.port);
    await login(raw);
    raw.send(Buffer.concat([
      serialize.parse({ text: 'drop table customers' }), serialize.bind({}), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync(),
      serialize.parse({ text: 'select id, email from customers' }), serialize.bind({}), serialize.execute({}), serialize.sync(),
    ]));
    await raw.until(() => raw.messages.filter((m) => m.name === 'readyForQuery').length === 2);
    expect(raw.messages.map((m) => m.name)).toEqual(['error', 'readyForQuery', 'parseComplete', 'bindComplete', 'dataRow', 'commandComplete', 'readyForQuery']);
    expect(raw.messages[0]).toMatchObject({ code: '42501' });
    expect((raw.messages[0] as unknown as { message: string }).message).toMatch(/deny-ddl-and-dcl/);
    const upstreamSaw = fake.received.flat();
    expect(upstreamSaw.some((m) => m.type === 'parse' && /drop/i.test(m.sql))).toBe(false);
    expect(upstreamSaw.some((m) => m.type === 'parse' && m.sql === DENIED_SQL)).toBe(true);
    // The Bind/Describe/Execute of the denied batch were discarded by the listener.
    expect(upstreamSaw.filter((m) => m.type === 'bind')).toHaveLength(1);
    expect(fake.invalid).toHaveLength(0);
  });

  it('keeps the names it uses for itself: a client cannot create statements or portals named guarita.*', async () => {
    const { fake, listener } = await setup();
    const raw = rawClient(listener.address.port);
    await login(raw);
    raw.send(Buffer.concat([serialize.parse({ name: 'guarita.denied', text: 'select 1' }), serialize.sync()]));
    raw.send(Buffer.concat([serialize.parse({ name: 'ok', text: 'select 1' }), serialize.bind({ portal: 'guarita.x', statement: 'ok' }), serialize.sync()]));
    await raw.readyCount(2);
    expect(raw.trace()).toEqual(['E:42602', 'Z:I', 'parseComplete', 'E:42602', 'Z:I']);
    expect(fake.received.flat().some((m) => (m.type === 'parse' && m.name === 'guarita.denied') || (m.type === 'bind' && m.portal === 'guarita.x'))).toBe(false);
  });

  it('forwards a CancelRequest with the backend key to the upstream', async () => {
    const { fake, listener } = await setup();
    const raw = rawClient(listener.address.port);
    await login(raw);
    const cancel = rawClient(listener.address.port);
    cancel.send(serialize.cancel(FAKE_PID, FAKE_KEY));
    await cancel.until(() => cancel.closed);
    const deadline = Date.now() + 3000;
    while (fake.cancels.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(fake.cancels).toEqual([{ pid: FAKE_PID, key: FAKE_KEY }]);
  });

  it('terminates the connection with 57P01 when the session is revoked', async () => {
    const { listener } = await setup();
    const raw = rawClient(listener.address.port);
    await login(raw);
    pgEnv.enforcer.revoke('alice', 'consent withdrawn');
    await raw.until(() => raw.closed);
    expect(raw.messages.find((m) => m.name === 'error')).toMatchObject({ code: '57P01', severity: 'FATAL', message: 'consent withdrawn' });
  });
});

describe('fuzz: malformed and truncated client messages', () => {
  const valid = (): Buffer[] => [
    serialize.query('select 1'), serialize.parse({ name: 'a', text: 'select $1', types: [25] }), serialize.bind({ statement: 'a', values: ['x'] }),
    serialize.describe({ type: 'P' }), serialize.execute({ rows: 3 }), serialize.sync(), serialize.flush(), serialize.close({ type: 'S', name: 'a' }),
  ];

  function mutate(b: Buffer): Buffer {
    const out = Buffer.from(b);
    const kind = Math.floor(Math.random() * 4);
    if (kind === 0) out[Math.floor(Math.random() * out.length)] = Math.floor(Math.random() * 256);
    if (kind === 1 && out.length >= 5) out.writeInt32BE(Math.floor(Math.random() * 64) - 8, 1);
    if (kind === 2) return out.subarray(0, Math.max(1, Math.floor(Math.random() * out.length)));
    if (kind === 3) return Buffer.concat([out, randomBytes(1 + Math.floor(Math.random() * 8))]);
    return out;
  }

  it('closes the connection with an error, never crashes, and never forwards a malformed frame', async () => {
    const { fake, listener } = await setup();
    for (let round = 0; round < 80; round++) {
      const raw = rawClient(listener.address.port);
      await login(raw);
      const msgs = valid();
      const payload = Buffer.concat([...msgs.slice(0, round % 3), mutate(msgs[round % msgs.length] ?? msgs[0]!), ...(round % 2 === 0 ? [] : msgs)]);
      raw.send(payload);
      // A truncated message leaves the listener waiting for the rest: the client gives up (a half close).
      await raw.until(() => raw.closed || raw.messages.some((m) => m.name === 'readyForQuery'), 300).catch(() => undefined);
      raw.socket.end();
      await raw.until(() => raw.closed, 2000);
    }
    // Startup-phase garbage too.
    for (let round = 0; round < 30; round++) {
      const raw = rawClient(listener.address.port);
      raw.send(mutate(serialize.startup({ user: 'agent', database: 'orders', options: PURPOSE_OPTIONS })));
      raw.send(randomBytes(Math.floor(Math.random() * 20)));
      await raw.until(() => raw.closed || raw.messages.length > 0, 300).catch(() => undefined);
      raw.socket.end();
      await raw.until(() => raw.closed, 2000);
    }
    expect(fake.invalid).toHaveLength(0);
    // Everything the upstream saw decodes; and the listener still serves.
    for (const m of fake.received.flat()) expect(m.raw.length).toBeGreaterThanOrEqual(5);
    const c = client(listener);
    await c.connect();
    expect((await c.query('select 1')).rowCount).toBe(1);
  }, 60_000);

  it('answers a malformed message with a FATAL 08P01', async () => {
    const { listener } = await setup();
    const raw = rawClient(listener.address.port);
    await login(raw);
    raw.send(Buffer.from([0x51, 0, 0, 0, 8, 0x61, 0x62, 0x63, 0x64])); // Query without its NUL
    await raw.until(() => raw.closed);
    expect(raw.messages.find((m) => m.name === 'error')).toMatchObject({ code: '08P01', severity: 'FATAL' });
  });
});

describe('the server ending the session (issue 19, item 8)', () => {
  it('its FATAL reaches the client after what came before it, and the connection just closes: no error of the sidecar\'s own', async () => {
    const { listener } = await setup();
    const c = rawClient(listener.address.port);
    await login(c);
    c.send(serialize.query("SELECT 'terminate_me'"));
    await c.until(() => c.closed, 5000);
    expect(c.trace()).toEqual(['rowDescription', 'dataRow', 'E:57P01']);
  });

  it('node-pg: the query fails with 57P01, then one error event, as against PostgreSQL', async () => {
    const { listener } = await setup();
    const c = new pg.Client({ host: '127.0.0.1', port: listener.address.port, user: 'agent', password: ALICE_TOKEN, database: 'orders', options: PURPOSE_OPTIONS });
    const events: string[] = [];
    c.on('error', (e: Error & { code?: string }) => events.push(e.code ?? e.message));
    const ended = new Promise<void>((r) => c.once('end', () => r()));
    await c.connect();
    await expect(c.query("SELECT 'terminate_me'")).rejects.toMatchObject({ code: '57P01' });
    await ended;
    expect(events).toEqual(['Connection terminated unexpectedly']);
  });

  it('a FATAL in answer to a denied statement is relayed as the server sent it, not rewritten into the denial', async () => {
    const fake = await startFakeUpstream({ auth: 'scram', user: 'orders_app', password: 's3cret', fatalOn: /guarita_denied/ });
    cleanups.push(() => fake.close());
    const listener = await startPostgresListener({
      host: '127.0.0.1', port: 0, enforcer: pgEnv.enforcer, logger,
      target: { name: 'orders-db', host: '127.0.0.1', port: fake.port, database: 'orders', username: 'orders_app', password: 's3cret' },
    });
    cleanups.push(() => listener.close());
    const c = rawClient(listener.address.port);
    await login(c);
    c.send(serialize.query('DROP TABLE customers'));
    await c.until(() => c.closed, 5000);
    expect(c.trace()).toEqual(['E:57P01']);
  });

  it('a server that vanishes without a word: the sidecar says so (FATAL 08006)', async () => {
    const { listener } = await setup();
    const c = rawClient(listener.address.port);
    await login(c);
    c.send(serialize.query("SELECT 'vanish'"));
    await c.until(() => c.closed, 5000);
    expect(c.trace()).toEqual(['E:08006']);
  });
});
