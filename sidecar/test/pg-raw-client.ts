// For tests only: a PostgreSQL client that sends raw protocol bytes (pg-protocol's serializer,
// or anything malformed) and collects the backend messages it gets back, parsed by pg-protocol.
import { connect, type Socket } from 'node:net';
import { serialize } from 'pg-protocol';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { Parser } from 'pg-protocol/dist/parser.js';

export class RawClient {
  readonly messages: BackendMessage[] = [];
  readonly socket: Socket;
  closed = false;
  /** BackendKeyData of the session, after login(). */
  key: { pid: number; secret: number } | undefined;
  private readonly parser = new Parser();
  private waiters: Array<() => void> = [];

  constructor(port: number, host = '127.0.0.1') {
    this.socket = connect(port, host);
    this.socket.on('data', (c: Buffer) => {
      try {
        this.parser.parse(c, (m) => this.messages.push(m));
      } catch {
        // A garbage answer fails the assertions on messages.
      }
      this.wake();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.socket.on('error', () => undefined);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  async until(pred: () => boolean, ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out; messages so far: ${this.messages.map((m) => m.name).join(',')}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  /** Resolves once `n` ReadyForQuery messages arrived in total. */
  async readyCount(n: number, ms = 10_000): Promise<void> {
    await this.until(() => this.messages.filter((m) => m.name === 'readyForQuery').length >= n, ms);
  }

  send(b: Buffer): void {
    this.socket.write(b);
  }

  async login(opts: { user?: string; database?: string; options?: string; token: string }): Promise<void> {
    this.send(serialize.startup({ user: opts.user ?? 'agent', database: opts.database ?? 'orders', ...(opts.options === undefined ? {} : { options: opts.options }) }));
    await this.until(() => this.closed || this.messages.some((m) => m.name === 'authenticationCleartextPassword'));
    this.send(serialize.password(opts.token));
    await this.until(() => this.closed || this.messages.some((m) => m.name === 'readyForQuery'), 10_000);
    const key = this.messages.find((m) => m.name === 'backendKeyData') as (BackendMessage & { processID: number; secretKey: number }) | undefined;
    if (key !== undefined) this.key = { pid: key.processID, secret: key.secretKey };
    this.messages.length = 0;
  }

  /** Names of the messages, with ReadyForQuery as `Z:<status>` and errors as `E:<sqlstate>`. */
  trace(): string[] {
    return this.messages.map((m) => {
      const x = m as BackendMessage & { status?: string; code?: string };
      if (m.name === 'readyForQuery') return `Z:${x.status ?? ''}`;
      if (m.name === 'error') return `E:${x.code ?? ''}`;
      return m.name;
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
