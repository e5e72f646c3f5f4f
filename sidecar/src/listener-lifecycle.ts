// What the HTTP and Kubernetes API listeners share about their lifetime: the bounds on how long an
// agent may hold a request, waiting on a slow agent without leaving listeners behind, and the
// graceful close.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A request dribbled a byte at a time, or thousands of idle connections, would hold the sidecar's
 * memory and sockets for as long as the agent likes: both are bounded. Node checks both timeouts
 * on `connectionsCheckingInterval` (30 s by default): keep it a fraction of the bound.
 */
export function listenerTimeouts(requestTimeoutMs = 300_000): { keepAliveTimeout: number; requestTimeout: number; headersTimeout: number; connectionsCheckingInterval: number } {
  return {
    keepAliveTimeout: 65_000, requestTimeout: requestTimeoutMs, headersTimeout: Math.min(60_000, requestTimeoutMs),
    connectionsCheckingInterval: Math.min(30_000, Math.max(250, requestTimeoutMs / 4)),
  };
}

/**
 * Graceful close: stop accepting, drop idle keep-alive connections, let requests in flight finish
 * for up to `drainMs`, then cut what is left (including upgraded sockets the server no longer tracks).
 */
export async function drainServer(server: Server, inFlight: () => number, sockets: ReadonlySet<Socket>, drainMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const deadline = Date.now() + drainMs;
  while (inFlight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  server.closeAllConnections();
  for (const s of sockets) s.destroy();
  await closed;
}

/** What `drainedOrClosed` waits on: a response (or any writable) that emits 'drain' and 'close'. */
export interface Drainable {
  on(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
}

/**
 * Resolves on the first 'drain' or 'close' of `res`, and removes both listeners then. A race of
 * events.once() for each left the losing one registered: a long watch or followed log whose agent
 * reads slowly gathered one 'close' listener per wait, for as long as it lasted.
 */
export function drainedOrClosed(res: Drainable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
