// Port forwarding, judged per connection request: local (ssh -L: the agent asks the host to
// connect somewhere, direct-tcpip) and remote (ssh -R: the host listens and hands connections
// back, tcpip-forward). Denied unless a rule names it (match.ssh.requests). Forwarded bytes are
// an arbitrary protocol: they are counted, not masked or recorded; docs/ssh.md says so.
import type { Duplex } from 'node:stream';
import type { Client, Connection } from 'ssh2';
import type { Authorization, Session } from '../enforcement.ts';
import { errorMessage, type Logger } from '../log.ts';

interface ForwardContext { session: Session | undefined; logger: Logger; upstream(): Promise<Client> }

function splice(a: Duplex, b: Duplex, done: (bytes: number) => void): void {
  let bytes = 0;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    a.destroy();
    b.destroy();
    done(bytes);
  };
  a.on('data', (c: Buffer) => { bytes += c.length; });
  b.on('data', (c: Buffer) => { bytes += c.length; });
  a.pipe(b).on('error', finish);
  b.pipe(a).on('error', finish);
  a.once('close', finish);
  b.once('close', finish);
  a.on('error', finish);
  b.on('error', finish);
}

async function allowed(ctx: ForwardContext, kind: 'localForward' | 'remoteForward', host: string, port: number): Promise<Extract<Authorization, { verdict: 'allow' }> | undefined> {
  if (ctx.session === undefined) return undefined;
  try {
    const auth = await ctx.session.authorize({ protocol: 'ssh', ssh: { kind, host, port } });
    return auth.verdict === 'allow' ? auth : undefined;
  } catch (err) {
    ctx.logger.warn({ err: errorMessage(err) }, 'port forwarding refused: cannot record the decision');
    return undefined;
  }
}

/** Wires local and remote forwarding requests of one agent connection. */
export function handleForwarding(conn: Connection, ctx: () => ForwardContext): void {
  conn.on('tcpip', (accept, reject, info) => {
    void (async () => {
      const c = ctx();
      const auth = await allowed(c, 'localForward', info.destIP, info.destPort);
      if (auth === undefined) return reject();
      const started = performance.now();
      try {
        const client = await c.upstream();
        const host = await new Promise<Duplex>((resolve, rej) => client.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, ch) => (err ? rej(err) : resolve(ch))));
        splice(accept(), host, (bytes) => void auth.complete({ result: { bytes }, masked: {}, durationMs: performance.now() - started }).catch(() => undefined));
      } catch (err) {
        await auth.complete({ result: { error: errorMessage(err) }, masked: {}, durationMs: 0 }).catch(() => undefined);
        reject();
      }
    })();
  });
  conn.on('openssh.streamlocal', (_accept, reject) => reject());
  conn.on('request', (accept, reject, name, info) => {
    if (name !== 'tcpip-forward' || !('bindAddr' in info)) return reject?.();
    void (async () => {
      const c = ctx();
      const auth = await allowed(c, 'remoteForward', info.bindAddr, info.bindPort);
      if (auth === undefined) return reject?.();
      try {
        const client = await c.upstream();
        const port = await new Promise<number>((resolve, rej) => client.forwardIn(info.bindAddr, info.bindPort, (err, p) => (err ? rej(err) : resolve(p))));
        client.on('tcp connection', (details, acceptHost) => {
          if (details.destPort !== port) return;
          conn.forwardOut(details.destIP, details.destPort, details.srcIP, details.srcPort, (err, agentCh) => {
            if (err) return;
            splice(acceptHost(), agentCh, () => undefined);
          });
        });
        accept?.(port);
        await auth.complete({ result: {}, masked: {}, durationMs: 0 });
      } catch (err) {
        await auth.complete({ result: { error: errorMessage(err) }, masked: {}, durationMs: 0 }).catch(() => undefined);
        reject?.();
      }
    })();
  });
}
