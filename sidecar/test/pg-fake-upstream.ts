// For the listener's unit tests only: a tiny PostgreSQL server speaking enough of the protocol
// (password methods, TLS, simple and extended queries with canned results, errors and the
// skip-until-Sync rule) to test the listener without a real server. It validates every frame
// it receives, so a test can assert that nothing malformed ever reached the upstream.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { Writer } from 'pg-protocol/dist/buffer-writer.js';
import { authenticationOk, backendKeyData, dataRow, errorResponse, parameterStatus, readyForQuery } from '../src/postgres/backend.ts';
import { decodeFrontendMessage, FrontendReader, type FrontendMessage } from '../src/postgres/frontend.ts';

export type FakeAuth = 'trust' | 'cleartext' | 'md5' | 'scram';

export interface FakeUpstreamOptions {
  auth: FakeAuth;
  user: string;
  password: string;
  tls?: { cert: string; key: string };
  /** Simple queries matching it are answered with FATAL 57P01 and the connection closed (an administrator's kill at that moment). */
  fatalOn?: RegExp;
}

export interface FakeUpstream {
  port: number;
  /** Every message received after startup, in order, per connection. */
  received: FrontendMessage[][];
  /** Frames that failed validation (must stay empty). */
  invalid: Buffer[];
  startups: Array<Record<string, string>>;
  cancels: Array<{ pid: number; key: number }>;
  close(): Promise<void>;
}

export const FAKE_PID = 4242;
export const FAKE_KEY = 777;

function rowDescription(columns: Array<{ name: string; oid: number }>): Buffer {
  const w = new Writer().addInt16(columns.length);
  for (const c of columns) w.addCString(c.name).addInt32(0).addInt16(0).addInt32(c.oid).addInt16(-1).addInt32(-1).addInt16(0);
  return w.flush(0x54);
}

const COLUMNS = [{ name: 'id', oid: 23 }, { name: 'email', oid: 25 }];
const ROW = dataRow([Buffer.from('1'), Buffer.from('ana.ferreira7@exemplo.com.br')]);
const tag = (t: string): Buffer => new Writer().addCString(t).flush(0x43);
const simple = (code: number): Buffer => new Writer().flush(code);

class FakeConnection {
  private socket: Socket | TLSSocket;
  private readonly reader = new FrontendReader();
  private readonly opts: FakeUpstreamOptions;
  private readonly fake: FakeUpstream;
  private phase: 'startup' | 'auth' | 'scram-final' | 'ready' = 'startup';
  private ignoreTillSync = false;
  private status: 'I' | 'T' | 'E' = 'I';
  private readonly log: FrontendMessage[] = [];
  private salt = randomBytes(16);
  private scramNonce = '';
  private clientFirstBare = '';
  private serverFirst = '';
  private md5Salt = randomBytes(4);

  constructor(socket: Socket, opts: FakeUpstreamOptions, fake: FakeUpstream) {
    this.socket = socket;
    this.opts = opts;
    this.fake = fake;
    fake.received.push(this.log);
    this.listen(socket);
  }

  private listen(s: Socket | TLSSocket): void {
    s.on('data', (c: Buffer) => this.onData(c));
    s.on('error', () => undefined);
  }

  private onData(chunk: Buffer): void {
    this.reader.push(chunk);
    try {
      while (this.step());
    } catch {
      this.fake.invalid.push(chunk);
      this.socket.destroy();
    }
  }

  private step(): boolean {
    if (this.phase === 'startup') {
      const p = this.reader.nextStartup();
      if (p === undefined) return false;
      if (p.type === 'sslRequest') {
        this.onSsl();
        return false;
      }
      if (p.type === 'cancel') {
        this.fake.cancels.push({ pid: p.processId, key: p.secretKey });
        this.socket.end();
        return false;
      }
      if (p.type !== 'startup') return true;
      this.fake.startups.push(Object.fromEntries(p.params));
      this.startAuth();
      return true;
    }
    const raw = this.reader.nextRaw();
    if (raw === undefined) return false;
    const m = decodeFrontendMessage(Buffer.from(raw));
    if (this.phase !== 'ready') this.authStep(m);
    else this.onMessage(m);
    return true;
  }

  private onSsl(): void {
    if (this.opts.tls === undefined) {
      this.socket.write('N');
      return;
    }
    this.socket.removeAllListeners('data');
    this.socket.write('S');
    const secure = new TLSSocket(this.socket, { isServer: true, cert: this.opts.tls.cert, key: this.opts.tls.key });
    this.socket = secure;
    this.listen(secure);
  }

  private startAuth(): void {
    const w = new Writer();
    switch (this.opts.auth) {
      case 'trust': this.finishAuth(); return;
      case 'cleartext': this.socket.write(w.addInt32(3).flush(0x52)); break;
      case 'md5': this.socket.write(w.addInt32(5).add(this.md5Salt).flush(0x52)); break;
      case 'scram': this.socket.write(w.addInt32(10).addCString('SCRAM-SHA-256').addCString('').flush(0x52)); break;
    }
    this.phase = 'auth';
  }

  private fail(code: string, message: string): void {
    this.socket.end(errorResponse({ severity: 'FATAL', code, message }));
  }

  private authStep(m: FrontendMessage): void {
    if (m.type !== 'password') return this.fail('08P01', 'expected password');
    const { auth, user, password } = this.opts;
    if (auth === 'cleartext') return m.body.toString('utf8', 0, m.body.length - 1) === password ? this.finishAuth() : this.fail('28P01', `password authentication failed for user "${user}"`);
    if (auth === 'md5') {
      const inner = createHash('md5').update(password + user).digest('hex');
      const expected = `md5${createHash('md5').update(Buffer.concat([Buffer.from(inner), this.md5Salt])).digest('hex')}`;
      return m.body.toString('utf8', 0, m.body.length - 1) === expected ? this.finishAuth() : this.fail('28P01', `password authentication failed for user "${user}"`);
    }
    return this.phase === 'auth' ? this.scramFirst(m.body) : this.scramFinal(m.body);
  }

  private scramFirst(body: Buffer): void {
    const nul = body.indexOf(0);
    const len = body.readInt32BE(nul + 1);
    const clientFirst = body.toString('utf8', nul + 5, nul + 5 + len);
    this.clientFirstBare = clientFirst.replace(/^[^,]*,[^,]*,/, '');
    const clientNonce = /r=([^,]*)/.exec(this.clientFirstBare)?.[1] ?? '';
    this.scramNonce = clientNonce + randomBytes(12).toString('base64');
    this.serverFirst = `r=${this.scramNonce},s=${this.salt.toString('base64')},i=4096`;
    this.socket.write(new Writer().addInt32(11).addString(this.serverFirst).flush(0x52));
    this.phase = 'scram-final';
  }

  private scramFinal(body: Buffer): void {
    const clientFinal = body.toString('utf8');
    const withoutProof = clientFinal.replace(/,p=.*$/, '');
    const proof = Buffer.from(/p=(.*)$/.exec(clientFinal)?.[1] ?? '', 'base64');
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const salted = pbkdf2Sync(this.opts.password, this.salt, 4096, 32, 'sha256');
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    const storedKey = createHash('sha256').update(clientKey).digest();
    const signature = createHmac('sha256', storedKey).update(authMessage).digest();
    const recovered = Buffer.from(proof.map((b, i) => b ^ (signature[i] ?? 0)));
    if (!createHash('sha256').update(recovered).digest().equals(storedKey)) return this.fail('28P01', `password authentication failed for user "${this.opts.user}"`);
    const serverSig = createHmac('sha256', createHmac('sha256', salted).update('Server Key').digest()).update(authMessage).digest('base64');
    this.socket.write(new Writer().addInt32(12).addString(`v=${serverSig}`).flush(0x52));
    this.finishAuth();
  }

  private finishAuth(): void {
    this.phase = 'ready';
    this.socket.write(Buffer.concat([
      authenticationOk(), parameterStatus('server_version', '15.0 (fake)'), parameterStatus('client_encoding', 'UTF8'), parameterStatus('server_encoding', 'UTF8'), parameterStatus('standard_conforming_strings', 'on'),
      backendKeyData(FAKE_PID, FAKE_KEY), readyForQuery('I'),
    ]));
  }

  private error(message: string, code = '42601'): void {
    this.socket.write(errorResponse({ code, message }));
  }

  private onMessage(m: FrontendMessage): void {
    this.log.push(m);
    if (m.type === 'terminate') return void this.socket.end();
    if (this.ignoreTillSync && m.type !== 'sync') return;
    if (m.type === 'query') return this.onQuery(m.sql);
    if (m.type === 'sync') {
      this.ignoreTillSync = false;
      this.socket.write(readyForQuery(this.status));
      return;
    }
    this.onExtended(m);
  }

  private onQuery(sql: string): void {
    // A server that dies without a word, and one that ends the session with its FATAL after a row.
    if (/vanish/.test(sql)) return void this.socket.destroy();
    if (this.opts.fatalOn?.test(sql) === true) {
      this.socket.end(errorResponse({ severity: 'FATAL', code: '57P01', message: 'terminating connection due to administrator command' }));
      return;
    }
    if (/terminate_me/.test(sql)) {
      this.socket.end(Buffer.concat([rowDescription(COLUMNS), ROW, errorResponse({ severity: 'FATAL', code: '57P01', message: 'terminating connection due to administrator command' })]));
      return;
    }
    if (/guarita_denied|fail/.test(sql)) {
      this.error(`syntax error at or near "${sql.slice(0, 20)}"`);
      if (this.status === 'T') this.status = 'E';
    } else if (/^begin/i.test(sql)) {
      this.status = 'T';
      this.socket.write(tag('BEGIN'));
    } else if (/^(commit|rollback)/i.test(sql)) {
      this.status = 'I';
      this.socket.write(tag('ROLLBACK'));
    } else {
      this.socket.write(Buffer.concat([rowDescription(COLUMNS), ROW, tag('SELECT 1')]));
    }
    this.socket.write(readyForQuery(this.status));
  }

  private extendedError(message: string): void {
    this.error(message);
    this.ignoreTillSync = true;
    if (this.status === 'T') this.status = 'E';
  }

  private onExtended(m: FrontendMessage): void {
    switch (m.type) {
      case 'parse':
        if (/guarita_denied|fail/.test(m.sql)) return this.extendedError('syntax error');
        return void this.socket.write(simple(0x31));
      case 'bind':
        if (m.statement.startsWith('guarita.denied')) return this.extendedError(`prepared statement "${m.statement}" does not exist`);
        return void this.socket.write(simple(0x32));
      case 'describe':
        return void this.socket.write(m.target === 'S' ? Buffer.concat([new Writer().addInt16(0).flush(0x74), rowDescription(COLUMNS)]) : rowDescription(COLUMNS));
      case 'execute':
        if (m.portal.startsWith('guarita.denied')) return this.extendedError(`portal "${m.portal}" does not exist`);
        return void this.socket.write(Buffer.concat([ROW, tag('SELECT 1')]));
      case 'close':
        return void this.socket.write(simple(0x33));
      default:
        return undefined;
    }
  }
}

export async function startFakeUpstream(opts: FakeUpstreamOptions): Promise<FakeUpstream> {
  const sockets = new Set<Socket>();
  const fake: FakeUpstream = { port: 0, received: [], invalid: [], startups: [], cancels: [], close: () => Promise.resolve() };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    new FakeConnection(socket, opts, fake);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  fake.port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  fake.close = () => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.close(() => r());
  });
  return fake;
}
