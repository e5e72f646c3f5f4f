// Runs `guarita ...` in-process the way cli/src/main.ts does when started as a command: thrown
// errors become the printed message and exit code 1 (2 for usage errors).
import { UsageError } from '../src/args.ts';
import { main } from '../src/main.ts';
import { fakeIo } from './fake-io.ts';

export interface CliResult { code: number; out: string; err: string }

export async function runCli(argv: string[], opts: { env?: NodeJS.ProcessEnv; stdin?: string } = {}): Promise<CliResult> {
  const io = fakeIo({ env: opts.env ?? {}, ...(opts.stdin === undefined ? {} : { stdin: opts.stdin }) });
  let code: number;
  try {
    code = await main(argv, io);
  } catch (err) {
    io.stderr.write(`guarita: ${err instanceof Error ? err.message : String(err)}\n`);
    code = err instanceof UsageError ? 2 : 1;
  }
  await new Promise((resolve) => setImmediate(resolve));
  return { code, out: io.out(), err: io.err() };
}
