// The agent's token over keyboard-interactive, in parts. OpenSSH's clients read an answer (typed,
// or SSH_ASKPASS's output) into a 1024-byte buffer: at most 1023 bytes of a password reach the
// server (readpass.c read_passphrase), and a pod's bound service-account token is longer (about
// 1,040 bytes on a bare control plane, more where it names the node), so the token arrived cut
// and every login failed. The sidecar asks for the token TOKEN_PART characters at a time: the
// prompt names the part, and the askpass helper it publishes (askpassScript) prints that part.
// An answer shorter than TOKEN_PART ends the token, so a helper that prints the whole token to
// any prompt (the convention before) still logs in with a token that fits one answer; one of
// exactly TOKEN_PART characters asks for the next part.

/** Characters of the token per answer (under OpenSSH's 1023, newline stripped). */
export const TOKEN_PART = 1000;
/** Parts asked at most (a token of up to 32,000 characters). */
export const MAX_TOKEN_PARTS = 32;

/** The keyboard-interactive prompt for part `n` (1-based): askpassScript reads the number from "part N:". */
export function partPrompt(n: number): string {
  return `Guarita token (OIDC or service-account JWT), part ${n}: `;
}

/** The answers so far make the whole token: the last one is shorter than a part, or MAX_TOKEN_PARTS were asked. */
export function tokenComplete(parts: readonly string[]): boolean {
  const last = parts.at(-1);
  return last === undefined ? false : last.length !== TOKEN_PART || parts.length >= MAX_TOKEN_PARTS;
}

/** One answer as OpenSSH sends it, its line end and surrounding blanks dropped. */
export function answerText(answer: string | undefined): string {
  return (answer ?? '').trim();
}

/**
 * The SSH_ASKPASS helper published beside ssh_config: prints the part of the token file
 * ($GUARITA_SSH_TOKEN_FILE) the prompt asks for, or the whole token to any other prompt. POSIX sh,
 * tr, sed and cut only (busybox and Debian images alike).
 */
export function askpassScript(): string {
  return [
    '#!/bin/sh',
    '# Written by the Guarita sidecar: SSH_ASKPASS for ssh, scp and sftp to this target. It prints the',
    '# agent token in $GUARITA_SSH_TOKEN_FILE, or the part the sidecar asks for ("part N:"), since',
    `# OpenSSH sends at most 1023 bytes of an answer. Usage: GUARITA_SSH_TOKEN_FILE=/path/to/token`,
    '# SSH_ASKPASS=<this file> SSH_ASKPASS_REQUIRE=force ssh -F <ssh_config> PURPOSE@TARGET COMMAND',
    'set -eu',
    'file="${GUARITA_SSH_TOKEN_FILE:?set GUARITA_SSH_TOKEN_FILE to the file holding the agent token}"',
    `part=$(printf '%s\\n' "\${1:-}" | sed -n 's/.*part \\([0-9][0-9]*\\):.*/\\1/p')`,
    `if [ -z "$part" ]; then exec tr -d '\\r\\n' < "$file"; fi`,
    `tr -d '\\r\\n' < "$file" | cut -c "$(( (part - 1) * ${TOKEN_PART} + 1 ))-$(( part * ${TOKEN_PART} ))"`,
    '',
  ].join('\n');
}
