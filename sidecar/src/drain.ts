// Graceful close of an HTTP(S) listener, shared by the HTTP and Kubernetes API targets: stop
// accepting, drop idle keep-alive connections, let requests in flight finish for up to `drainMs`,
// then cut what is left (including upgraded sockets the server no longer tracks).
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export async function drainServer(server: Server, inFlight: () => number, sockets: ReadonlySet<Socket>, drainMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const deadline = Date.now() + drainMs;
  while (inFlight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  server.closeAllConnections();
  for (const s of sockets) s.destroy();
  await closed;
}
