// The auditor's side of an end-to-end run on the local control plane: `guarita export` of one
// policy's records from the stack's operator (asked again until `recorded` finds what the run left
// there, the records arriving asynchronously), then `guarita verify` of the operator's store
// against its anchor and of the exported file. As audrey (a session reader), with the real CLI.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubeconfigPath, loadHarnessState, requireKube } from '../harness/state.ts';
import { collect, type Ran } from './agent.ts';
import type { Stack } from './stack.ts';

const CLI = join(import.meta.dirname, '../../cli/bin/guarita');

/** An exit status, with the output only when it failed (so a failed expectation shows why). */
export interface Verdict { code: number; out: string }

export interface Audit {
  /** What `recorded` said of the last export: undefined if it never found the run's records (60 s). */
  summary: string | undefined;
  /** `guarita verify` of the operator's store, and of the exported JSONL file. */
  online: Verdict;
  offline: Verdict;
}

function guarita(s: Stack, policy: string, args: string[]): Promise<Ran> {
  const env = { ...process.env, KUBECONFIG: kubeconfigPath('audrey'), GUARITA_OPERATOR_URL: s.operator.url, GUARITA_OPERATOR_CA: requireKube().caFile };
  return collect(spawn(CLI, [...args, '-n', s.namespace, '--policy', policy], { env }), '');
}

const verdict = (run: Ran): Verdict => ({ code: run.code, out: run.code === 0 ? '' : run.stdout + run.stderr });

/** Exports `policy`'s records until `recorded` finds the run's, then verifies the chain online and offline. */
export async function auditPolicy(s: Stack, policy: string, recorded: (exportJsonl: string) => string | undefined): Promise<Audit> {
  let exported = '';
  let summary: string | undefined;
  for (let i = 0; i < 120 && summary === undefined; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 500));
    const run = await guarita(s, policy, ['export', '--format', 'jsonl']);
    if (run.code !== 0) throw new Error(`guarita export --policy ${policy} exited ${run.code}: ${run.stderr}`);
    exported = run.stdout;
    summary = recorded(exported);
  }
  const online = verdict(await guarita(s, policy, ['verify']));
  const file = join(loadHarnessState().runDir, `stack-${s.id}`, `${policy}.jsonl`);
  writeFileSync(file, exported, { mode: 0o600 });
  const offline = verdict(await guarita(s, policy, ['verify', '--file', file]));
  return { summary, online, offline };
}
