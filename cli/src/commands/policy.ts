// Placeholder until issue 5 lands: says so plainly instead of pretending to work.
import type { CliIo } from '../io.ts';

export function run(_argv: string[], io: CliIo): Promise<number> {
  io.stderr.write('guarita policy: not implemented yet (tracked in issue 5)\n');
  return Promise.resolve(3);
}
