// Round 10b review of masking (adversarial review of b4d5e8c), end to end through the REAL sidecar process in front of
// a real HTTP upstream. Each `finding` test FAILS on the code as reviewed for the reason its name states; each
// `control` passes and shows the same value masked in the form the engine reads. The engine-level counterparts and
// the reasoning: core/masking/masking-round10b-attacks.test.ts and docs/security-model.md, "Round 10b review: masking".
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
import { suffix } from '../../e2e/support/kubectl.ts';
import { startContentMaskingHttp, type ContentMaskingHttp, type FixedBodies } from './content-masking-http.ts';

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
  /** path → [content type, body, sent with its Content-Length ('sized') or streamed in 3-byte pieces (true)]. */
  const BODIES: FixedBodies = {
    '/customers/app.log': ['text/plain; charset=utf-8', JSON_LOG, true],
    '/customers/app-prefixed.log': ['text/plain; charset=utf-8', TEXT_LOG, true],
    '/customers/worker.log': ['text/plain; charset=utf-8', PY_LOG, true],
    '/customers/worker-control.log': ['text/plain; charset=utf-8', PY_LOG_CONTROL, true],
    '/customers/events/1': ['application/json', EVENT, 'sized'],
    '/customers/events/1/stream': ['application/json', EVENT, true],
  };
  let http: ContentMaskingHttp | undefined;
  const get = (path: string): ReturnType<ContentMaskingHttp['get']> => http!.get(path);

  beforeAll(async () => {
    http = await startContentMaskingHttp(ns, POLICY, BODIES, { style: 'partial', fields: [{ names: ['nome'] }] });
  }, 180_000);

  afterAll(async () => { await http?.stop(); }, 60_000);

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
