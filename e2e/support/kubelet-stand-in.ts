// Stands in for the kubelet. The local control plane has no node, so pods/exec, pods/attach and
// pods/portforward have nowhere to go: this starts e2e/tools/kubelet (the kubelet's own streaming
// server code, k8s.io/kubelet/pkg/cri/streaming, built into .cache/bin/kubelet-stand-in), registers
// a Node whose status.daemonEndpoints.kubeletEndpoint and InternalIP point at it, and binds pods to
// that node (spec.nodeName, status Running) so the real apiserver proxies their streams there as to
// a real kubelet. exec runs the command on this machine in the pod's working directory
// (`podDir`) with the environment `podEnv` gives it; pods/log serves what `containerLog` wrote;
// port-forward reaches the local port `forward` maps the pod's port to.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, mintServingCert, writePemFiles } from '../harness/certs.ts';
import { binDir } from '../harness/paths.ts';
import { apply } from './kube-apply.ts';
import { k } from './kubectl.ts';

export interface KubeletStandIn {
  /** The Node object the stand-in serves. */
  readonly node: string;
  /** host:port it listens on. */
  readonly address: string;
  /** The working directory exec runs in for a pod. */
  podDir(namespace: string, pod: string): string;
  /** The pod's environment, which exec'd commands get (as a kubelet gives exec the container's). */
  podEnv(namespace: string, pod: string, env: Record<string, string>): void;
  /** What `kubectl logs` (pods/log) of that container reads: this text, whole. */
  containerLog(namespace: string, pod: string, container: string, text: string): void;
  /** Port-forwards to `podPort` of the pod reach 127.0.0.1:`localPort`. */
  forward(namespace: string, pod: string, podPort: number, localPort: number): void;
  /** Creates (or updates) a Running pod bound to this node; `spec` adds to a one-container spec. */
  runPod(namespace: string, name: string, opts?: { labels?: Record<string, string>; containers?: unknown[]; spec?: Record<string, unknown> }): Promise<void>;
  stop(): Promise<void>;
}

export async function startKubeletStandIn(node = `standin-${process.pid}`): Promise<KubeletStandIn> {
  const root = mkdtempSync(join(tmpdir(), 'guarita-kubelet-'));
  const ca = await createCa('guarita-kubelet-stand-in-ca');
  const pem = writePemFiles(root, 'serving', await mintServingCert(ca, { commonName: node, ips: ['127.0.0.1'], dnsNames: [node] }));
  const child = spawn(join(binDir(), 'kubelet-stand-in'), ['--listen=127.0.0.1:0', `--tls-cert-file=${pem.certFile}`, `--tls-private-key-file=${pem.keyFile}`, `--root=${root}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const address = await listeningAddress(child);
  const port = Number(address.split(':').pop());
  await apply([{ apiVersion: 'v1', kind: 'Node', metadata: { name: node } }]);
  const status = { status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: port } }, conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletStandIn', message: 'e2e/support/kubelet-stand-in.ts' }] } };
  await k(['patch', 'node', node, '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
  const forwardsFile = join(root, 'forwards.json');
  writeFileSync(forwardsFile, '{}');
  const podDir = (namespace: string, pod: string): string => {
    const dir = join(root, namespace, pod);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  return {
    node,
    address,
    podDir,
    podEnv(namespace, pod, env) {
      writeFileSync(join(podDir(namespace, pod), '.env'), Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join(''), { mode: 0o600 });
    },
    containerLog(namespace, pod, container, text) {
      writeFileSync(join(podDir(namespace, pod), `${container}.log`), text);
    },
    forward(namespace, pod, podPort, localPort) {
      const forwards = JSON.parse(readFileSync(forwardsFile, 'utf8')) as Record<string, Record<string, number>>;
      forwards[`${namespace}/${pod}`] = { ...forwards[`${namespace}/${pod}`], [String(podPort)]: localPort };
      // Renamed into place: the stand-in reads the file on every request.
      writeFileSync(`${forwardsFile}.tmp`, JSON.stringify(forwards));
      renameSync(`${forwardsFile}.tmp`, forwardsFile);
    },
    async runPod(namespace, name, opts = {}) {
      const containers = opts.containers ?? [{ name: 'app', image: 'registry.invalid/stand-in:test' }];
      await apply([{ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels: opts.labels ?? {} }, spec: { nodeName: node, automountServiceAccountToken: false, containers, ...opts.spec } }]);
      // kubectl exec/port-forward refuse a pod that is not Running; no kubelet reports it, so we do.
      const now = new Date().toISOString();
      const statuses = (containers as { name: string; image: string }[]).map((c) => ({ name: c.name, image: c.image, imageID: '', ready: true, restartCount: 0, started: true, state: { running: { startedAt: now } } }));
      await k(['patch', 'pod', name, '-n', namespace, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { phase: 'Running', podIP: '127.0.0.1', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: statuses } })]);
    },
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      await k(['delete', 'node', node, '--wait=false', '--ignore-not-found']);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function listeningAddress(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^listening (\S+)$/m.exec(out);
      if (m?.[1] !== undefined) resolve(m[1]);
    });
    child.once('error', (e) => reject(new Error(`kubelet-stand-in did not start (run bash e2e/tools/build.sh): ${e.message}`)));
    child.once('exit', (code) => reject(new Error(`kubelet-stand-in exited with ${code} before listening: ${err.trim()}`)));
  });
}
