// Waiting on the agent's connection without leaving anything behind once the wait is over: every
// listener one exchange adds to a response or socket is removed when it is no longer needed, and a
// connection that is gone already is seen as gone (its 'close' fired before anyone listened, and
// does not fire again: round 12b, finding 2).
import type { Duplex } from 'node:stream';
import { agentGone } from './stream-relay.ts';

/**
 * A signal aborted when the agent's connection closes, at once when it is gone already; `stop()`
 * removes the listener once the exchange no longer needs it.
 */
export function goneSignal(socket: Duplex): { signal: AbortSignal; stop(): void } {
  const gone = new AbortController();
  const onClose = (): void => gone.abort(new Error('the client closed the connection'));
  if (agentGone(socket)) {
    onClose();
    return { signal: gone.signal, stop: () => undefined };
  }
  socket.once('close', onClose);
  return { signal: gone.signal, stop: () => { socket.off('close', onClose); } };
}
