// Entry point of the `guarita` command: dispatches to one module per subcommand so each
// command loads only what it needs (mask should not pay for the Kubernetes client).
import { realIo, type CliIo } from './io.ts';
import { UsageError } from './args.ts';

interface CommandModule { run(argv: string[], io: CliIo): Promise<number> }

const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  mask: { summary: 'mask personal identifiers in stdin (CPF, CNPJ, e-mail, phone, ...)', load: () => import('./commands/mask.ts') },
  policy: { summary: 'evaluate an AccessPolicy offline: policy eval --policy F --sql ... ', load: () => import('./commands/policy.ts') },
  approvals: { summary: 'list ApprovalRequests, or --watch them', load: () => import('./commands/approvals.ts') },
  approve: { summary: 'approve an ApprovalRequest', load: () => import('./commands/approve.ts') },
  deny: { summary: 'deny an ApprovalRequest', load: () => import('./commands/deny.ts') },
  sessions: { summary: 'list recorded sessions', load: () => import('./commands/sessions.ts') },
  replay: { summary: 'play a recorded session back', load: () => import('./commands/replay.ts') },
  verify: { summary: 'verify the tamper-evident chain of recordings or an export', load: () => import('./commands/verify.ts') },
  export: { summary: 'export an audit trail (jsonl or csv)', load: () => import('./commands/export.ts') },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: guarita <command> [flags]\n\ncommands:\n${lines.join('\n')}\n\nRun 'guarita <command> --help' for a command's flags.\n`;
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    io.stderr.write(`guarita: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const mod = await command.load();
  return mod.run(rest, io);
}

if (import.meta.main) {
  main(process.argv.slice(2), realIo())
    .then((code) => { process.exitCode = code; })
    .catch((err: unknown) => {
      process.stderr.write(`guarita: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = err instanceof UsageError ? 2 : 1;
    });
}
