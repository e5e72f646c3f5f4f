import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { serialize } from 'pg-protocol';
import { decodeFrontendMessage, FrontendReader, ProtocolError, type FrontendMessage } from './frontend.ts';

function startupPacket(params: Record<string, string>, version = 196608): Buffer {
  const body = Buffer.concat([...Object.entries(params).map(([k, v]) => Buffer.from(`${k}\0${v}\0`)), Buffer.from([0])]);
  const head = Buffer.alloc(8);
  head.writeInt32BE(body.length + 8, 0);
  head.writeInt32BE(version, 4);
  return Buffer.concat([head, body]);
}

function readAll(reader: FrontendReader): FrontendMessage[] {
  const out: FrontendMessage[] = [];
  let m: FrontendMessage | undefined;
  while ((m = reader.next()) !== undefined) out.push(m);
  return out;
}

/** A valid extended-protocol pipeline, as node-pg and psql send it. */
function pipelineBytes(): Buffer {
  return Buffer.concat([
    serialize.parse({ name: 's1', text: 'select $1::int, $2::text', types: [23, 25] }),
    serialize.bind({ portal: 'p1', statement: 's1', values: ['1', Buffer.from('x')], binary: true }),
    serialize.describe({ type: 'P', name: 'p1' }),
    serialize.execute({ portal: 'p1', rows: 10 }),
    serialize.close({ type: 'S', name: 's1' }),
    serialize.flush(),
    serialize.sync(),
    serialize.query('select 1; select 2'),
    serialize.copyData(Buffer.from('1\t2\n')),
    serialize.copyDone(),
    serialize.copyFail('nope'),
    serialize.end(),
  ]);
}

describe('FrontendReader: startup packets', () => {
  it('reads SSLRequest, GSSENCRequest, CancelRequest and StartupMessage', () => {
    const r = new FrontendReader();
    const gss = Buffer.alloc(8);
    gss.writeInt32BE(8, 0);
    gss.writeInt32BE(80877104, 4);
    r.push(Buffer.concat([serialize.requestSsl(), gss, serialize.cancel(4242, -7), startupPacket({ user: 'agent', database: 'orders', options: '-c guarita.purpose=customer-support' })]));
    expect(r.nextStartup()).toEqual({ type: 'sslRequest' });
    expect(r.nextStartup()).toEqual({ type: 'gssEncRequest' });
    expect(r.nextStartup()).toEqual({ type: 'cancel', processId: 4242, secretKey: -7 });
    expect(r.nextStartup()).toEqual({ type: 'startup', major: 3, minor: 0, params: [['user', 'agent'], ['database', 'orders'], ['options', '-c guarita.purpose=customer-support']] });
    expect(r.nextStartup()).toBeUndefined();
  });

  it('waits for a packet split across chunks, one byte at a time', () => {
    const r = new FrontendReader();
    const bytes = startupPacket({ user: 'u' });
    for (let i = 0; i < bytes.length - 1; i++) {
      r.push(bytes.subarray(i, i + 1));
      expect(r.nextStartup()).toBeUndefined();
    }
    r.push(bytes.subarray(bytes.length - 1));
    expect(r.nextStartup()).toMatchObject({ type: 'startup', params: [['user', 'u']] });
  });

  it('rejects absurd lengths, other protocol versions and unterminated parameters', () => {
    const huge = Buffer.alloc(8);
    huge.writeInt32BE(1 << 30, 0);
    for (const bad of [huge, startupPacket({ user: 'u' }, 2 << 16), Buffer.from([0, 0, 0, 4, 0, 3, 0, 0]), Buffer.concat([Buffer.from([0, 0, 0, 11, 0, 3, 0, 0]), Buffer.from('ab\0')])]) {
      const r = new FrontendReader();
      r.push(bad);
      expect(() => r.nextStartup()).toThrow(ProtocolError);
    }
  });
});

describe('FrontendReader: aborted startups are closed silently, as PostgreSQL does', () => {
  const silentOrNot = (bytes: Buffer): boolean | undefined => {
    const r = new FrontendReader();
    r.push(bytes);
    try {
      r.nextStartup();
      return undefined;
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      return err.silent;
    }
  };

  it('a typed message before the StartupMessage (its type byte reads as a huge length), and every invalid length: silent', () => {
    for (const type of 'QPBDCESHXcdfpF') expect(silentOrNot(Buffer.from([type.charCodeAt(0), 0, 0, 0, 4]))).toBe(true);
    for (const len of [0, 4, 7, -1, 10_005, 1 << 30]) {
      const b = Buffer.alloc(8);
      b.writeInt32BE(len, 0);
      expect(silentOrNot(b)).toBe(true);
    }
    const cancel = Buffer.alloc(12);
    cancel.writeInt32BE(12, 0);
    cancel.writeInt32BE(80877102, 4);
    expect(silentOrNot(cancel)).toBe(true);
  });

  it('the longest startup packet PostgreSQL reads (10,004 bytes) is read; other refusals are answered', () => {
    const pad = 'x'.repeat(10_004 - 8 - 'user\0u\0application_name\0\0\0'.length);
    const longest = startupPacket({ user: 'u', application_name: pad });
    expect(longest.length).toBe(10_004);
    expect(silentOrNot(longest)).toBeUndefined();
    expect(silentOrNot(startupPacket({ user: 'u' }, 4 << 16))).toBe(false);
    expect(silentOrNot(Buffer.concat([Buffer.from([0, 0, 0, 11, 0, 3, 0, 0]), Buffer.from('ab\0')]))).toBe(false);
  });

  it('SSLRequest and GSSENCRequest ignore trailing bytes (PostgreSQL answers them)', () => {
    const ssl = Buffer.alloc(12);
    ssl.writeInt32BE(12, 0);
    ssl.writeInt32BE(80877103, 4);
    const r = new FrontendReader();
    r.push(ssl);
    expect(r.nextStartup()).toEqual({ type: 'sslRequest' });
  });
});

describe('FrontendReader: typed messages', () => {
  it('decodes every message of a pipeline and keeps each message\'s exact bytes', () => {
    const bytes = pipelineBytes();
    const r = new FrontendReader();
    r.push(bytes);
    const msgs = readAll(r);
    expect(msgs.map((m) => m.type)).toEqual(['parse', 'bind', 'describe', 'execute', 'close', 'flush', 'sync', 'query', 'copyData', 'copyDone', 'copyFail', 'terminate']);
    expect(Buffer.concat(msgs.map((m) => m.raw)).equals(bytes)).toBe(true);
    expect(msgs[0]).toMatchObject({ name: 's1', sql: 'select $1::int, $2::text', paramTypes: [23, 25] });
    expect(msgs[1]).toMatchObject({ portal: 'p1', statement: 's1', paramCount: 2, resultFormats: [1] });
    expect(msgs[2]).toMatchObject({ target: 'P', name: 'p1' });
    expect(msgs[3]).toMatchObject({ portal: 'p1', maxRows: 10 });
    expect(msgs[4]).toMatchObject({ target: 'S', name: 's1' });
    expect(msgs[7]).toMatchObject({ sql: 'select 1; select 2' });
    expect(msgs[10]).toMatchObject({ message: 'nope' });
  });

  it('gives the same messages whatever the chunking', () => {
    const bytes = pipelineBytes();
    const whole = new FrontendReader();
    whole.push(bytes);
    const expected = readAll(whole).map((m) => m.raw.toString('hex'));
    for (let trial = 0; trial < 50; trial++) {
      const r = new FrontendReader();
      const got: string[] = [];
      let at = 0;
      while (at < bytes.length) {
        const n = 1 + Math.floor(Math.random() * 17);
        r.push(bytes.subarray(at, at + n));
        at += n;
        got.push(...readAll(r).map((m) => m.raw.toString('hex')));
      }
      expect(got).toEqual(expected);
    }
  });

  it('rejects unknown types, short lengths, oversized messages and trailing garbage', () => {
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.from([0x7a, 0, 0, 0, 4]), /invalid frontend message type/],
      [Buffer.from([0x51, 0, 0, 0, 3]), /invalid message length/],
      [Buffer.from([0x53, 0, 0, 0, 5, 0]), /trailing bytes/],
      [Buffer.from([0x51, 0, 0, 0, 6, 0x61, 0x62]), /unterminated string/],
      [Buffer.from([0x44, 0, 0, 0, 6, 0x58, 0]), /invalid target type/],
      [Buffer.from([0x45, 0, 0, 0, 7, 0, 0, 0]), /truncated/],
    ];
    for (const [bytes, message] of cases) {
      const r = new FrontendReader();
      r.push(bytes);
      expect(() => r.next()).toThrow(message);
    }
    const big = new FrontendReader({ maxMessageBytes: 1000 });
    big.push(Buffer.from([0x64, 0, 0, 0x10, 0]));
    expect(() => big.next()).toThrow(/exceeds the limit/);
  });

  it('rejects Bind with inconsistent counts, bad format codes and short parameters', () => {
    const good = serialize.bind({ portal: '', statement: 's', values: ['a', 'b'] });
    const badFormat = Buffer.from(good);
    badFormat.writeInt16BE(7, 5 + 1 + 2 + 2); // first parameter format code
    expect(() => decodeFrontendMessage(badFormat)).toThrow(/invalid format code 7/);
    const shortParam = Buffer.from(good);
    shortParam.writeInt32BE(1000, 5 + 1 + 2 + 2 + 4 + 2); // first parameter length
    expect(() => decodeFrontendMessage(shortParam)).toThrow(/truncated/);
  });
});

describe('FrontendReader: fuzz', () => {
  /** Every outcome must be a message, a wait for more bytes, or a ProtocolError: never another exception. */
  function drain(bytes: Buffer): { messages: number; error?: unknown } {
    const r = new FrontendReader({ maxMessageBytes: 1 << 20 });
    r.push(bytes);
    let messages = 0;
    try {
      while (r.next() !== undefined) messages++;
      return { messages };
    } catch (error) {
      return { messages, error };
    }
  }

  it('random bytes only ever yield messages or ProtocolErrors', () => {
    for (let i = 0; i < 3000; i++) {
      const bytes = randomBytes(1 + Math.floor(Math.random() * 64));
      if (i % 2 === 0) bytes[0] = 'QPBDECSHXcdfpF'.charCodeAt(i % 14);
      if (i % 3 === 0 && bytes.length >= 5) bytes.writeInt32BE(Math.min(bytes.length - 1, 4 + Math.floor(Math.random() * 60)), 1);
      const { error } = drain(bytes);
      if (error !== undefined) expect(error).toBeInstanceOf(ProtocolError);
    }
  });

  it('mutated and truncated valid pipelines only ever yield messages or ProtocolErrors, and decoded messages re-validate', () => {
    const base = pipelineBytes();
    for (let i = 0; i < 3000; i++) {
      const bytes = Buffer.from(base.subarray(0, 1 + Math.floor(Math.random() * base.length)));
      for (let k = 0; k < 1 + (i % 4); k++) bytes[Math.floor(Math.random() * bytes.length)] = Math.floor(Math.random() * 256);
      const r = new FrontendReader({ maxMessageBytes: 1 << 20 });
      r.push(bytes);
      try {
        let m: FrontendMessage | undefined;
        while ((m = r.next()) !== undefined) expect(decodeFrontendMessage(Buffer.from(m.raw)).type).toBe(m.type);
      } catch (error) {
        expect(error).toBeInstanceOf(ProtocolError);
      }
    }
  });
});
