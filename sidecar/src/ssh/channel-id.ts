// The number that names an SSH channel in records: the sidecar's own id for the agent's channel
// (ssh2 keeps it as `incoming.id` on session channels and on the SFTP wrapper of one), unique
// among the connection's open channels. Command records and stream records of one exec, shell or
// SFTP session carry the same number, so an auditor can tell apart two sessions running the same
// command at once.
export function channelIdOf(channel: object): number {
  return (channel as { incoming?: { id?: number } }).incoming?.id ?? 0;
}
