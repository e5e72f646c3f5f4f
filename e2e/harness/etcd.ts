// A single-member etcd on loopback for the apiserver. --unsafe-no-fsync: the data is thrown
// away after the run, and fsync dominates etcd's latency on a shared 2-core machine.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { progress } from './log.ts';
import { freePorts } from './ports.ts';
import { supervise, waitUntilReady, type Supervised } from './supervisor.ts';

export interface EtcdHandle {
  readonly clientUrl: string;
  readonly process: Supervised;
}

async function healthy(clientUrl: string): Promise<boolean> {
  const res = await request(`${clientUrl}/health`, { headersTimeout: 2000, bodyTimeout: 2000 });
  const body = (await res.body.json()) as { health?: string };
  return res.statusCode === 200 && body.health === 'true';
}

export async function startEtcd(runDir: string, binDir: string): Promise<EtcdHandle> {
  const [clientPort, peerPort] = await freePorts(2);
  if (clientPort === undefined || peerPort === undefined) throw new Error('no free ports for etcd');
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const dataDir = join(runDir, 'etcd');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const proc = supervise({
    name: 'etcd',
    command: join(binDir, 'etcd'),
    args: [
      '--name=harness', `--data-dir=${dataDir}`, '--unsafe-no-fsync', '--log-level=warn',
      `--listen-client-urls=${clientUrl}`, `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=harness=${peerUrl}`, '--initial-cluster-state=new',
    ],
    logFile: join(runDir, 'logs', 'etcd.log'),
  });
  progress('etcd', `starting on ${clientUrl}`);
  await waitUntilReady(proc, 'healthy', () => healthy(clientUrl), { timeoutMs: 30_000 });
  progress('etcd', 'healthy');
  return { clientUrl, process: proc };
}
