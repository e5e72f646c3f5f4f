// exec, attach and port-forward (pods/exec, pods/attach, pods/portforward): the WebSocket and SPDY
// streaming protocols. The listener judges these requests like any other and hands the allowed
// ones here; recording their frames is not written yet, so they are refused (and the refusal is
// recorded as the allowed request's outcome) rather than forwarded unrecorded.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { KubernetesAttributes } from '../../../core/policy/kubernetes-request.ts';
import type { Authorization, Session } from '../enforcement.ts';
import type { Logger } from '../log.ts';
import { statusOnSocket } from './status.ts';
import type { KubeUpstream } from './upstream.ts';

/** Subresources that switch protocols to a stream of frames. */
export const STREAMING_SUBRESOURCES = new Set(['exec', 'attach', 'portforward']);

export interface StreamingExchange {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  session: Session;
  auth: Extract<Authorization, { verdict: 'allow' }>;
  attributes: KubernetesAttributes;
  /** The normalized target to request upstream. */
  target: string;
  upstream: KubeUpstream;
  logger: Logger;
}

export async function serveStreaming(x: StreamingExchange): Promise<void> {
  const message = `guarita: ${x.attributes.resource}/${x.attributes.subresource} streaming sessions are not supported by this sidecar yet; the request was judged and is refused`;
  await x.auth.complete({ result: { status: 403, bytes: 0, error: 'streaming not supported yet' }, masked: {}, durationMs: 0 });
  x.socket.end(statusOnSocket(403, message));
}
