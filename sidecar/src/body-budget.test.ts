// collectBody, the one body reader of the HTTP and Kubernetes listeners, against a request stream:
// what each listener's choice (stream or refuse past the buffering limit) does, and the budget and
// deadline refusals both share.
import { describe, expect, it, jest } from '@jest/globals';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { BODY_DEADLINE_MS, BodyAbandoned, BodyBudget, BodyRefusal, collectBody, type CollectedBody } from './body-budget.ts';

function request(headers: Record<string, string>): PassThrough & IncomingMessage {
  return Object.assign(new PassThrough(), { headers }) as unknown as PassThrough & IncomingMessage;
}

async function text(body: CollectedBody): Promise<string> {
  if (body.kind === 'none') return '';
  if (body.kind === 'buffered') return body.data.toString();
  const chunks: Buffer[] = [];
  for await (const c of body.stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

describe('collectBody', () => {
  it('no declared body: nothing read, nothing charged', async () => {
    const budget = new BodyBudget(8);
    await expect(collectBody(request({ 'content-length': '0' }), { max: 8, overMax: 'refuse', hold: budget.open(), budget })).resolves.toEqual({ kind: 'none' });
    await expect(collectBody(request({}), { max: 8, overMax: 'stream', hold: budget.open(), budget })).resolves.toEqual({ kind: 'none' });
  });

  it('a body within the limit is buffered and charged until released', async () => {
    const budget = new BodyBudget(8);
    const req = request({ 'transfer-encoding': 'chunked' });
    const hold = budget.open();
    const body = collectBody(req, { max: 8, overMax: 'refuse', hold, budget });
    req.write('abc');
    req.end('de');
    expect(await text(await body)).toBe('abcde');
    expect(budget.held).toBe(5);
    hold.release();
    hold.release();
    expect(budget.held).toBe(0);
  });

  it('past the limit: streamed whole (first bytes, then the rest) or refused 413 (declared or as it arrives)', async () => {
    const budget = new BodyBudget(4);
    const streamed = request({ 'content-length': '10' });
    const body = collectBody(streamed, { max: 4, overMax: 'stream', hold: budget.open(), budget });
    streamed.write('abc');
    streamed.write('defg');
    const got = await body;
    streamed.end('hij');
    expect(got).toMatchObject({ kind: 'streamed', length: '10' });
    expect(await text(got)).toBe('abcdefghij');

    await expect(collectBody(request({ 'content-length': '5' }), { max: 4, overMax: 'refuse', hold: budget.open(), budget })).rejects.toMatchObject({ status: 413 });
    const chunked = request({ 'transfer-encoding': 'chunked' });
    const refused = collectBody(chunked, { max: 4, overMax: 'refuse', hold: budget.open(), budget });
    chunked.write('abc');
    chunked.write('de');
    await expect(refused).rejects.toBeInstanceOf(BodyRefusal);
    await expect(refused).rejects.toMatchObject({ status: 413, message: expect.stringMatching(/over 4 bytes \(GUARITA_HTTP_MAX_BUFFERED_BODY\)/) });
    expect(chunked.isPaused()).toBe(true);
  });

  it('beyond the listener\'s budget: 503 naming the budget, the request paused', async () => {
    const budget = new BodyBudget(1);
    const first = budget.open();
    expect(first.take(budget.limit)).toBe(true);
    const req = request({ 'content-length': '1' });
    const body = collectBody(req, { max: 1, overMax: 'refuse', hold: budget.open(), budget });
    req.write('x');
    await expect(body).rejects.toMatchObject({ status: 503, message: expect.stringMatching(/already holds \d+ bytes of request bodies/) });
    expect(req.isPaused()).toBe(true);
  });

  it('a body that does not arrive within the deadline: 408', async () => {
    jest.useFakeTimers();
    try {
      const budget = new BodyBudget(8);
      const req = request({ 'content-length': '5' });
      const body = collectBody(req, { max: 8, overMax: 'stream', hold: budget.open(), budget });
      req.write('ab');
      jest.advanceTimersByTime(BODY_DEADLINE_MS);
      await expect(body).rejects.toMatchObject({ status: 408, message: expect.stringMatching(/did not arrive within 30 s/) });
    } finally {
      jest.useRealTimers();
    }
  });

  it('an agent gone before or while its body is read: BodyAbandoned at once, not the deadline\'s 408', async () => {
    jest.useFakeTimers();
    try {
      const budget = new BodyBudget(8);
      // Destroyed before the read starts: its 'error' and 'close' were emitted to nobody.
      const before = request({ 'content-length': '5' });
      before.destroy();
      await expect(collectBody(before, { max: 8, overMax: 'stream', hold: budget.open(), budget })).rejects.toBeInstanceOf(BodyAbandoned);
      // Destroyed halfway (a request's 'aborted' error when its connection ends first).
      const halfway = request({ 'content-length': '5' });
      const hold = budget.open();
      const body = collectBody(halfway, { max: 8, overMax: 'refuse', hold, budget });
      halfway.write('ab');
      halfway.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
      await expect(body).rejects.toMatchObject({ message: expect.stringMatching(/the agent left before its request body was read/) });
      await expect(body).rejects.toBeInstanceOf(BodyAbandoned);
      hold.release();
      expect(budget.held).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });
});
