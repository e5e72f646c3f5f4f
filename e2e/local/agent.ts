// Acting as the agent container: real psql and HTTP calls to the endpoints the webhook wrote into
// the agent's environment, authenticated with a token from the real IdP.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { getToken } from '../harness/state.ts';
import type { IdpClientId } from '../harness/state.ts';
import type { Stack } from './stack.ts';

export const AGENT_AUDIENCE = 'guarita';

export interface Ran { code: number; stdout: string; stderr: string }

export function agentToken(client: IdpClientId): Promise<string> {
  return getToken({ clientId: client, audience: AGENT_AUDIENCE });
}

/** A shell command that prints a fresh agent token (for the demo's copy-paste instructions). */
export function agentTokenCommand(client: IdpClientId, stateFile: string): string {
  return `GUARITA_HARNESS_STATE=${stateFile} bash scripts/run.sh node e2e/local/token.ts ${client}`;
}

function psqlEnv(stack: Stack, token: string, purpose: string): NodeJS.ProcessEnv {
  // Only what the pod would have: no PGSERVICE or developer PG* settings leak in.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PG')));
  return {
    ...base, PGHOST: stack.agentEnv.PGHOST, PGPORT: stack.agentEnv.PGPORT, PGSSLMODE: stack.agentEnv.PGSSLMODE ?? 'disable',
    PGUSER: 'agent', PGDATABASE: 'orders', PGPASSWORD: token, PGOPTIONS: `-c guarita.purpose=${purpose}`, PGCONNECT_TIMEOUT: '10',
  };
}

export function spawnPsql(stack: Stack, token: string, args: string[], purpose = 'customer-support'): ChildProcessWithoutNullStreams {
  return spawn('psql', ['-X', '-v', 'VERBOSITY=verbose', ...args], { env: psqlEnv(stack, token, purpose) });
}

export function collect(child: ChildProcessWithoutNullStreams, input?: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    if (input !== undefined) child.stdin.end(input);
  });
}

export async function agentPsql(stack: Stack, client: IdpClientId, args: string[], opts: { input?: string; purpose?: string } = {}): Promise<Ran> {
  return collect(spawnPsql(stack, await agentToken(client), args, opts.purpose), opts.input ?? '');
}

export interface HttpAnswer { status: number; text: string }

export async function agentHttp(stack: Stack, client: IdpClientId, path: string, opts: { method?: string; purpose?: string } = {}): Promise<HttpAnswer> {
  const base = stack.agentEnv.CUSTOMERS_API_URL;
  if (base === undefined) throw new Error('the webhook did not give the agent CUSTOMERS_API_URL');
  const res = await fetch(`${base}${path}`, {
    method: opts.method ?? 'GET',
    headers: { authorization: `Bearer ${await agentToken(client)}`, 'x-guarita-purpose': opts.purpose ?? 'customer-support' },
  });
  return { status: res.status, text: await res.text() };
}
