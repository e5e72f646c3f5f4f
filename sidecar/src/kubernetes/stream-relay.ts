// What both stream relays share: WebSocket message data as one Buffer, and sending with
// backpressure, so a side that never reads pauses the other instead of growing the sidecar.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type WebSocket from 'ws';
import type { Session } from '../enforcement.ts';

/** Most bytes queued toward either side before the other side is paused. */
export const HIGH_WATER_BYTES = 1024 * 1024;

/** The agent's connection cannot be upgraded any more (ws would drop it without completing the handshake; a tunnel has no one to relay to). */
export function agentGone(socket: Duplex): boolean {
  return socket.destroyed || !socket.readable || !socket.writable;
}

export function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

/** Sends on `to`; pauses `from` while `to` holds more than HIGH_WATER_BYTES unsent. */
export function sendWithBackpressure(to: WebSocket, from: WebSocket, data: Buffer): void {
  if (to.readyState !== to.OPEN) return;
  to.send(data, { binary: true }, () => {
    if (from.isPaused && to.bufferedAmount < HIGH_WATER_BYTES / 2) from.resume();
  });
  if (to.bufferedAmount > HIGH_WATER_BYTES && !from.isPaused) from.pause();
}

/** The apiserver's refusal of an upgrade (its status and message), shown to the agent as it is. */
export class UpstreamRefusal extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/** Reads a non-101 answer (bounded) into an UpstreamRefusal; the message is masked all the same. */
export function upstreamRefusal(res: IncomingMessage, session: Pick<Session, 'newMaskSession'>): Promise<UpstreamRefusal> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => { if (size < 64 * 1024) { chunks.push(c); size += c.length; } });
    res.on('error', () => undefined);
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let message = text.trim();
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? message;
      } catch { /* not a Status: keep the text */ }
      const masked = session.newMaskSession().maskText(message.slice(0, 2000));
      resolve(new UpstreamRefusal(res.statusCode ?? 502, `guarita: the apiserver refused the stream (${res.statusCode ?? '?'}): ${masked}`));
    });
  });
}
