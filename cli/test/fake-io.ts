// In-memory streams so tests run CLI commands in-process and read what they printed.
import { PassThrough, Readable } from 'node:stream';
import type { CliIo } from '../src/io.ts';

export interface CapturedIo extends CliIo { out(): string; err(): string }

/** stdin as one string, or as Buffers cut anywhere (even inside a character) to exercise chunking. */
export function fakeIo(opts: { stdin?: string | Buffer[]; env?: NodeJS.ProcessEnv } = {}): CapturedIo {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
  stdout.on('data', (c: Buffer) => chunks.out.push(c));
  stderr.on('data', (c: Buffer) => chunks.err.push(c));
  return {
    stdin: Readable.from(opts.stdin === undefined ? [] : typeof opts.stdin === 'string' ? [Buffer.from(opts.stdin)] : opts.stdin),
    stdout,
    stderr,
    env: opts.env ?? {},
    out: () => Buffer.concat(chunks.out).toString('utf8'),
    err: () => Buffer.concat(chunks.err).toString('utf8'),
  };
}
