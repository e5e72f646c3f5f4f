// Clients of the operator's HTTPS APIs in integration tests: a request over the run's CA with an
// optional bearer token, and the JSON-lines export parser.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { requireKube } from '../harness/state.ts';
import type { ExportLine } from '../../operator/src/store/types.ts';

let tlsAgent: Agent | undefined;
function apiAgent(): Agent {
  tlsAgent ??= new Agent({ connect: { ca: readFileSync(requireKube().caFile, 'utf8') } });
  return tlsAgent;
}

export interface HttpResult<T = Record<string, unknown>> { status: number; body: T; headers: Record<string, string | string[] | undefined>; text: string }

export async function call<T = Record<string, unknown>>(base: string, method: 'GET' | 'POST', path: string, token: string | undefined, body?: unknown): Promise<HttpResult<T>> {
  const res = await request(`${base}${path}`, {
    method, dispatcher: apiAgent(),
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    headersTimeout: 30_000, bodyTimeout: 30_000,
  });
  const text = await res.body.text();
  let parsed: unknown;
  try { parsed = text === '' ? {} : JSON.parse(text); } catch { parsed = {}; }
  return { status: res.statusCode, body: parsed as T, headers: res.headers, text };
}

export function parseJsonl<T = ExportLine>(text: string): T[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T);
}
