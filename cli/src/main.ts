#!/usr/bin/env node
// Entry point of the `guarita` command (and of the npm package's bin): dispatches to the modules of
// command-table.ts. The shebang lets the compiled main.js run as the installed `guarita`.
import { realIo, type CliIo } from './io.ts';
import { UsageError } from './args.ts';
import { COMMANDS as commands } from './command-table.ts';
import { cliVersion } from './version.ts';
import { inertError, inertLine } from './inert.ts';

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: guarita <command> [flags]\n       guarita --version\n\ncommands:\n${lines.join('\n')}\n\nRun 'guarita <command> --help' for a command's flags.\n`;
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    io.stdout.write(`guarita ${cliVersion()}\n`);
    return 0;
  }
  const command = commands[name];
  if (command === undefined) {
    io.stderr.write(`guarita: unknown command '${inertLine(name)}'\n\n${usage()}`);
    return 2;
  }
  const mod = await command.load();
  return mod.run(rest, io);
}

/** Runs as the `guarita` process: argv, the real streams, the exit code. The krew launcher calls it too. */
export function runAsCommand(): void {
  main(process.argv.slice(2), realIo())
    .then((code) => { process.exitCode = code; })
    .catch((err: unknown) => {
      process.stderr.write(`guarita: ${inertError(err)}\n`);
      process.exitCode = err instanceof UsageError ? 2 : 1;
    });
}

if (import.meta.main) runAsCommand();
