import { afterAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { askpassScript, MAX_TOKEN_PARTS, partPrompt, TOKEN_PART, tokenComplete } from './token-parts.ts';

// The token in parts: OpenSSH sends at most 1023 bytes of an answer. The sidecar asks part after
// part while each answer fills a part; the askpass helper it publishes prints the part asked for.

describe('tokenComplete', () => {
  it('an answer shorter than a part ends the token (a short token, or one printed whole and cut by OpenSSH)', () => {
    expect(tokenComplete([])).toBe(false);
    expect(tokenComplete(['a'.repeat(900)])).toBe(true);
    expect(tokenComplete(['a'.repeat(1023)])).toBe(true);
    expect(tokenComplete(['a'.repeat(TOKEN_PART)])).toBe(false);
    expect(tokenComplete(['a'.repeat(TOKEN_PART), ''])).toBe(true);
    expect(tokenComplete(['a'.repeat(TOKEN_PART), 'b'.repeat(38)])).toBe(true);
  });

  it('stops after MAX_TOKEN_PARTS however the answers come (a client answering full parts forever)', () => {
    expect(tokenComplete(Array(MAX_TOKEN_PARTS - 1).fill('a'.repeat(TOKEN_PART)))).toBe(false);
    expect(tokenComplete(Array(MAX_TOKEN_PARTS).fill('a'.repeat(TOKEN_PART)))).toBe(true);
  });
});

describe('the askpass helper (run by /bin/sh as OpenSSH runs SSH_ASKPASS)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'askpass-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const helper = join(dir, 'askpass');
  writeFileSync(helper, askpassScript(), { mode: 0o755 });
  const run = (prompt: string | undefined, tokenFile: string | undefined): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(helper, prompt === undefined ? [] : [prompt], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...(tokenFile === undefined ? {} : { GUARITA_SSH_TOKEN_FILE: tokenFile }) }, encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it.each([1, 999, 1000, 1001, 1038, 2000, 2999, 4321])('a %i-character token comes back whole from its parts, as the sidecar asks for them', (length) => {
    const token = Array.from({ length }, (_, i) => 'abcdefghijklmnopqrstuvwxyz0123456789-_.'[i % 39]).join('');
    const file = join(dir, `token-${length}`);
    // A projected token file: no newline; a hand-written one: with one.
    writeFileSync(file, length % 2 === 0 ? `${token}\n` : token);
    const parts: string[] = [];
    while (!tokenComplete(parts)) {
      const r = run(partPrompt(parts.length + 1), file);
      expect(r.status).toBe(0);
      // What OpenSSH keeps of an answer: 1023 bytes, the line end stripped.
      parts.push(r.stdout.slice(0, 1023).replace(/\r?\n$/, ''));
    }
    expect(parts.join('')).toBe(token);
    expect(parts.every((p) => p.length <= TOKEN_PART)).toBe(true);
  });

  it('prints the whole token to a prompt that names no part, and says what to set when the file is not given', () => {
    const file = join(dir, 'token-whole');
    writeFileSync(file, 'x'.repeat(1500));
    expect(run('Password: ', file).stdout).toBe('x'.repeat(1500));
    expect(run(undefined, file).stdout).toBe('x'.repeat(1500));
    const missing = run(partPrompt(1), undefined);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('GUARITA_SSH_TOKEN_FILE');
  });
});
