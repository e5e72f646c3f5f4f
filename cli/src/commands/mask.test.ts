import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fakeIo } from '../../test/fake-io.ts';
import { run } from './mask.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Result { code: number; stdout: string; stderr: string }

/** Runs the command in-process; stdin arrives in the given chunks (Buffers, cut anywhere, even inside a character). */
async function cli(argv: string[], stdin: string | Buffer[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  const io = fakeIo({ stdin, env });
  const code = await run(argv, io);
  return { code, stdout: io.out(), stderr: io.err() };
}

function bytesIn(text: string, size: number): Buffer[] {
  const all = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let i = 0; i < all.length; i += size) chunks.push(all.subarray(i, i + size));
  return chunks;
}

const LOG = 'João (CPF 529.982.247-25) ligou de (11) 91234-5678; e-mail joao.silva@empresa.com.br; CEP 01310-100.\n';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'guarita-mask-cli-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('guarita mask', () => {
  it('masks text with the partial style by default', async () => {
    const r = await cli([], LOG);
    expect(r).toEqual({ code: 0, stderr: '', stdout: 'João (CPF ***.***.***-25) ligou de (**) *****-5678; e-mail j***@e***.br; CEP 01***-***.\n' });
  });

  it('gives the same output however stdin is chunked, even inside a UTF-8 character', async () => {
    const big = LOG.repeat(50);
    const whole = await cli([], big);
    for (const size of [1, 3, 7, 100]) expect((await cli([], bytesIn(big, size))).stdout).toBe(whole.stdout);
  });

  it('detects JSON and masks by key and value; --format text still reads a line that opens JSON as JSON (round 10)', async () => {
    const doc = '{"cpf": "000", "obs": "tel (11) 91234-5678"}\n';
    expect((await cli([], doc)).stdout).toBe('{"cpf": "***", "obs": "tel (**) *****-5678"}\n');
    expect((await cli(['--format', 'json'], bytesIn(doc, 2))).stdout).toBe('{"cpf": "***", "obs": "tel (**) *****-5678"}\n');
    expect((await cli(['--format', 'text'], doc)).stdout).toBe('{"cpf": "***", "obs": "tel (**) *****-5678"}\n');
    expect((await cli(['--format', 'text'], `note: ${doc}`)).stdout).toBe('note: {"cpf": "000", "obs": "tel (**) *****-5678"}\n');
  });

  it('prints per-type counts to stderr with --stats', async () => {
    const r = await cli(['--stats', '--style', 'redact'], LOG);
    expect(r.stdout).toBe('João (CPF [CPF]) ligou de [PHONE]; e-mail [EMAIL]; CEP [CEP].\n');
    expect(r.stderr).toBe('guarita mask: 4 value(s) masked\n  cep   1\n  cpf   1\n  email 1\n  phone 1\n  total 4\n');
  });

  it('runs only the detectors asked for', async () => {
    const r = await cli(['--detectors', 'email,cep'], LOG);
    expect(r.stdout).toBe('João (CPF 529.982.247-25) ligou de (11) 91234-5678; e-mail j***@e***.br; CEP 01***-***.\n');
  });

  it('refuses hash without a key, and takes it from GUARITA_HASH_KEY or --hash-key-file', async () => {
    const refused = await cli(['--style', 'hash'], LOG);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--style hash needs an HMAC key: pass --hash-key-file FILE or set GUARITA_HASH_KEY/);
    expect(refused.stdout).toBe('');

    const viaEnv = await cli(['--style', 'hash'], 'CPF 52998224725', { GUARITA_HASH_KEY: 'a-test-key-of-32-bytes-0123456789' });
    expect(viaEnv.stdout).toMatch(/^CPF cpf:hmac:[0-9a-f]{16}$/);
    const file = join(dir, 'key');
    writeFileSync(file, 'a-test-key-of-32-bytes-0123456789\n');
    const viaFile = await cli(['--style', 'hash', '--hash-key-file', file], 'CPF 529.982.247-25');
    expect(viaFile.stdout).toBe(viaEnv.stdout);

    const short = await cli(['--style', 'hash'], 'x', { GUARITA_HASH_KEY: 'short' });
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/at least 16/);
  });

  it('reports usage errors with exit code 2', async () => {
    for (const argv of [['--style', 'blur'], ['--detectors', 'cpf,rg'], ['--format', 'xml'], ['--nope'], ['extra']]) {
      const r = await cli(argv, '');
      expect([argv, r.code]).toEqual([argv, 2]);
      expect(r.stderr).toMatch(/^guarita mask: .+\n\nusage: guarita mask/);
    }
    const help = await cli(['--help'], '');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: guarita mask/);
  });

  it('handles empty input', async () => {
    expect(await cli([], '')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await cli([], '  \n')).stdout).toBe('  \n');
  });

  it('runs for real as `cli/bin/guarita mask`', () => {
    const r = spawnSync(join(ROOT, 'cli/bin/guarita'), ['mask', '--stats'], { input: LOG, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('João (CPF ***.***.***-25) ligou de (**) *****-5678; e-mail j***@e***.br; CEP 01***-***.\n');
    expect(r.stderr).toContain('4 value(s) masked');
  });
});
