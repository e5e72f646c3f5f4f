// Free loopback ports for the components tests start. All ports of one call are held open
// together so a single call never hands out the same port twice; the component binds its port
// after the call closes it.
//
// Ports are drawn below the kernel's ephemeral range (net.ipv4.ip_local_port_range), not chosen
// by the kernel: a port the kernel hands to `listen(0)` comes from that range, and on a busy
// machine the same port is soon handed to some process's outgoing connection, which took it in
// the gap before the component bound it (an operator failing with EADDRINUSE under load). Below
// the range only explicit binds compete, and each draw is checked by binding it.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

/** Lowest port drawn: clear of well-known and registered services most machines run. */
const LOWEST = 20_000;
/** Draws tried before falling back to a kernel-chosen port. */
const ATTEMPTS = 50;

/** The first port of the kernel's ephemeral range (32768 when it cannot be read). */
function ephemeralStart(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > 0 ? first : 32_768;
  } catch {
    return 32_768;
  }
}

const DRAW_END = ephemeralStart();

function listenOn(port: number): Promise<Server | undefined> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (port !== 0 && (err.code === 'EADDRINUSE' || err.code === 'EACCES')) resolvePromise(undefined);
      else reject(err);
    });
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolvePromise(server));
  });
}

async function listenOnFreePort(): Promise<Server> {
  if (DRAW_END - LOWEST > 1_000) {
    for (let i = 0; i < ATTEMPTS; i++) {
      const server = await listenOn(LOWEST + Math.floor(Math.random() * (DRAW_END - LOWEST)));
      if (server !== undefined) return server;
    }
  }
  // A machine whose ephemeral range starts low (or a crowded one): let the kernel choose.
  return (await listenOn(0))!;
}

function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('loopback listener has no TCP port');
  return address.port;
}

/** `count` distinct free TCP ports on 127.0.0.1. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await listenOnFreePort());
    return servers.map(portOf);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((done) => s.close(() => done()))));
  }
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('no free port');
  return port;
}
