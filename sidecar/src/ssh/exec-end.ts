// How an exec, shell or legacy scp channel ends: what its command record says, and what the agent
// is told. The record is written first and the exit status released only once it is (round 12b
// review: the agent got the host's exit status 0 for a command whose record the spool then failed);
// a record that cannot be written turns the answer into 69 (unavailable), as a failed write fails
// the command for the other targets. An agent that leaves while the command runs does not end it
// on the host (sshd does not signal a command without a terminal): the sidecar sends EOF and reads
// the host's exit status for ABANDONED_EXEC_MS, then records what it read, or says the outcome is
// unknown (round 12b review: the record had no status and no word that the agent left). Past the
// bound, as after a revocation or shutdown, the record does not wait for the host to confirm the
// close (host-side.ts, round 12c review).
import type { ServerChannel } from 'ssh2';
import type { CommandOutcome } from '../enforcement.ts';
import { errorMessage } from '../log.ts';

/**
 * How long the host's exit status is read for after the agent left during an exec or shell: the
 * same bound as PostgreSQL's answers for an agent that left (postgres ABANDONED_READ_MS). Past it
 * the host's channel is closed, the sidecar stops waiting for it after HOST_CLOSE_GRACE_MS
 * (host-side.ts), and the record says the outcome is unknown.
 */
export const ABANDONED_EXEC_MS = 30_000;

/** Exit status of the sidecar's own "unavailable" answer (docs/ssh.md, "Answers the agent sees"). */
const UNAVAILABLE = 69;
/** Exit status of a channel the sidecar closed (revocation, expiry, shutdown). */
const CLOSED = 126;

/** How the host's command ended: filled by the channel's 'exit' event (exit-status or exit-signal). */
export interface HostExit { code?: number; signal?: string }

/** What the channel saw, for its record. */
export interface ChannelEnd {
  exit: HostExit;
  bytes: { bytes: number; bytesIn: number };
  truncated: boolean;
  /** The agent closed its channel (or its connection went) before the host's side closed. */
  agentLeft: boolean;
  /** The sidecar closed the host's side: the session was closed (`revoked`), or the agent left and the exit did not come in time (`gaveUp`). */
  revoked?: string;
  gaveUp: boolean;
}

/**
 * The command record's result. An exit status read is stated; none read is never stated as one:
 * `outcomeUnknown` with an `error` saying why, when the sidecar closed the host's side before the
 * exit status came (the command may have run to its end, or on, on the host).
 */
export function endResult(end: ChannelEnd): NonNullable<CommandOutcome['result']> {
  const result: NonNullable<CommandOutcome['result']> = { ...end.bytes };
  if (end.exit.code !== undefined) result.status = end.exit.code;
  const unknown = outcomeUnknownWhy(end);
  if (unknown !== undefined) result.outcomeUnknown = true;
  const errors = [departure(end), end.exit.signal === undefined ? undefined : `killed by signal ${end.exit.signal}`, unknown].filter((e) => e !== undefined);
  if (errors.length > 0) result.error = errors.join('; ');
  if (end.truncated) result.truncated = true;
  return result;
}

function exitKnown(exit: HostExit): boolean {
  return exit.code !== undefined || exit.signal !== undefined;
}

/** What the record says of the agent leaving, if it left. */
function departure(end: ChannelEnd): string | undefined {
  if (!end.agentLeft) return undefined;
  return exitKnown(end.exit) ? 'the agent left while the command ran; the host\'s exit was read after it left' : 'the agent left while the command ran';
}

/** Why the host's outcome is unknown: the sidecar closed the host's side before its exit came. */
function outcomeUnknownWhy(end: ChannelEnd): string | undefined {
  if (exitKnown(end.exit)) return undefined;
  if (end.revoked !== undefined) return `the sidecar closed the channel (${end.revoked}) before the host's exit status came; the host's outcome was not read`;
  if (end.gaveUp) return `the host's exit status did not come within ${ABANDONED_EXEC_MS / 1000} s, so the sidecar closed the host channel and stopped reading it; the host's outcome was not read`;
  if (end.agentLeft) return 'the host closed its channel without an exit status';
  return undefined;
}

/**
 * Writes the record (`record`), then tells the agent how the command ended, if it is still there:
 * the host's exit status or signal, 126 for a channel the sidecar closed, 69 with the reason on
 * stderr when the record could not be written (the command ran: the answer is what fails).
 * Resolves with the record's failure, if any (for the log).
 */
export async function recordThenAnswer(agent: ServerChannel, end: ChannelEnd, record: () => Promise<void>): Promise<unknown> {
  let failure: unknown;
  try {
    await record();
  } catch (err) {
    failure = err ?? new Error('the record could not be written');
  }
  if (!agent.writable) return failure;
  if (failure !== undefined) {
    agent.stderr.write(`guarita: the command ran, but its record could not be written, so its outcome is withheld: ${errorMessage(failure).replace(/\r?\n/g, ' ')}\r\n`);
    agent.exit(UNAVAILABLE);
  } else if (end.revoked !== undefined) agent.exit(CLOSED);
  else if (end.exit.code !== undefined) agent.exit(end.exit.code);
  else if (end.exit.signal !== undefined) agent.exit(end.exit.signal, false, '');
  return failure;
}
