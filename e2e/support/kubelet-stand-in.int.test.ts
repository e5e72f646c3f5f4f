// The kubelet stand-in proves itself against the harness apiserver with the real kubectl: exec
// (stdout, stderr, stdin, exit codes) and port-forward reach it as they reach a real kubelet.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { kubeconfigPath, kubectl, requireKube } from '../harness/state.ts';
import { createNamespaces } from './kube-apply.ts';
import { suffix } from './kubectl.ts';
import { startKubeletStandIn, type KubeletStandIn } from './kubelet-stand-in.ts';
import { echoThrough, forwardedPort } from './port-forward-client.ts';

const ns = `standin-${suffix()}`;
let standIn: KubeletStandIn;
let echo: Server;

beforeAll(async () => {
  await createNamespaces(ns);
  standIn = await startKubeletStandIn(`standin-node-${suffix()}`);
  await standIn.runPod(ns, 'worker');
  echo = createServer((socket) => socket.pipe(socket));
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  standIn.forward(ns, 'worker', 8080, (echo.address() as AddressInfo).port);
}, 60_000);

afterAll(async () => {
  echo.close();
  await standIn.stop();
});

describe('kubelet stand-in', () => {
  it('serves kubectl exec: stdout, stderr, stdin and the exit code, in the pod working directory', async () => {
    const out = await kubectl(['exec', '-n', ns, 'worker', '--', 'sh', '-c', 'echo out-line; echo err-line >&2; pwd'], { user: 'admin' });
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('out-line');
    expect(out.stdout).toContain(standIn.podDir(ns, 'worker'));
    expect(out.stderr).toContain('err-line');
    const piped = await kubectl(['exec', '-i', '-n', ns, 'worker', '--', 'cat'], { user: 'admin', input: 'through stdin\n' });
    expect(piped.stdout).toBe('through stdin\n');
    const failed = await kubectl(['exec', '-n', ns, 'worker', '--', 'sh', '-c', 'exit 7'], { user: 'admin' });
    expect(failed.code).toBe(7);
  });

  it('serves kubectl port-forward to the mapped local port', async () => {
    const child = spawn(join(requireKube().binDir, 'kubectl'), ['--kubeconfig', kubeconfigPath('admin'), 'port-forward', '-n', ns, 'pod/worker', ':8080'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const local = await forwardedPort(child);
      expect(await echoThrough(local, 'ping through the apiserver')).toBe('ping through the apiserver');
    } finally {
      child.kill();
    }
  });
});
