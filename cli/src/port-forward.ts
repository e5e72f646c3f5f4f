// The CLI reaches the operator by itself (issue 21): without --operator-url it does what a user
// would do by hand, with the user's own kubeconfig identity: resolve the operator's Service to a
// Ready pod and its target port, port-forward to it through the apiserver (pods/portforward,
// @kubernetes/client-node's PortForward over WebSocket), read the operator's CA from the ConfigMap
// the chart writes (<service>-ca), and verify the operator's certificate against the Service's
// DNS name. Nothing is trusted blindly: no CA, no connection (the error names --operator-ca).
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { CoreV1Api, PortForward, type KubeConfig, type V1Pod, type V1Service, type V1ServicePort } from '@kubernetes/client-node';
import { UsageError } from './args.ts';
import { inertText } from './inert.ts';

export interface ServiceRef { namespace: string; name: string }

/** The chart's defaults: release "guarita" in guarita-system. */
export const DEFAULT_OPERATOR_SERVICE: ServiceRef = { namespace: 'guarita-system', name: 'guarita-operator' };

/** --operator-service / GUARITA_OPERATOR_SERVICE: NAMESPACE/NAME. */
export function parseServiceRef(raw: string | undefined): ServiceRef {
  if (raw === undefined || raw.trim() === '') return DEFAULT_OPERATOR_SERVICE;
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/.exec(raw.trim());
  if (m?.[1] === undefined || m[3] === undefined) throw new UsageError(`--operator-service must be NAMESPACE/NAME of the operator's Service, like guarita-system/guarita-operator (got '${raw}')`);
  return { namespace: m[1], name: m[3] };
}

function isReady(pod: V1Pod): boolean {
  return pod.metadata?.deletionTimestamp === undefined && pod.status?.phase === 'Running'
    && (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

function httpsPort(service: V1Service): V1ServicePort | undefined {
  const ports = service.spec?.ports ?? [];
  return ports.find((p) => p.name === 'https') ?? ports[0];
}

/** The Service's HTTPS port as a container port of `pod` (a named targetPort is looked up in its containers). */
export function targetPortOf(service: V1Service, pod: V1Pod): number | undefined {
  const port = httpsPort(service);
  if (port === undefined) return undefined;
  const target = port.targetPort ?? port.port;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  return (pod.spec?.containers ?? []).flatMap((c) => c.ports ?? []).find((p) => p.name === target)?.containerPort;
}

function apiMessage(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  let message = e.message ?? String(err);
  if (typeof e.body === 'string') {
    try { message = (JSON.parse(e.body) as { message?: string }).message ?? message; } catch { /* keep */ }
  }
  return message;
}

/** A Ready pod behind the Service and the port to forward to. */
export async function resolveOperatorPod(core: CoreV1Api, ref: ServiceRef): Promise<{ pod: string; port: number }> {
  const where = `Service ${ref.namespace}/${ref.name}`;
  let service: V1Service;
  try {
    service = await core.readNamespacedService({ namespace: ref.namespace, name: ref.name });
  } catch (err) {
    throw new Error(`cannot read the operator's ${where} (${apiMessage(err)}): pass --operator-service NAMESPACE/NAME if Guarita is installed elsewhere, or --operator-url to connect directly`, { cause: err });
  }
  const selector = Object.entries(service.spec?.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  if (selector === '') throw new Error(`the operator's ${where} has no selector: pass --operator-url to connect directly`);
  let pods: V1Pod[];
  try {
    pods = (await core.listNamespacedPod({ namespace: ref.namespace, labelSelector: selector })).items;
  } catch (err) {
    throw new Error(`cannot list the pods behind the operator's ${where} (${apiMessage(err)}): you need list on pods and create on pods/portforward in ${ref.namespace}, or pass --operator-url`, { cause: err });
  }
  const pod = pods.find(isReady);
  if (pod?.metadata?.name === undefined) throw new Error(`no Ready pod behind the operator's ${where} (${pods.length} pod(s) match ${selector}): check kubectl -n ${ref.namespace} get pods -l ${selector}`);
  const port = targetPortOf(service, pod);
  if (port === undefined) throw new Error(`the operator's ${where} has no port the CLI can forward to (expected one named https)`);
  return { pod: pod.metadata.name, port };
}

/** The operator's CA: the ConfigMap <service>-ca (key ca.crt) in the user's namespace, else in the operator's. */
export async function readOperatorCa(core: CoreV1Api, ref: ServiceRef, userNamespace: string): Promise<string> {
  const name = `${ref.name}-ca`;
  const tried: string[] = [];
  for (const namespace of [...new Set([userNamespace, ref.namespace])]) {
    try {
      const pem = (await core.readNamespacedConfigMap({ namespace, name })).data?.['ca.crt'];
      if (pem?.includes('-----BEGIN CERTIFICATE-----') === true) return pem;
      tried.push(`${namespace}/${name}: no ca.crt`);
    } catch (err) {
      tried.push(`${namespace}/${name}: ${apiMessage(err)}`);
    }
  }
  throw new Error(`cannot read the operator's CA (ConfigMap ${tried.join('; ')}): pass --operator-ca FILE`);
}

export interface Forward {
  /** https://127.0.0.1:PORT, the local end of the port-forward. */
  url: URL;
  /** The name the operator's certificate carries (the Service's DNS name). */
  servername: string;
  close(): Promise<void>;
}

/** A local listener whose every connection is forwarded to `pod`:`port` through the apiserver. */
export async function forwardToPod(kc: KubeConfig, namespace: string, pod: string, port: number, servername: string): Promise<Forward> {
  const forwarder = new PortForward(kc);
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    forwarder.portForward(namespace, pod, [port], socket, null, socket).then((ws) => {
      const close = (): void => { if (typeof ws !== 'function') ws.close(); };
      socket.once('close', close);
      if (typeof ws !== 'function') ws.once('close', () => socket.destroy());
    }, (err: unknown) => {
      process.stderr.write(`guarita: the port-forward to the operator (pod ${namespace}/${pod}, port ${port}) failed: ${inertText(apiMessage(err))}\n`);
      socket.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  return {
    url: new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`),
    servername,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Everything the CLI needs to talk to the operator through a port-forward. */
export async function forwardToOperator(kc: KubeConfig, ref: ServiceRef, userNamespace: string, ca: string | undefined): Promise<Forward & { ca: string }> {
  const core = kc.makeApiClient(CoreV1Api);
  const [{ pod, port }, pem] = await Promise.all([resolveOperatorPod(core, ref), ca === undefined ? readOperatorCa(core, ref, userNamespace) : Promise.resolve(ca)]);
  const forward = await forwardToPod(kc, ref.namespace, pod, port, `${ref.name}.${ref.namespace}.svc`);
  return { ...forward, ca: pem };
}
