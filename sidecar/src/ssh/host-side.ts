// The host's side of an exec, shell or legacy scp channel, until it has closed or the sidecar has
// stopped waiting for it. ssh2 emits a channel's 'close' only when the peer's CHANNEL_CLOSE arrives,
// and OpenSSH's sshd sends that for a session channel only once the command has exited and let go
// of its output. When the sidecar closed the host's side (the ABANDONED_EXEC_MS bound after the
// agent left, a revocation, a shutdown, a spool failure) and waited for that confirmation, a command
// that ignores EOF (`sleep 86400`, a daemon holding the channel's descriptors) kept the record, the
// channel's and the connection's slots, the session and the upstream connection waiting for as long
// as it ran on the host (round 12c review). The sidecar now waits HOST_CLOSE_GRACE_MS for the
// confirmation, then stops waiting: the channel is recorded and its slots are freed at once.
/**
 * How long the host is given to confirm a close the sidecar asked for: a command that ends on EOF
 * (a shell, `cat`) has its exit status read within it; one that ignores EOF is not waited for.
 * Below the shutdown's STOP_WAIT_MS (index.ts), so a shutdown still records every channel.
 */
export const HOST_CLOSE_GRACE_MS = 1_000;

/** How the host's side ended: it closed ('closed'), or the sidecar closed it and stopped waiting ('abandoned'). */
export type HostEnd = 'closed' | 'abandoned';

export interface HostSide {
  /** Settles once, with how the host's side ended. */
  readonly ended: Promise<HostEnd>;
  /** Closes the host's side (once; later calls do nothing) and stops waiting for its confirmation after the grace. */
  close(): void;
}

/** What is used of the host's channel (an ssh2 ClientChannel). */
interface HostChannel { close(): unknown; once(event: 'close', listener: () => void): unknown }

/** Watches `host` from now on: attach it before anything can close the channel. */
export function watchHostSide(host: HostChannel, graceMs = HOST_CLOSE_GRACE_MS): HostSide {
  let settle: (how: HostEnd) => void = () => undefined;
  let timer: NodeJS.Timeout | undefined;
  let closing = false;
  const ended = new Promise<HostEnd>((resolve) => {
    let settled = false;
    settle = (how) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(how);
    };
  });
  host.once('close', () => settle('closed'));
  return {
    ended,
    close: () => {
      if (closing) return;
      closing = true;
      timer = setTimeout(() => settle('abandoned'), graceMs);
      timer.unref();
      host.close();
    },
  };
}
