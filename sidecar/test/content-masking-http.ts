// For the masking integration tests: a real HTTP upstream serving fixed bodies (some written three bytes at a
// time) behind a real sidecar process whose policy enables every built-in detector and no name rule, so only
// content detection can mask what comes back.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { freePorts } from '../../e2e/harness/ports.ts';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { apply, createNamespaces } from '../../e2e/support/kube-apply.ts';
import { installCrds } from '../../e2e/support/kubectl.ts';
import { agentRequest, httpPolicy, mountCredentials, NO_OPERATOR, sidecarFixture, startSidecarProcess, type SidecarProcess } from './support.ts';

/**
 * path → [content type, body, how it is written: three bytes at a time (true), in one write
 * (false, chunked), or in one write with its Content-Length ('sized': the sidecar may read it whole)].
 */
export type FixedBodies = Record<string, [type: string, body: string, dribbled: boolean | 'sized']>;

export interface ContentMaskingHttp {
  get(path: string): ReturnType<typeof agentRequest>;
  stop(): Promise<void>;
}

/** Writes the body three bytes at a time, each write on its own turn of the event loop. */
async function dribble(res: ServerResponse, body: string): Promise<void> {
  const bytes = Buffer.from(body, 'utf8');
  for (let i = 0; i < bytes.length; i += 3) {
    res.write(bytes.subarray(i, i + 3));
    await new Promise((r) => setImmediate(r));
  }
  res.end();
}

/** `masking` replaces the policy's masking section (default: partial style, no name or field rule). */
export async function startContentMaskingHttp(ns: string, policy: string, bodies: FixedBodies, masking: Record<string, unknown> = { style: 'partial' }): Promise<ContentMaskingHttp> {
  const server: Server = createServer((req, res) => {
    const [type, body, dribbled] = bodies[(req.url ?? '').split('?')[0] ?? ''] ?? ['text/plain', 'not found', false];
    const sized = dribbled === 'sized' ? { 'content-length': String(Buffer.byteLength(body)) } : {};
    res.writeHead(body === 'not found' ? 404 : 200, { 'content-type': type, ...sized });
    if (dribbled === true) dribble(res, body).catch(() => res.destroy());
    else res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const endpoint = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  let sidecar: SidecarProcess | undefined;
  const stop = async (): Promise<void> => {
    await sidecar?.stop();
    await new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
  };
  try {
    await installCrds();
    await createNamespaces(ns);
    const fx = await sidecarFixture(ns);
    await apply([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${policy}-credentials`, namespace: ns }, stringData: { token: 'upstream-service-token' } }]);
    mountCredentials(fx, policy, { token: 'upstream-service-token' });
    const [listenPort = 0] = await freePorts(1);
    await apply([httpPolicy(ns, policy, { endpoint, issuer: requireIdp().issuer, listenPort, over: { masking } })]);
    sidecar = await startSidecarProcess(fx, { targets: [{ policy, target: policy, protocol: 'http', listenPort }], operatorUrl: NO_OPERATOR });
    const token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
    const running = sidecar;
    return { get: (path) => agentRequest(`${running.url(policy)}${path}`, { token, purpose: 'customer-support' }), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
