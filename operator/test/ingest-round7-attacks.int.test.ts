// Round 7 adversarial review, through the real operator process: the ingest API parses and
// validates a request body (up to --max-body-bytes, 16 MiB, and 5000 records through ajv) BEFORE
// it asks who is calling (TokenReview runs in the route handler, after the body). So anyone who
// reaches the operator's Service, with no token at all, makes it buffer and parse a 16 MiB body per
// request, and can hold each such buffer for as long as it sends its body slowly: memory is
// bounded by the number of connections, not by who is authenticated. Each test FAILED on the code
// it was written against (docs: docs/security-model.md).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { requireKube } from '../../e2e/harness/state.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { call } from '../../e2e/support/operator-api.ts';
import { createNamespaces } from '../../e2e/support/kube-apply.ts';
import { operatorFixture, startOperator, waitServing, type OperatorProcess } from '../../e2e/support/operator-process.ts';

jest.setTimeout(120_000);

const id = suffix();
const opNs = `op-r7-${id}`;
const ns = `shop-r7-${id}`;
let op: OperatorProcess;

beforeAll(async () => {
  await installCrds();
  const fx = await operatorFixture(opNs);
  await createNamespaces(ns);
  op = await startOperator({ ...fx, watchNamespaces: [ns] });
  await waitServing(op);
});

afterAll(async () => {
  await op?.stop();
});

/** Sends the head and `sent` bytes of a body announced as `length` bytes, and waits up to `waitMs` for an answer. */
function partialPost(path: string, length: number, sent: number, waitMs: number): Promise<number | 'no answer'> {
  return new Promise((resolve) => {
    const url = new URL(`${op.url}${path}`);
    const req = httpsRequest({
      host: url.hostname, port: url.port, path: url.pathname, method: 'POST', ca: readFileSync(requireKube().caFile, 'utf8'),
      headers: { 'content-type': 'application/json', 'content-length': String(length) },
    });
    const timer = setTimeout(() => {
      req.destroy();
      resolve('no answer');
    }, waitMs);
    req.on('response', (res) => {
      clearTimeout(timer);
      res.resume();
      req.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => undefined);
    req.write(`{"records":[${' '.repeat(Math.max(0, sent - 13))}`);
  });
}

describe('unauthenticated request bodies', () => {
  it('a body without a token is refused (401) before it is read, not held open for the client to fill', async () => {
    const path = `/v1/chains/${encodeURIComponent(`${ns}/pod-1/x`)}/records`;
    expect(await partialPost(path, 15 * 1024 * 1024, 64 * 1024, 3000)).toBe(401);
  });

  it('a malformed body without a token gets 401, not a schema verdict (nothing of it is parsed before authentication)', async () => {
    const res = await call(op.url, 'POST', `/v1/chains/${encodeURIComponent(`${ns}/pod-1/x`)}/records`, undefined, { records: [{ not: 'a record' }] });
    expect(res.status).toBe(401);
  });
});
