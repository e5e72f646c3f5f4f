// Every `guarita` subcommand: main.ts dispatches on it, `guarita completion` completes from it.
// One module per command, loaded on use, so each command pays only for what it imports (mask and
// --version should not load the Kubernetes client).
import type { CliIo } from './io.ts';

export interface CommandModule { run(argv: string[], io: CliIo): Promise<number> }

export const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  check: { summary: 'check the installation and a namespace (checklist with fixes; exit 1 on failure)', load: () => import('./commands/check.ts') },
  mask: { summary: 'mask personal identifiers in stdin (CPF, CNPJ, e-mail, phone, ...)', load: () => import('./commands/mask.ts') },
  policy: { summary: 'evaluate an AccessPolicy offline: policy eval --policy F --sql ... ', load: () => import('./commands/policy.ts') },
  approvals: { summary: 'list ApprovalRequests, or --watch them', load: () => import('./commands/approvals.ts') },
  approve: { summary: 'approve an ApprovalRequest', load: () => import('./commands/approve.ts') },
  deny: { summary: 'deny an ApprovalRequest', load: () => import('./commands/deny.ts') },
  sessions: { summary: 'list recorded sessions', load: () => import('./commands/sessions.ts') },
  replay: { summary: 'play a recorded session back', load: () => import('./commands/replay.ts') },
  verify: { summary: 'verify the tamper-evident chain of recordings or an export', load: () => import('./commands/verify.ts') },
  export: { summary: 'export an audit trail (jsonl or csv)', load: () => import('./commands/export.ts') },
  version: { summary: 'print the CLI\'s version and the installed operator\'s and webhook\'s', load: () => import('./commands/version.ts') },
  completion: { summary: 'print a shell completion script: completion bash|zsh|fish', load: () => import('./commands/completion.ts') },
};
