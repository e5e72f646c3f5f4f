// The connection from the sidecar to the real PostgreSQL server: TCP, TLS when the target asks
// for it, the startup packet, the password exchange with the credentials from the mounted
// Secret (SCRAM-SHA-256, md5 or cleartext), up to the first ReadyForQuery. Also the one-shot
// connection a CancelRequest needs.
import { connect as netConnect, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { serialize } from 'pg-protocol';
import type { AuthenticationMD5Password, BackendKeyDataMessage, DatabaseError, DataRowMessage, ReadyForQueryMessage } from 'pg-protocol/dist/messages.js';
import type { TransactionStatus } from './backend.ts';
import { AuthError, md5PasswordResponse, SCRAM_MECHANISM, ScramClient } from './scram.ts';
import { UpstreamReader, type BackendMessage } from './upstream-reader.ts';
import { upstreamLookup } from '../upstream-address.ts';

export interface PostgresTargetTls {
  mode: 'disable' | 'require' | 'verify-full';
  /** PEM CA bundle for verify-full (the system roots when absent). */
  ca?: string | Buffer;
  /** Name to verify in the certificate (default: host). */
  serverName?: string;
}

/** Where and as whom the sidecar connects upstream; the caller reads the mounted Secret. */
export interface PostgresTargetConfig {
  /** Target name (GUARITA_TARGETS[].target), handed to Enforcer.openSession. */
  name: string;
  host: string;
  port: number;
  /** Upstream database; when absent, the one the client asks for. */
  database?: string;
  username: string;
  password: string;
  tls?: PostgresTargetTls;
  /** Connect + authenticate timeout (default 10 s). */
  connectTimeoutMs?: number;
  /** The policy's spec.target.statementTimeout in ms: pinned upstream at startup, and enforced by the listener. */
  statementTimeoutMs?: number;
}

export interface UpstreamError {
  code: string;
  message: string;
  detail?: string;
}

export class UpstreamConnectError extends Error {
  readonly sqlstate: string;
  readonly detail: string | undefined;
  constructor(message: string, sqlstate = '08006', detail?: string) {
    super(message);
    this.name = 'UpstreamConnectError';
    this.sqlstate = sqlstate;
    this.detail = detail;
  }
}

export interface UpstreamConnection {
  socket: Socket | TLSSocket;
  reader: UpstreamReader;
  /** ParameterStatus values of the startup (checked against the pinned settings, masked, then forwarded to the client). */
  parameters: Map<string, string>;
  /** Notices sent during startup, forwarded to the client. */
  noticeMessages: Buffer[];
  backendKey: { processId: number; secretKey: number } | undefined;
  status: TransactionStatus;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new UpstreamConnectError(`upstream: ${what} timed out after ${ms} ms`));
    }, ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function tcpConnect(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // The pod's own addresses are refused (upstream-address.ts): /etc/hosts maps the pod's hostname to them.
    const socket = netConnect({ host, port, lookup: upstreamLookup });
    socket.setNoDelay(true);
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', (err) => reject(new UpstreamConnectError(`upstream ${host}:${port}: ${err.message}`)));
  });
}

function readOneByte(socket: Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      cleanup();
      if (chunk.length !== 1) {
        reject(new UpstreamConnectError('upstream: unexpected answer to SSLRequest'));
        return;
      }
      resolve(chunk[0] ?? 0);
    };
    const onError = (err: Error): void => { cleanup(); reject(new UpstreamConnectError(`upstream: ${err.message}`)); };
    const onClose = (): void => { cleanup(); reject(new UpstreamConnectError('upstream closed the connection during SSLRequest')); };
    const cleanup = (): void => {
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
    };
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
}

async function startTls(socket: Socket, target: PostgresTargetConfig, tlsCfg: PostgresTargetTls): Promise<TLSSocket> {
  socket.write(serialize.requestSsl());
  const answer = await readOneByte(socket);
  if (answer !== 0x53) throw new UpstreamConnectError(`upstream ${target.host}:${target.port} does not support TLS (tls.mode ${tlsCfg.mode})`);
  const servername = tlsCfg.serverName ?? target.host;
  const options: ConnectionOptions = {
    socket,
    rejectUnauthorized: tlsCfg.mode === 'verify-full',
    ...(/^[\d.]+$|:/.test(servername) ? {} : { servername }),
    ...(tlsCfg.ca === undefined ? {} : { ca: tlsCfg.ca }),
  };
  if (tlsCfg.mode === 'verify-full' && tlsCfg.serverName !== undefined) {
    options.checkServerIdentity = (_host, cert) => checkServerIdentity(servername, cert);
  }
  return new Promise((resolve, reject) => {
    const tlsSocket = tlsConnect(options, () => {
      tlsSocket.removeListener('error', onError);
      resolve(tlsSocket);
    });
    const onError = (err: Error): void => reject(new UpstreamConnectError(`upstream TLS: ${err.message}`));
    tlsSocket.once('error', onError);
  });
}

/** TCP, then TLS when configured. */
export async function openTransport(target: PostgresTargetConfig): Promise<Socket | TLSSocket> {
  const socket = await tcpConnect(target.host, target.port);
  const tlsCfg = target.tls;
  if (tlsCfg === undefined || tlsCfg.mode === 'disable') return socket;
  try {
    return await startTls(socket, target, tlsCfg);
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

type AuthMessage = BackendMessage & { mechanisms?: string[]; data?: string };

/** Drives authentication and startup until ReadyForQuery. */
class Handshake {
  private readonly target: PostgresTargetConfig;
  private readonly socket: Socket | TLSSocket;
  private scram: ScramClient | undefined;
  readonly result: UpstreamConnection;

  constructor(target: PostgresTargetConfig, socket: Socket | TLSSocket) {
    this.target = target;
    this.socket = socket;
    this.result = { socket, reader: new UpstreamReader(), parameters: new Map(), noticeMessages: [], backendKey: undefined, status: 'I' };
  }

  /** Returns true once ReadyForQuery arrived. */
  async handle(msg: BackendMessage, raw: Buffer): Promise<boolean> {
    if (msg.name.startsWith('authentication')) {
      await this.authenticate(msg);
      return false;
    }
    return this.startupMessage(msg, raw);
  }

  private startupMessage(msg: BackendMessage, raw: Buffer): boolean {
    switch (msg.name) {
      case 'parameterStatus': {
        const p = msg as BackendMessage & { parameterName: string; parameterValue: string };
        this.result.parameters.set(p.parameterName, p.parameterValue);
        return false;
      }
      case 'backendKeyData': {
        const k = msg as BackendKeyDataMessage;
        this.result.backendKey = { processId: k.processID, secretKey: k.secretKey };
        return false;
      }
      case 'notice':
        this.result.noticeMessages.push(Buffer.from(raw));
        return false;
      case 'error': {
        const e = msg as DatabaseError;
        throw new UpstreamConnectError(`upstream: ${e.message}`, e.code ?? '08006', e.detail);
      }
      case 'readyForQuery':
        this.result.status = (msg as ReadyForQueryMessage).status as TransactionStatus;
        return true;
      default:
        throw new UpstreamConnectError(`upstream: unexpected ${msg.name} during startup`, '08P01');
    }
  }

  private async authenticate(msg: AuthMessage): Promise<void> {
    const { username, password } = this.target;
    switch (msg.name) {
      case 'authenticationOk':
        if (this.scram !== undefined) throw new AuthError('SCRAM: server skipped its final message');
        return;
      case 'authenticationCleartextPassword':
        this.socket.write(serialize.password(password));
        return;
      case 'authenticationMD5Password':
        this.socket.write(serialize.password(md5PasswordResponse(username, password, (msg as unknown as AuthenticationMD5Password).salt)));
        return;
      case 'authenticationSASL':
        this.startScram(msg.mechanisms ?? []);
        return;
      default:
        await this.scramStep(msg);
    }
  }

  private async scramStep(msg: AuthMessage): Promise<void> {
    const scram = this.scram;
    if (msg.name !== 'authenticationSASLContinue' && msg.name !== 'authenticationSASLFinal') throw new AuthError(`unsupported authentication request ${msg.name}`);
    if (scram === undefined || msg.data === undefined) throw new AuthError(`SCRAM: unexpected ${msg.name}`);
    if (msg.name === 'authenticationSASLContinue') {
      this.socket.write(serialize.sendSCRAMClientFinalMessage(await scram.clientFinal(msg.data)));
      return;
    }
    scram.verifyServerFinal(msg.data);
    this.scram = undefined;
  }

  private startScram(mechanisms: string[]): void {
    if (!mechanisms.includes(SCRAM_MECHANISM)) throw new AuthError(`upstream offers SASL mechanisms ${mechanisms.join(', ')}; only ${SCRAM_MECHANISM} is supported`);
    this.scram = new ScramClient(this.target.password);
    this.socket.write(serialize.sendSASLInitialResponseMessage(SCRAM_MECHANISM, this.scram.clientFirst()));
  }
}

function runHandshake(socket: Socket | TLSSocket, target: PostgresTargetConfig, params: Record<string, string>): Promise<UpstreamConnection> {
  const hs = new Handshake(target, socket);
  return new Promise((resolve, reject) => {
    let chain: Promise<unknown> = Promise.resolve();
    let done = false;
    const fail = (err: unknown): void => {
      if (done) return;
      done = true;
      cleanup();
      reject(err instanceof UpstreamConnectError ? err : new UpstreamConnectError(`upstream authentication failed: ${err instanceof Error ? err.message : String(err)}`, err instanceof AuthError ? '28000' : '08006'));
    };
    const onMessage = (msg: BackendMessage, raw: Buffer): void => {
      chain = chain.then(async () => {
        if (done) return;
        if (await hs.handle(msg, raw)) {
          done = true;
          cleanup();
          resolve(hs.result);
        }
      }).catch(fail);
    };
    const onData = (chunk: Buffer): void => {
      try {
        hs.result.reader.push(chunk, onMessage);
      } catch (err) {
        fail(err);
      }
    };
    const onClose = (): void => fail(new UpstreamConnectError('upstream closed the connection during startup'));
    const onError = (err: Error): void => fail(new UpstreamConnectError(`upstream: ${err.message}`));
    const cleanup = (): void => {
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.removeListener('error', onError);
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onError);
    socket.write(serialize.startup(params));
  });
}

/**
 * Opens an authenticated upstream connection. `params` are the startup parameters besides
 * `user` and `database` (application_name, allowed settings); client_encoding is always UTF8.
 */
export async function connectUpstream(target: PostgresTargetConfig, database: string, params: Record<string, string>): Promise<UpstreamConnection> {
  const timeoutMs = target.connectTimeoutMs ?? 10_000;
  let socket: Socket | TLSSocket | undefined;
  const attempt = (async () => {
    socket = await openTransport(target);
    return runHandshake(socket, target, { ...params, user: target.username, database });
  })();
  try {
    return await withTimeout(attempt, timeoutMs, 'connection', () => socket?.destroy());
  } catch (err) {
    socket?.destroy();
    throw err;
  }
}

/** Sends a CancelRequest for an upstream backend (best effort, like libpq's PQcancel). */
export async function sendCancelRequest(target: PostgresTargetConfig, processId: number, secretKey: number): Promise<void> {
  let socket: Socket | TLSSocket | undefined;
  try {
    socket = await withTimeout(openTransport(target), target.connectTimeoutMs ?? 10_000, 'cancel', () => undefined);
    const s = socket;
    await new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      s.once('error', () => resolve());
      s.end(serialize.cancel(processId, secretKey));
    });
  } finally {
    socket?.destroy();
  }
}

/**
 * Runs one simple Query on an idle upstream connection before the client gets it (nothing else reads
 * it yet: the catalog check, the search_path fix-up); resolves with the text rows.
 */
export function upstreamRows(up: UpstreamConnection, sql: string, timeoutMs: number): Promise<(string | null)[][]> {
  const { socket } = up;
  return new Promise((resolve, reject) => {
    const rows: (string | null)[][] = [];
    let failure: Error | undefined;
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.removeListener('error', onError);
      if (err === undefined) resolve(rows);
      else reject(err);
    };
    const onMessage = (msg: BackendMessage): void => {
      if (msg.name === 'dataRow') rows.push((msg as DataRowMessage).fields as (string | null)[]);
      else if (msg.name === 'error') failure ??= new Error(`the query failed: ${(msg as DatabaseError).message} (SQLSTATE ${(msg as DatabaseError).code ?? '?'})`);
      else if (msg.name === 'readyForQuery') {
        up.status = (msg as ReadyForQueryMessage).status as TransactionStatus;
        finish(failure);
      }
    };
    const onData = (chunk: Buffer): void => {
      try {
        up.reader.push(chunk, onMessage);
      } catch (err) {
        finish(err instanceof Error ? err : new Error(String(err)));
      }
    };
    const onClose = (): void => finish(new Error('the upstream server closed the connection during the query'));
    const onError = (err: Error): void => finish(new Error(`upstream: ${err.message}`));
    const timer = setTimeout(() => finish(new Error(`the query did not answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onError);
    socket.write(serialize.query(sql));
  });
}
