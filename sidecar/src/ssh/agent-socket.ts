// The agent connection's socket as a backpressure signal. ssh2's server writes a channel's data to
// the socket whenever the channel's window allows it, and an agent grants the window: one that
// grants 4 GiB and never reads its socket left every channel stream saying "room" while the
// socket's user-space buffer grew without bound (round 10 review: +302 MiB for 160 MiB of output).
// So whatever the sidecar relays toward the agent (exec and shell output, scp, forwarded
// connections) also stops while the agent's socket holds more than one window of unsent bytes.

/** What backpressure reads of a socket (the SFTP budget, sftp-intake.ts, charges it too). */
export interface SocketBacklog {
  writableLength: number;
  writableNeedDrain: boolean;
  once(event: 'drain' | 'close', listener: () => void): unknown;
}

/** Unsent bytes toward the agent past which the sidecar stops reading what it relays: one SSH window. */
export const AGENT_SOCKET_HIGH = 2 * 1024 * 1024;

/** The agent's socket behind an ssh2 server channel (lib/Channel.js keeps its connection as `_client`, whose `_sock` is the socket); undefined if ssh2 changed. */
export function agentSocketOf(channel: unknown): SocketBacklog | undefined {
  const sock = (channel as { _client?: { _sock?: Partial<SocketBacklog> } })._client?._sock;
  return sock !== undefined && typeof sock.writableLength === 'number' && typeof sock.once === 'function' ? (sock as SocketBacklog) : undefined;
}

/** Whether the agent's socket holds more unsent bytes than AGENT_SOCKET_HIGH (its 'drain' will come). */
export function socketFull(socket: SocketBacklog | undefined): boolean {
  return socket !== undefined && socket.writableNeedDrain && socket.writableLength > AGENT_SOCKET_HIGH;
}

/** Something that says when it has room again. */
export interface Drains { once(event: 'drain', listener: () => void): unknown }

/**
 * Keeps a relay paused while any of the things it waited on is full: `block(key, drains)` pauses
 * (once per key) and resumes only when every key has drained. One gate per relay.
 */
export function drainGate(pause: () => void, resume: () => void): (key: string, drains: Drains) => void {
  const full = new Set<string>();
  return (key, drains) => {
    if (full.has(key)) return;
    full.add(key);
    pause();
    drains.once('drain', () => {
      full.delete(key);
      if (full.size === 0) resume();
    });
  };
}
