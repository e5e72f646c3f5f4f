// guarita deny NAME --reason "..."
import type { CliIo } from '../io.ts';
import { decide } from '../decide.ts';

export function run(argv: string[], io: CliIo): Promise<number> {
  return decide(argv, io, 'deny', 'Denied');
}
