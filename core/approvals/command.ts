// The command an ApprovalRequest shows reviewers, and the hash the sidecar binds the approval to.
// Both are derived from the text alone, by the sidecar that creates the request and by the
// admission webhook that admits it: a request whose preview or hash is not its text's would show
// reviewers one command and approve another.
import { createHash } from 'node:crypto';

/** The first line of the command, shortened for `kubectl get` (80 characters at most). */
export function commandPreview(text: string): string {
  const line = text.split('\n', 1)[0]?.trim() ?? '';
  return line.length > 80 ? `${line.slice(0, 77)}...` : line;
}

export function commandSha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Why spec.command does not describe one command consistently; empty when it does. */
export function commandProblems(command: { text: string; preview: string; sha256: string }): string[] {
  const problems: string[] = [];
  const sha256 = commandSha256(command.text);
  if (command.sha256 !== sha256) problems.push(`spec.command.sha256: is not the SHA-256 of spec.command.text (${sha256}); the approval would bind another command than the one reviewers read`);
  const preview = commandPreview(command.text);
  if (command.preview !== preview) problems.push(`spec.command.preview: must be the first line of spec.command.text, shortened to 80 characters (${JSON.stringify(preview)}); reviewers read it in kubectl get`);
  return problems;
}
