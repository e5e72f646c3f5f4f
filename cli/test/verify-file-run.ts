// Test support for `guarita verify --file` (imported by tests only): writes export lines to a file in
// `dir` and runs the command on it, as a user would, answering its exit code and what it printed.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { run } from '../src/commands/verify.ts';

export async function verifyFile(dir: string, lines: readonly unknown[], args: string[] = []): Promise<{ code: number; out: string }> {
  const file = join(dir, `export-${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(file, `${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`);
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => { text += d.toString(); });
  const code = await run(['--file', file, ...args], { stdin: Readable.from([]), stdout: out, stderr: new PassThrough(), env: { NO_COLOR: '1' } });
  return { code, out: text };
}
