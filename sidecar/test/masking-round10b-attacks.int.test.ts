// Round 10b review of masking (adversarial review of b4d5e8c), end to end through the REAL sidecar process in front of
// a real HTTP upstream. Each `finding` test FAILS on the code as reviewed for the reason its name states; each
// `control` passes and shows the same value masked in the form the engine reads. The engine-level counterparts and
// the reasoning: core/masking/masking-round10b-attacks.test.ts and /work/tmp/masking10b-review.md.
//
// 1. A JSON log line served as text/plain is now read by the JSON masker, which drops the text reading's keyword
//    context: a landline under `contato` reaches the agent (it was masked as text before b4d5e8c; the same line
//    behind a prefix, still read as text, is masked).
// 2. An integer spelled as a decimal in text is read without its keyword: a Python log line
//    `{'telefone': 1133334444.0}` reaches the agent whole, `{'telefone': 1133334444}` is masked.
// 3. The sidecar's fast path (passesUnchanged) forwards a JSON body of declared length the masking pipeline changes:
//    a document in a string opened by an escaped newline, with a name under the policy's field rule and an e-mail
//    written without '@'. The same body streamed (no Content-Length) is masked.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { freePorts } from '../../e2e/harness/ports.ts';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { apply, createNamespaces } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { agentRequest, httpPolicy, mountCredentials, sidecarFixture, startSidecarProcess, type SidecarProcess } from './support.ts';

jest.setTimeout(120_000);

const LANDLINE = '1133334444';
const JSON_LOG = `2026-12-06 app iniciada\n{"level":"info","msg":"contato atualizado","contato":"${LANDLINE}"}\n`;
const TEXT_LOG = `2026-12-06 app iniciada\napp: {"level":"info","msg":"contato atualizado","contato":"${LANDLINE}"}\n`;
const PY_LOG = `INFO cliente {'telefone': ${LANDLINE}.0}\n`;
const PY_LOG_CONTROL = `INFO cliente {'telefone': ${LANDLINE}}\n`;
const NAME = 'Joao Silva';
const EVENT = `{"evento":"cadastro","payload":"\\n{\\"nome\\":\\"${NAME}\\",\\"email\\":\\"ana at exemplo\\"}"}`;

describe('HTTP: JSON log lines lose keyword context (1), spelled integers lose their keyword (2), fast path (3)', () => {
  const POLICY = 'customers-api';
  const ns = `mask-r10b-${suffix()}`;
  /** path → [content type, body, sent with its Content-Length (else streamed in 3-byte pieces)]. */
  const BODIES: Record<string, [string, string, boolean]> = {
    '/customers/app.log': ['text/plain; charset=utf-8', JSON_LOG, false],
    '/customers/app-prefixed.log': ['text/plain; charset=utf-8', TEXT_LOG, false],
    '/customers/worker.log': ['text/plain; charset=utf-8', PY_LOG, false],
    '/customers/worker-control.log': ['text/plain; charset=utf-8', PY_LOG_CONTROL, false],
    '/customers/events/1': ['application/json', EVENT, true],
    '/customers/events/1/stream': ['application/json', EVENT, false],
  };
  let server: Server;
  let sidecar: SidecarProcess | undefined;
  let get: (path: string) => ReturnType<typeof agentRequest>;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const [type, body, sized] = BODIES[(req.url ?? '').split('?')[0] ?? ''] ?? ['text/plain', 'not found', true];
      const bytes = Buffer.from(body, 'utf8');
      if (sized) {
        res.writeHead(body === 'not found' ? 404 : 200, { 'content-type': type, 'content-length': String(bytes.length) });
        res.end(bytes);
        return;
      }
      res.writeHead(200, { 'content-type': type });
      void (async () => {
        for (let i = 0; i < bytes.length; i += 3) {
          res.write(bytes.subarray(i, i + 3));
          await new Promise((r) => setImmediate(r));
        }
        res.end();
      })().catch(() => res.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    const endpoint = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
    await installCrds();
    await createNamespaces(ns);
    const fx = await sidecarFixture(ns);
    await apply([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${POLICY}-credentials`, namespace: ns }, stringData: { token: 'upstream-service-token' } }]);
    mountCredentials(fx, POLICY, { token: 'upstream-service-token' });
    const [listenPort = 0] = await freePorts(1);
    await apply([httpPolicy(ns, POLICY, { endpoint, issuer: requireIdp().issuer, listenPort, over: { masking: { style: 'partial', fields: [{ names: ['nome'] }] } } })]);
    sidecar = await startSidecarProcess(fx, { targets: [{ policy: POLICY, target: POLICY, protocol: 'http', listenPort }], operatorUrl: 'http://127.0.0.1:9' });
    const token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
    const running = sidecar;
    get = (path) => agentRequest(`${running.url(POLICY)}${path}`, { token, purpose: 'customer-support' });
  }, 180_000);

  afterAll(async () => {
    await sidecar?.stop();
    await new Promise<void>((r) => { server?.closeAllConnections(); server?.close(() => r()); });
  }, 60_000);

  it('control: the JSON log line behind a prefix (read as text) has the landline under `contato` masked', async () => {
    const r = await get('/customers/app-prefixed.log');
    expect(r.status).toBe(200);
    expect(r.text).toContain('contato atualizado');
    expect(r.text).not.toContain(LANDLINE);
  });

  it('finding 1: the same JSON log line at the start of its line (read as JSON) reaches the agent with the landline', async () => {
    const r = await get('/customers/app.log');
    expect(r.status).toBe(200);
    expect(r.text).toContain('contato atualizado');
    expect(r.text).not.toContain(LANDLINE);
  });

  it('control: a Python log line with the landline as an int is masked through `telefone`', async () => {
    const r = await get('/customers/worker-control.log');
    expect(r.status).toBe(200);
    expect(r.text).toContain('INFO cliente');
    expect(r.text).not.toContain(LANDLINE);
  });

  it('finding 2: the same line with the landline as a float (`1133334444.0`) reaches the agent whole', async () => {
    const r = await get('/customers/worker.log');
    expect(r.status).toBe(200);
    expect(r.text).toContain('INFO cliente');
    expect(r.text).not.toContain(LANDLINE);
  });

  it('control: the event streamed (no Content-Length) has the name and the e-mail in its payload masked', async () => {
    const r = await get('/customers/events/1/stream');
    expect(r.status).toBe(200);
    expect(r.text).toContain('cadastro');
    expect(r.text).not.toContain(NAME);
    expect(r.text).not.toContain('ana at exemplo');
  });

  it('finding 3: the same event with its Content-Length goes through the fast path unmasked', async () => {
    const r = await get('/customers/events/1');
    expect(r.status).toBe(200);
    expect(r.text).toContain('cadastro');
    expect(r.text).not.toContain(NAME);
    expect(r.text).not.toContain('ana at exemplo');
  });
});
