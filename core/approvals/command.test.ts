import { describe, expect, it } from '@jest/globals';
import { commandPreview, commandProblems, commandSha256 } from './command.ts';

describe('spec.command consistency', () => {
  const text = 'GET /customers/export?page=1\naccept: text/csv';
  const ok = { text, preview: commandPreview(text), sha256: commandSha256(text) };

  it('accepts a command whose preview and hash are its text\'s', () => {
    expect(ok.preview).toBe('GET /customers/export?page=1');
    expect(commandProblems(ok)).toEqual([]);
  });

  it('shortens long first lines to 80 characters', () => {
    expect(commandPreview(`SELECT ${'x, '.repeat(40)}1`)).toHaveLength(80);
  });

  it.each([
    ['the hash of another command', { ...ok, sha256: commandSha256('GET /customers/export?page=all') }, /spec\.command\.sha256: is not the SHA-256 of spec\.command\.text/],
    ['a preview of another command', { ...ok, preview: 'GET /customers/1' }, /spec\.command\.preview: must be the first line/],
  ])('names %s', (_what, command, problem) => {
    expect(commandProblems(command)).toEqual([expect.stringMatching(problem)]);
  });
});
