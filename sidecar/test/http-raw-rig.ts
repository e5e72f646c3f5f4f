// For the HTTP listener tests that speak raw HTTP/1.1 from the agent's side (http-round10*-attacks.int):
// the sidecar in this process (startInProcessHttpSidecar, on the harness apiserver and IdP) in front of
// a recording upstream (startRecordingUpstream: every request kept as received), and the agent's
// requests written by hand on fresh connections.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { installCrds } from '../../e2e/support/kubectl.ts';
import type { RunningSidecar } from '../src/sidecar.ts';
import { dechunk, rawExchange, startInProcessHttpSidecar, startRecordingUpstream, type ReceivedRequest, type RecordingUpstream } from './support.ts';

/**
 * One raw request of the agent (`agent`'s token and purpose) on a fresh connection to 127.0.0.1:`port`, with
 * `Connection: close` and a Content-Length when there is a body or the method is POST: the status and the whole
 * answer (head, then the body de-chunked) the agent got.
 */
export async function rawAgentRequest(port: number, agent: { token: string; purpose: string }, method: string, target: string, headers: [string, string][] = [], body: Buffer = Buffer.alloc(0)): Promise<{ status: number; answer: string }> {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${agent.token}`, `X-Guarita-Purpose: ${agent.purpose}`, ...headers.map(([n, v]) => `${n}: ${v}`)];
  if (body.length > 0 || method === 'POST') lines.push(`Content-Length: ${body.length}`);
  const head = `${[...lines, 'Connection: close'].join('\r\n')}\r\n\r\n`;
  const raw = (await rawExchange(port, Buffer.concat([Buffer.from(head, 'latin1'), body]))).toString('latin1');
  const end = raw.indexOf('\r\n\r\n');
  const answerHead = raw.slice(0, end);
  const answerBody = dechunk(Buffer.from(raw.slice(end + 4), 'latin1'), answerHead).toString('latin1');
  return { status: Number(raw.split(' ')[1] ?? 0), answer: `${answerHead}\r\n\r\n${answerBody}` };
}

/**
 * The sidecar (policy `policy` in `namespace`, its rules the test's) in front of a recording upstream, and the agent
 * (client support-agent, purpose `purpose`). Made at module level; `start` in beforeAll, `stop` in afterAll.
 */
export class RawHttpRig {
  readonly namespace: string;
  readonly policy: string;
  readonly purpose: string;
  #upstream: RecordingUpstream | undefined;
  #sidecar: RunningSidecar | undefined;
  #listenPort = 0;
  #token = '';

  constructor(namespace: string, policy: string, purpose: string) {
    this.namespace = namespace;
    this.policy = policy;
    this.purpose = purpose;
  }

  /** Every request the upstream received, in order. */
  get received(): ReceivedRequest[] { return this.#upstream?.received ?? []; }
  /** The sidecar's listener on 127.0.0.1. */
  get listenPort(): number { return this.#listenPort; }
  /** The agent's IdP token. */
  get token(): string { return this.#token; }

  /** `respond` answers what the upstream answers otherwise than `{"ok":true}` (startRecordingUpstream). */
  async start(rules: unknown[], respond?: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<void> {
    await installCrds();
    this.#upstream = await startRecordingUpstream(respond);
    ({ sidecar: this.#sidecar, listenPort: this.#listenPort } = await startInProcessHttpSidecar(this.namespace, this.policy, { upstreamUrl: `http://127.0.0.1:${this.#upstream.port}`, issuer: requireIdp().issuer, rules }));
    this.#token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
  }

  async stop(): Promise<void> {
    await this.#sidecar?.shutdown('test over');
    await this.#upstream?.close();
  }

  /** One raw request of the agent on a fresh connection (rawAgentRequest). */
  send(method: string, target: string, headers?: [string, string][], body?: Buffer): Promise<{ status: number; answer: string }> {
    return rawAgentRequest(this.#listenPort, { token: this.#token, purpose: this.purpose }, method, target, headers, body);
  }
}
